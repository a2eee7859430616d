"""Handshake and versions: what a client learns on connect, and version checking.

Vendor pages: Server Information structure (``jetstream-api/2.9.2/api/structures/
server-info.html``, S4), ``jetstream.constants`` (S11), Python examples (S13), console
examples (S14). Every case goes through the documented Python API surface only.
"""

from __future__ import annotations

import socket

import pytest

from jetstream_qa import expect
from jetstream_qa.conformance_core.failures import Inconclusive
from jetstream_qa.errors import ApiVersionMismatch, ServerError, TransportError

S4 = "jetstream-api/2.9.2/api/structures/server-info.html"
S11 = "jetstream-api/2.9.2/api/python/jetstream.constants.html"
S13 = "jetstream-api/2.9.3/api/python/examples.html"
S14 = "jetstream-api/2.6.5/api/console/examples.html"


@pytest.mark.js_case("handshake/api-version/equals-expected", level="MUST", source=S4)
def test_api_version_equals_expected(js_connect, js_settings, js_ops, js_binding):
    """getServerInfo()['apiVersion'] equals the API version the suite targets (40 for 2.9.2).

    S4: apiVersion is "the API compatibility version for the connected server"; client API
    methods "report an error if the API versions do not match"; S11: API_VERSION = 40 in the
    2.9.2 package. A client refusing the server at the hello (before any login) is the same
    failure seen earlier.
    """
    requirement = "getServerInfo()['apiVersion'] is the targeted API version"
    try:
        api = js_connect("sender")
    except ApiVersionMismatch as exc:
        raise expect.fail(requirement, js_settings.api_version,
                          f"{exc.actual!r} (the client refused the server)") from exc
    except js_binding.refusal_classes:
        _refused_at_hello(js_connect, js_binding, requirement, js_settings.api_version)
        raise  # the hello passed: the login was refused (another case's requirement)
    info = js_ops(api).call("get_server_info")
    expect.equal(requirement, js_settings.api_version, info.get("apiVersion"), api=api)


def _refused_at_hello(js_connect, js_binding, requirement, version):
    """FAIL when the client refuses the server before any login (S4: the client reports
    an error when the API versions do not match); return when it connects."""
    try:
        js_connect("sender", login=None).disconnect()
    except js_binding.refusal_classes as exc:
        raise expect.fail(requirement, version, f"the {js_binding.kind} client refused the "
                          f"server at the hello: {type(exc).__name__}: {exc}"[:300]) from exc


@pytest.mark.js_case("handshake/server-info/identity-fields-typed", level="MUST",
                     source=f"{S4}; {S14}")
def test_identity_fields_typed(js_sender, js_ops):
    """getServerInfo() carries apiVersion (int), revision (int), serverId (non-empty string)
    and version (string).

    S4 lists apiVersion, revision ("integer server revision") and serverId ("per-instance
    id"); the console example S14 shows version as a string ("1.7.999").
    """
    info = js_ops(js_sender).call("get_server_info")
    expect.has_fields("Server Information identifies the server with typed fields", info,
                      {"apiVersion": int, "revision": int, "serverId": str, "version": str},
                      api=js_sender)
    expect.that("serverId is a non-empty string", bool(info["serverId"]),
                expected="non-empty serverId", actual=repr(info["serverId"]), api=js_sender)


@pytest.mark.js_case("handshake/server-info/control-fields-typed", level="MUST", source=S4)
def test_control_fields_typed(js_sender, js_target, js_info, js_ops):
    """getServerInfo() carries allowRemoteControl (bool), apiControlPort (int) and
    APITokensAvailable (bool).

    S4 (Server Information Structure, 2.9.2): allowRemoteControl "False = API only from
    localhost"; apiControlPort "TCP port for API connections"; APITokensAvailable "server
    supports API tokens" (present from 2.5.1, so in every API 40 server). Whether
    apiControlPort equals the port this run connected to is recorded only (a port forward or
    proxy may sit between).
    """
    info = js_ops(js_sender).call("get_server_info")
    expect.has_fields("Server Information carries the documented control fields", info,
                      {"allowRemoteControl": bool, "apiControlPort": int,
                       "APITokensAvailable": bool}, api=js_sender)
    port = js_target.sender.port
    if info["apiControlPort"] != port:
        js_info(f"apiControlPort {info['apiControlPort']} differs from the port this run "
                f"connected to ({port})")


@pytest.mark.js_case("handshake/server-info/server-uid-present", level="MAY/INFO",
                     source=f"{S4} (serverUid implied by Destination.lastDestinationServerUid)")
def test_server_uid_present(js_sender, js_info, js_ops):
    """Server Information carries a persistent serverUid (a string).

    The vendor pages only imply it (Destination ``lastDestinationServerUid``, S3); recorded
    as INFO, never failed.
    """
    info = js_ops(js_sender).call("get_server_info")
    uid = info.get("serverUid")
    js_info(f"serverUid: {type(uid).__name__} {uid!r}" if "serverUid" in info
            else "serverUid: absent")
    expect.has_fields("serverUid is a string", info, {"serverUid": str}, api=js_sender)


@pytest.mark.js_case("handshake/api-version/client-refuses-mismatch", level="MUST",
                     source=f"{S4}; {S11}")
def test_client_refuses_mismatch(js_sender, js_connect, js_client, js_not_applicable,
                                 js_ops):
    """A client speaking another API version refuses the server with an error naming both
    versions (ApiVersionMismatch), instead of talking on.

    S4: client API methods "report an error if the API versions do not match".
    """
    if not js_client.accepts("api_version"):
        js_not_applicable(f"the {js_client.kind} client cannot be configured with an "
                          "api_version")
    server_version = js_ops(js_sender).call("get_server_info")["apiVersion"]
    mismatched = server_version - 1
    error = expect.raises(ApiVersionMismatch,
                          lambda: js_connect("sender", login=None, api_version=mismatched),
                          requirement="connecting with another apiVersion is refused")
    expect.equal("the mismatch error names the client's version", mismatched,
                 error.expected)
    expect.equal("the mismatch error names the server's version", server_version,
                 error.actual)


@pytest.mark.js_case("handshake/connection/context-manager", level="MUST", source=S13)
def test_context_manager(js_connect, js_ops):
    """``with api:`` connects on entry and disconnects on exit.

    S13: "The api object also works as a context manager: with api: connects on entry and
    disconnects on exit."
    """
    api = js_connect("sender", login=None)
    api.disconnect()
    with api as inside:
        info = js_ops(inside).call("get_server_info")
        expect.that("inside 'with api:' calls work", isinstance(info, dict),
                    expected="a Server Information dict", actual=repr(info)[:100], api=api)
    try:
        after = js_ops(api).call("get_server_info")
    except Exception:
        return
    raise expect.fail("leaving 'with api:' disconnects", "an error: not connected",
                      f"call succeeded: {after!r}"[:200], api=api)


@pytest.mark.js_case("handshake/hello/answered-within-connect-timeout", level="MUST",
                     source=S11)
def test_hello_answered(js_target, js_connect, js_settings, js_binding):
    """A server that accepts the TCP connection completes the API handshake within the
    connect timeout: a valid hello, in time, on a connection it keeps open.

    S11: DEFAULT_TIMEOUT_SECONDS = 10, "connection attempts will timeout and fail if
    unresponsive for 10 seconds": a responsive server answers well within it. Silence,
    garbage, a closed connection or an error instead of the hello all break it (an apiVersion
    other than the expected one is judged by handshake/api-version/equals-expected).
    """
    address = js_target.sender
    try:
        with socket.create_connection((address.host, address.port),
                                      timeout=js_settings.timeout):
            pass  # TCP reachable: a failure below is the server's fault, not the network's
    except OSError as exc:
        raise Inconclusive(f"{address} unreachable over TCP: {exc}") from exc
    try:
        js_connect("sender", login=None, address=address)
    except ApiVersionMismatch:
        return  # the hello came, in time; its version is another case's requirement
    except (TransportError, ServerError, OSError, *js_binding.refusal_classes) as exc:
        raise expect.fail("the server answers the handshake within the connect timeout",
                          f"a valid hello within {js_settings.timeout:g} s",
                          f"TCP accepted, then {type(exc).__name__}: {exc}"[:300]) from exc


def _server_info_across_restart(js_own_server, js_connect, js_ops) -> tuple[dict, dict]:
    """Server Information of a server the suite owns, before and after restarting it."""
    own = js_own_server()
    before = js_ops(js_connect(address=own.address, credentials=own.user)).call(
        "get_server_info")
    address = own.restart()
    after = js_ops(js_connect(address=address, credentials=own.user)).call(
        "get_server_info")
    return before, after


@pytest.mark.js_case("handshake/server-id/changes-across-restart", level="MUST", source=S4)
def test_server_id_changes_across_restart(js_own_server, js_connect, js_ops):
    """serverId is new on every launch of the server.

    S4: serverId is a "per-instance id; new on every launch". Needs a server the suite can
    restart (NOT_APPLICABLE when a target is given).
    """
    before, after = _server_info_across_restart(js_own_server, js_connect, js_ops)
    expect.that("serverId changes when the server restarts",
                before.get("serverId") != after.get("serverId"),
                expected=f"a serverId other than {before.get('serverId')!r}",
                actual=repr(after.get("serverId")))


@pytest.mark.js_case("handshake/server-uid/persists-across-restart", level="MAY/INFO",
                     source=f"{S4}; jetstream-api/2.9.2/api/structures/destination.html")
def test_server_uid_persists(js_own_server, js_connect, js_info, js_ops):
    """serverUid stays the same across restarts (the persistent counterpart of serverId).

    Only implied by the Destination structure's ``lastDestinationServerUid`` ("persistent id
    of that server"); recorded as INFO.
    """
    before, after = _server_info_across_restart(js_own_server, js_connect, js_ops)
    same = before.get("serverUid") == after.get("serverUid") is not None
    js_info(f"serverUid {'kept' if same else 'changed'} across restart")
    expect.that("serverUid persists across restarts", same,
                expected=repr(before.get("serverUid")), actual=repr(after.get("serverUid")))


@pytest.mark.js_case("handshake/server-info/available-before-auth", level="MAY/INFO",
                     source=S14)
def test_server_info_before_auth(js_connect, js_info, js_ops):
    """getServerInfo() answers before authentication (the console example runs it without
    --user; the docs do not say). Recorded as INFO."""
    api = js_connect("sender", login=None)
    info = js_ops(api).call("get_server_info")
    js_info(f"getServerInfo before auth: answered; authRequired={info.get('authRequired')!r}")
