"""Authentication, ownership, superuser and API tokens.

Vendor pages: Python examples (S13: auth returns None, raises on failure), Server Information
(S4: authRequired, configuration only for superusers), superuser (S21), Manifest /
Destination / Transfer structures (S2, S3, S1: "only the owner or a superuser may monitor or
change it"), API tokens (S24, S8: time-limited credentials acting as their creator, narrowed).
How a token logs in is not documented: token cases need the binding's ``token_login``.
Every call goes through the binding (``js_ops``); a refusal is judged by the documented
outcome (the call raises), the kind of refusal (ours) is INFO when it differs.
"""

from __future__ import annotations

import time

import pytest

from jetstream_qa import expect
from jetstream_qa.conformance_core.ops_steps import (
    complete_manifest,
    destination_to_receiver,
    hidden_from_other_user,
    must_refuse,
    start_transfer,
)

S1 = "jetstream-api/2.9.2/api/structures/transfer.html"
S2 = "jetstream-api/2.9.2/api/structures/manifest.html"
S3 = "jetstream-api/2.9.2/api/structures/destination.html"
S4 = "jetstream-api/2.9.2/api/structures/server-info.html"
S8 = "jetstream-api/2.9.2/api/structures/token.html"
S13 = "jetstream-api/2.9.3/api/python/examples.html"
S21 = "jetstream-server/2.3.1/security/superuser.html"
S24 = "jetstream-server/2.9.2/using_jetstream/api_tokens.html"
HIDDEN = ("NotFound", "PermissionDenied")
"""Another user's object may be reported missing (no id leak) or forbidden."""
AUTH = ("AuthenticationFailed",)
REFUSED_UNAUTHENTICATED = ("AuthenticationFailed", "PermissionDenied")


def _require_auth(api, js_not_applicable):
    if api.server.getServerInfo().get("authRequired") is False:
        js_not_applicable("the server reports authRequired False")


@pytest.mark.js_case("auth/password/wrong-password-refused", level="MUST", source=S13)
def test_wrong_password(js_connect, js_target, js_not_applicable, js_ops, js_info):
    """auth(user, password) with a wrong password raises instead of returning None.

    S13: auth "returns None on success and raises an exception on failure".
    """
    api = js_connect("sender", login=None)
    _require_auth(api, js_not_applicable)
    ops = js_ops(api)
    must_refuse(ops, lambda: ops.call("auth", js_target.user.user, "not-the-password-" * 2),
                requirement="a wrong password is refused", kinds=AUTH, js_info=js_info)


@pytest.mark.js_case("auth/password/unknown-user-refused", level="MUST", source=S13)
def test_unknown_user(js_connect, js_not_applicable, js_ops, js_info):
    """auth() for a user the server does not know raises (S13: "raises an exception on
    failure")."""
    api = js_connect("sender", login=None)
    _require_auth(api, js_not_applicable)
    ops = js_ops(api)
    must_refuse(ops, lambda: ops.call("auth", "jsqa-no-such-user", "whatever-password"),
                requirement="an unknown user is refused", kinds=AUTH, js_info=js_info)


@pytest.mark.js_case("auth/session/unauthenticated-calls-refused", level="MUST", source=S4)
def test_unauthenticated_refused(js_connect, js_not_applicable, js_ops, js_info):
    """With authRequired True, calls other than auth and getServerInfo are refused until
    auth() succeeds.

    S4: "If authRequired is True, auth()/authAsync() must follow connect()".
    """
    api = js_connect("sender", login=None)
    _require_auth(api, js_not_applicable)
    ops = js_ops(api)
    must_refuse(ops, lambda: ops.call("get_manifests"), kinds=REFUSED_UNAUTHENTICATED,
                requirement="send.getManifests() without auth is refused", js_info=js_info)
    must_refuse(ops, lambda: ops.call("get_transfers"), kinds=REFUSED_UNAUTHENTICATED,
                requirement="send.getTransfers() without auth is refused", js_info=js_info)


@pytest.mark.js_case("auth/secrets/password-never-returned", level="MUST", source=f"{S4}; {S13}")
def test_password_never_returned(js_sender, js_target):
    """No structure the server returns to a logged-in session contains its password.

    S13: credentials go to auth(); S4 lists the Server Information fields, none of them a
    credential. A password echoed back would leak into every log and report.
    """
    password = js_target.user.password.reveal() if js_target.user.password else ""
    seen = repr((js_sender.server.getServerInfo(), js_sender.send.getManifests(),
                 js_sender.send.getDestinations()))
    expect.that("the session's password never comes back", not password or password not in seen,
                expected="password absent from getServerInfo/getManifests/getDestinations",
                actual="password present in an answer", api=js_sender)


def _manifest_of(ops, js_fileset, settings):
    files = js_fileset("single")
    return complete_manifest(ops, files.file_mappings("/jsqa-owner"), timeout=settings.timeout)


@pytest.mark.js_case("auth/ownership/manifests-hidden-from-other-users", level="MUST",
                     source=S2)
def test_manifest_hidden(js_sender, js_sender_user2, js_fileset, js_settings, js_ops, js_info):
    """User B can neither get nor list user A's manifest.

    S2: "Only the owner or a superuser may monitor or change it."
    """
    manifest_id = _manifest_of(js_ops(js_sender), js_fileset, js_settings)["manifestId"]
    hidden_from_other_user(js_ops(js_sender_user2), "manifest", manifest_id, kinds=HIDDEN,
                           js_info=js_info, api=[js_sender, js_sender_user2])


@pytest.mark.js_case("auth/ownership/manifests-untouchable-by-other-users", level="MUST",
                     source=S2)
def test_manifest_untouchable(js_sender, js_sender_user2, js_fileset, js_settings, js_ops,
                              js_info):
    """User B cannot change user A's manifest (its userData).

    S2: "Only the owner or a superuser may monitor or change it"; userData changes through
    updateObjectUserData().
    """
    manifest_id = _manifest_of(js_ops(js_sender), js_fileset, js_settings)["manifestId"]
    other = js_ops(js_sender_user2)
    must_refuse(other, lambda: other.update_user_data("manifest", manifest_id,
                                                      {"by": "intruder"}),
                requirement="another user cannot change the manifest's userData",
                kinds=HIDDEN, js_info=js_info, api=[js_sender, js_sender_user2])
    after = js_sender.send.getManifest(manifest_id)
    expect.that("the owner's manifest is unchanged",
                "by" not in (after.get("userData") or {}), expected="userData without 'by'",
                actual=repr(after.get("userData")), api=js_sender)


@pytest.mark.js_case("auth/ownership/destinations-hidden-from-other-users", level="MUST",
                     source=S3)
def test_destination_hidden(js_sender, js_sender_user2, js_target, js_ops, js_info):
    """User B can neither get, list nor delete user A's destination.

    S3: "Only the owner or a superuser can see the destination."
    """
    destination_id = destination_to_receiver(js_ops(js_sender), js_target)["destinationId"]
    apis = [js_sender, js_sender_user2]
    other = js_ops(js_sender_user2)
    hidden_from_other_user(other, "destination", destination_id, kinds=HIDDEN, js_info=js_info,
                           api=apis)
    must_refuse(other, lambda: other.call("delete_destination", destination_id), kinds=HIDDEN,
                requirement="another user cannot delete the destination", js_info=js_info,
                api=apis)
    js_sender.send.getDestination(destination_id)


@pytest.mark.js_case("auth/ownership/transfers-hidden-from-other-users", level="MUST",
                     source=S1)
def test_transfer_hidden(js_sender, js_sender_user2, js_target, js_fileset, js_scratch,
                         js_settings, js_ops, js_info):
    """User B can neither get nor list user A's transfer.

    S1: "only the owner or a superuser may monitor or change the transfer"; S46: a normal
    user sees only their own transfers.
    """
    files = js_fileset("single")
    transfer = start_transfer(js_ops(js_sender), js_target, files.file_mappings("/owner"),
                              destination_path=js_scratch.dest_path,
                              timeout=js_settings.timeout)
    hidden_from_other_user(js_ops(js_sender_user2), "transfer", transfer["transferId"],
                           kinds=HIDDEN, js_info=js_info, api=[js_sender, js_sender_user2])


@pytest.mark.js_case("auth/superuser/ordinary-user-refused", level="MUST", source=S21)
def test_superuser_refused(js_sender, js_ops, js_info):
    """superuser() raises for a user who is not a superuser (the session stays ordinary).

    S21: superusers are the users named by --superuser/--supergroup or the server's account.
    """
    ops = js_ops(js_sender)
    must_refuse(ops, lambda: ops.call("superuser"), kinds=("PermissionDenied",),
                requirement="an ordinary user cannot elevate", js_info=js_info)
    info = js_sender.server.getServerInfo()
    expect.that("an ordinary session sees no 'configuration'", "configuration" not in info,
                expected="no configuration key", actual="configuration present", api=js_sender)


@pytest.mark.js_case("auth/superuser/configuration-only-after-elevation", level="MUST",
                     source=f"{S4}; {S21}")
def test_superuser_configuration(js_connect):
    """A superuser sees the 'configuration' block of getServerInfo() only after calling
    superuser(), and it holds the garbageCollect settings.

    S21: "Even a superuser must call superuser() after connecting"; S4: configuration is
    "only present for superusers" and holds garbageCollect (S22).
    """
    api = js_connect("sender", login="superuser")
    before = api.server.getServerInfo()
    expect.that("before superuser() there is no configuration", "configuration" not in before,
                expected="no configuration key", actual="configuration present", api=api)
    api.server.superuser()
    config = api.server.getServerInfo().get("configuration")
    expect.has_fields("after superuser() configuration holds garbageCollect",
                      {"configuration": config}, {"configuration": dict}, api=api)
    expect.has_fields("configuration.garbageCollect is an object", config,
                      {"garbageCollect": dict}, api=api)


@pytest.mark.js_case("auth/superuser/sees-other-users-objects", level="MUST",
                     source=f"{S2}; {S21}")
def test_superuser_sees_all(js_sender, js_superuser, js_fileset, js_settings, js_ops):
    """An elevated superuser can get another user's manifest.

    S2: "Only the owner or a superuser may monitor or change it"; S21: superusers see every
    user's transfers.
    """
    manifest_id = _manifest_of(js_ops(js_sender), js_fileset, js_settings)["manifestId"]
    seen = js_superuser.send.getManifest(manifest_id)
    expect.equal("the superuser sees the user's manifest", manifest_id,
                 seen.get("manifestId"), api=js_superuser)


S26 = "jetstream-server/2.9.2/sandboxing/index.html"
S28 = "jetstream-server/2.7.1/using_jetstream/bandwidth.html"


@pytest.mark.js_case("auth/superuser/sandbox-mappings-superuser-only", level="MUST",
                     source=f"{S26}; {S21}")
def test_sandbox_mappings_superuser_only(js_sender, js_superuser, js_ops, js_info):
    """getSandboxMappings() is refused to an ordinary user and answered to an elevated
    superuser.

    S26: sandboxes are listed with getSandboxMappings(), "superuser only".
    """
    ops = js_ops(js_sender)
    must_refuse(ops, lambda: ops.call("get_sandbox_mappings"), kinds=("PermissionDenied",),
                requirement="an ordinary user cannot list sandbox mappings", js_info=js_info)
    mappings = js_ops(js_superuser).call("get_sandbox_mappings")
    expect.that("an elevated superuser gets the sandbox mappings", isinstance(mappings, dict),
                expected="a mapping of users to sandboxes", actual=repr(mappings)[:200],
                api=js_superuser)


@pytest.mark.js_case("auth/superuser/bandwidth-limits-superuser-only", level="MUST",
                     source=f"{S28}; {S21}")
def test_bandwidth_limits_superuser_only(js_sender, js_ops, js_info):
    """updateBandwidthLimits() is refused to an ordinary user.

    S28: the server-wide incoming/outgoing limits are set with updateBandwidthLimits(),
    superuser only (api.md 3.2). Called without parameters, so it changes nothing even if
    it were (wrongly) obeyed.
    """
    ops = js_ops(js_sender)
    must_refuse(ops, lambda: ops.call("update_bandwidth_limits"), kinds=("PermissionDenied",),
                requirement="an ordinary user cannot change the bandwidth limits",
                js_info=js_info)


def _token_api(js_sender, js_not_applicable, js_ops, *, login: bool = True):
    """The sender's operations, once the server offers tokens (and the binding can log in
    with one: how is not documented, so ``token_login`` must be bound)."""
    info = js_sender.server.getServerInfo()
    if info.get("APITokensAvailable") is False:
        js_not_applicable("the server reports APITokensAvailable False")
    ops = js_ops(js_sender)
    if login:
        ops.binding.resolve(ops.api, "token_login")  # BindingMissing -> NOT_APPLICABLE
    return ops


@pytest.mark.js_case("auth/tokens/structure-never-returns-password", level="MUST",
                     source=f"{S8}; {S24}")
def test_token_structure(js_sender, js_not_applicable, js_ops):
    """createAPIToken returns a Token structure (token, creationTime, expiryTime, owner,
    permissions, passwordRequired) and never the token's password.

    S8 lists the Token fields; S24: tokens are credentials (a secret never comes back).
    """
    ops = _token_api(js_sender, js_not_applicable, js_ops, login=False)
    secret = "jsqa-token-secret-" + str(time.monotonic_ns())
    token = ops.create_api_token(description="jsqa", password=secret)
    expect.has_fields("the Token structure has its documented fields", token,
                      {"token": str, "creationTime": int, "expiryTime": (int, type(None)),
                       "owner": str, "permissions": int, "passwordRequired": bool},
                      api=js_sender)
    expect.equal("a token with a password says passwordRequired", True,
                 token["passwordRequired"], api=js_sender)
    listed = ops.call("get_api_tokens")
    expect.that("the token's password never comes back", secret not in repr((token, listed)),
                expected="password absent from Token structures", actual="password present",
                api=js_sender)


@pytest.mark.js_case("auth/tokens/revoked-token-refused", level="MUST", source=S24)
def test_token_revoked(js_sender, js_connect, js_not_applicable, js_ops, js_info):
    """A token logs in while it exists and is refused once deleteAPIToken revoked it.

    S24: tokens are credentials that act as their creator; deleting one revokes it.
    """
    ops = _token_api(js_sender, js_not_applicable, js_ops)
    token = ops.create_api_token(description="jsqa-revoke")["token"]
    first = js_ops(js_connect("sender", login=None))
    first.token_login(token)
    first.call("get_manifests")
    ops.call("delete_api_token", token)
    second = js_ops(js_connect("sender", login=None))
    must_refuse(second, lambda: second.token_login(token), kinds=AUTH, js_info=js_info,
                requirement="a deleted token no longer logs in", api=[js_sender, second.api])


@pytest.mark.js_case("auth/tokens/expired-token-refused", level="SHOULD", source=S24)
def test_token_expired(js_sender, js_connect, js_not_applicable, js_ops):
    """A token is refused once its expiryTime has passed (SHOULD, within seconds).

    S24: API tokens are "time-limited credentials"; S8: expiryTime (µs), None = never. The
    only bound the vendor states is that expired tokens are "purged within two hours" (S23,
    S24), which no run can wait out; a token still accepted 5 s after its expiryTime is
    therefore a broken SHOULD (NON_STRICT; FAIL under --js-strict), not a broken MUST.
    """
    ops = _token_api(js_sender, js_not_applicable, js_ops)
    expiry = time.time_ns() // 1000 + 1_000_000
    token = ops.create_api_token(description="jsqa-expiry", expiry_time=expiry)
    expect.equal("the token keeps the expiryTime it was given", expiry,
                 token.get("expiryTime"), api=js_sender)

    def refused() -> bool:
        session = js_ops(js_connect("sender", login=None))
        try:
            return session.refused(lambda: session.token_login(token["token"])).refused
        finally:
            session.api.disconnect()

    expect.eventually("an expired token no longer logs in", refused, bool,
                      expected="refused after expiryTime", timeout=5.0,
                      api=js_sender, describe=lambda _: "token still accepted")


@pytest.mark.js_case("auth/tokens/permissions-narrow-the-session", level="MUST",
                     source=f"{S24}; {S8}")
def test_token_permissions(js_sender, js_connect, js_fileset, js_not_applicable, js_ops,
                           js_info):
    """A token without the right to send files cannot create a manifest; the token acts as
    its creator narrowed to its permissions.

    S24: a token acts as the user who created it, "with permissions ... that can be
    narrowed". PERMISSIONS members are not documented; the binding maps our names (UPLOAD,
    DOWNLOAD = files leaving this server) onto the client's constants.
    """
    ops = _token_api(js_sender, js_not_applicable, js_ops)
    token = ops.create_api_token(description="jsqa-narrow", permissions=("UPLOAD",))["token"]
    narrowed = js_ops(js_connect("sender", login=None))
    narrowed.token_login(token)
    files = js_fileset("single")
    must_refuse(narrowed, lambda: narrowed.create_manifest(files.file_mappings("/narrow")),
                requirement="a token without DOWNLOAD cannot create a manifest",
                kinds=("PermissionDenied",), js_info=js_info, api=[js_sender, narrowed.api])
