"""Authentication, ownership, superuser and API tokens.

Vendor pages: Python examples (S13: auth returns None, raises on failure), Server Information
(S4: authRequired, configuration only for superusers), superuser (S21), Manifest /
Destination / Transfer structures (S2, S3, S1: "only the owner or a superuser may monitor or
change it"), API tokens (S24, S8: time-limited credentials acting as their creator, narrowed).
How a token logs in is not documented; ``authToken`` is ours, so token cases need a client
that has it.
"""

from __future__ import annotations

import time

import pytest

from jetstream_qa import expect
from jetstream_qa.conformance_core import steps
from jetstream_qa.errors import AuthenticationFailed, NotFound, PermissionDenied

S1 = "jetstream-api/2.9.2/api/structures/transfer.html"
S2 = "jetstream-api/2.9.2/api/structures/manifest.html"
S3 = "jetstream-api/2.9.2/api/structures/destination.html"
S4 = "jetstream-api/2.9.2/api/structures/server-info.html"
S8 = "jetstream-api/2.9.2/api/structures/token.html"
S13 = "jetstream-api/2.9.3/api/python/examples.html"
S21 = "jetstream-server/2.3.1/security/superuser.html"
S24 = "jetstream-server/2.9.2/using_jetstream/api_tokens.html"
HIDDEN = (NotFound, PermissionDenied)
"""Another user's object may be reported missing (no id leak) or forbidden."""


def _require_auth(api, js_not_applicable):
    if api.server.getServerInfo().get("authRequired") is False:
        js_not_applicable("the server reports authRequired False")


@pytest.mark.js_case("auth/password/wrong-password-refused", level="MUST", source=S13)
def test_wrong_password(js_connect, js_target, js_not_applicable):
    """auth(user, password) with a wrong password raises instead of returning None.

    S13: auth "returns None on success and raises an exception on failure".
    """
    api = js_connect("sender", login=None)
    _require_auth(api, js_not_applicable)
    expect.raises(AuthenticationFailed,
                  lambda: api.server.auth(js_target.user.user, "not-the-password-" * 2),
                  requirement="a wrong password is refused", api=api)


@pytest.mark.js_case("auth/password/unknown-user-refused", level="MUST", source=S13)
def test_unknown_user(js_connect, js_not_applicable):
    """auth() for a user the server does not know raises AuthenticationFailed."""
    api = js_connect("sender", login=None)
    _require_auth(api, js_not_applicable)
    expect.raises(AuthenticationFailed,
                  lambda: api.server.auth("jsqa-no-such-user", "whatever-password"),
                  requirement="an unknown user is refused", api=api)


@pytest.mark.js_case("auth/session/unauthenticated-calls-refused", level="MUST", source=S4)
def test_unauthenticated_refused(js_connect, js_not_applicable):
    """With authRequired True, calls other than auth and getServerInfo are refused until
    auth() succeeds.

    S4: "If authRequired is True, auth()/authAsync() must follow connect()".
    """
    api = js_connect("sender", login=None)
    _require_auth(api, js_not_applicable)
    expect.raises((AuthenticationFailed, PermissionDenied), api.send.getManifests,
                  requirement="send.getManifests() without auth is refused", api=api)
    expect.raises((AuthenticationFailed, PermissionDenied), api.send.getTransfers,
                  requirement="send.getTransfers() without auth is refused", api=api)


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


def _manifest_of(api, js_fileset, settings):
    files = js_fileset("single")
    return steps.complete_manifest(api, files.file_mappings("/jsqa-owner"),
                                   timeout=settings.timeout)


@pytest.mark.js_case("auth/ownership/manifests-hidden-from-other-users", level="MUST",
                     source=S2)
def test_manifest_hidden(js_sender, js_sender_user2, js_fileset, js_settings):
    """User B can neither get nor list user A's manifest.

    S2: "Only the owner or a superuser may monitor or change it."
    """
    manifest = _manifest_of(js_sender, js_fileset, js_settings)
    manifest_id = manifest["manifestId"]
    apis = [js_sender, js_sender_user2]
    expect.raises(HIDDEN, lambda: js_sender_user2.send.getManifest(manifest_id),
                  requirement="another user cannot get the manifest", api=apis)
    listed = [m.get("manifestId") for m in js_sender_user2.send.getManifests()]
    expect.that("another user's getManifests() does not list the manifest",
                manifest_id not in listed, expected=f"{manifest_id} absent",
                actual=f"listed among {len(listed)}", api=apis)


@pytest.mark.js_case("auth/ownership/manifests-untouchable-by-other-users", level="MUST",
                     source=S2)
def test_manifest_untouchable(js_sender, js_sender_user2, js_fileset, js_settings):
    """User B cannot change user A's manifest (its userData).

    S2: "Only the owner or a superuser may monitor or change it"; userData changes through
    updateObjectUserData().
    """
    manifest_id = _manifest_of(js_sender, js_fileset, js_settings)["manifestId"]
    expect.raises(HIDDEN, lambda: js_sender_user2.server.updateObjectUserData(
        objectType="manifest", objectId=manifest_id, userData={"by": "intruder"}),
        requirement="another user cannot change the manifest's userData",
        api=[js_sender, js_sender_user2])
    after = js_sender.send.getManifest(manifest_id)
    expect.that("the owner's manifest is unchanged",
                "by" not in (after.get("userData") or {}), expected="userData without 'by'",
                actual=repr(after.get("userData")), api=js_sender)


@pytest.mark.js_case("auth/ownership/destinations-hidden-from-other-users", level="MUST",
                     source=S3)
def test_destination_hidden(js_sender, js_sender_user2, js_target):
    """User B can neither get, list nor delete user A's destination.

    S3: "Only the owner or a superuser can see the destination."
    """
    destination_id = steps.destination_to_receiver(js_sender, js_target)["destinationId"]
    apis = [js_sender, js_sender_user2]
    expect.raises(HIDDEN, lambda: js_sender_user2.send.getDestination(destination_id),
                  requirement="another user cannot get the destination", api=apis)
    listed = [d.get("destinationId") for d in js_sender_user2.send.getDestinations()]
    expect.that("another user's getDestinations() does not list it",
                destination_id not in listed, expected=f"{destination_id} absent",
                actual="listed", api=apis)
    expect.raises(HIDDEN, lambda: js_sender_user2.send.deleteDestination(destination_id),
                  requirement="another user cannot delete the destination", api=apis)
    js_sender.send.getDestination(destination_id)


@pytest.mark.js_case("auth/ownership/transfers-hidden-from-other-users", level="MUST",
                     source=S1)
def test_transfer_hidden(js_sender, js_sender_user2, js_target, js_fileset, js_scratch,
                         js_settings):
    """User B can neither get nor list user A's transfer.

    S1: "only the owner or a superuser may monitor or change the transfer"; S46: a normal
    user sees only their own transfers.
    """
    files = js_fileset("single")
    transfer = steps.start_transfer(js_sender, js_target, files.file_mappings("/owner"),
                                    destination_path=js_scratch.dest_path,
                                    timeout=js_settings.timeout)
    transfer_id = transfer["transferId"]
    apis = [js_sender, js_sender_user2]
    expect.raises(HIDDEN, lambda: js_sender_user2.send.getTransfer(transfer_id),
                  requirement="another user cannot get the transfer", api=apis)
    listed = [t.get("transferId") for t in js_sender_user2.send.getTransfers()]
    expect.that("another user's getTransfers() does not list it", transfer_id not in listed,
                expected=f"{transfer_id} absent", actual="listed", api=apis)


@pytest.mark.js_case("auth/superuser/ordinary-user-refused", level="MUST", source=S21)
def test_superuser_refused(js_sender):
    """superuser() raises for a user who is not a superuser (the session stays ordinary).

    S21: superusers are the users named by --superuser/--supergroup or the server's account.
    """
    expect.raises(PermissionDenied, js_sender.server.superuser,
                  requirement="an ordinary user cannot elevate", api=js_sender)
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
def test_superuser_sees_all(js_sender, js_superuser, js_fileset, js_settings):
    """An elevated superuser can get another user's manifest.

    S2: "Only the owner or a superuser may monitor or change it"; S21: superusers see every
    user's transfers.
    """
    manifest_id = _manifest_of(js_sender, js_fileset, js_settings)["manifestId"]
    seen = js_superuser.send.getManifest(manifest_id)
    expect.equal("the superuser sees the user's manifest", manifest_id,
                 seen.get("manifestId"), api=js_superuser)


def _token_api(js_sender, js_not_applicable):
    info = js_sender.server.getServerInfo()
    if info.get("APITokensAvailable") is False:
        js_not_applicable("the server reports APITokensAvailable False")
    if not callable(getattr(js_sender.server, "authToken", None)):
        js_not_applicable("the client has no authToken (token login is not documented)")


@pytest.mark.js_case("auth/tokens/structure-never-returns-password", level="MUST",
                     source=f"{S8}; {S24}")
def test_token_structure(js_sender, js_not_applicable):
    """createAPIToken returns a Token structure (token, creationTime, expiryTime, owner,
    permissions, passwordRequired) and never the token's password.

    S8 lists the Token fields; S24: tokens are credentials (a secret never comes back).
    """
    _token_api(js_sender, js_not_applicable)
    secret = "jsqa-token-secret-" + str(time.monotonic_ns())
    token = js_sender.server.createAPIToken(description="jsqa", password=secret)
    expect.has_fields("the Token structure has its documented fields", token,
                      {"token": str, "creationTime": int, "expiryTime": (int, type(None)),
                       "owner": str, "permissions": int, "passwordRequired": bool},
                      api=js_sender)
    expect.equal("a token with a password says passwordRequired", True,
                 token["passwordRequired"], api=js_sender)
    listed = js_sender.server.getAPITokens()
    expect.that("the token's password never comes back", secret not in repr((token, listed)),
                expected="password absent from Token structures", actual="password present",
                api=js_sender)


@pytest.mark.js_case("auth/tokens/revoked-token-refused", level="MUST", source=S24)
def test_token_revoked(js_sender, js_connect, js_not_applicable):
    """A token logs in while it exists and is refused once deleteAPIToken revoked it.

    S24: tokens are credentials that act as their creator; deleting one revokes it.
    """
    _token_api(js_sender, js_not_applicable)
    token = js_sender.server.createAPIToken(description="jsqa-revoke")["token"]
    first = js_connect("sender", login=None)
    first.server.authToken(token)
    first.send.getManifests()
    js_sender.server.deleteAPIToken(token)
    second = js_connect("sender", login=None)
    expect.raises(AuthenticationFailed, lambda: second.server.authToken(token),
                  requirement="a deleted token no longer logs in", api=[js_sender, second])


@pytest.mark.js_case("auth/tokens/expired-token-refused", level="MUST", source=S24)
def test_token_expired(js_sender, js_connect, js_not_applicable):
    """A token is refused once its expiryTime has passed.

    S24: API tokens are "time-limited credentials"; S8: expiryTime (µs), None = never.
    """
    _token_api(js_sender, js_not_applicable)
    expiry = time.time_ns() // 1000 + 1_000_000
    token = js_sender.server.createAPIToken(description="jsqa-expiry", expiryTime=expiry)
    expect.equal("the token keeps the expiryTime it was given", expiry,
                 token.get("expiryTime"), api=js_sender)

    def refused() -> bool:
        api = js_connect("sender", login=None)
        try:
            api.server.authToken(token["token"])
        except AuthenticationFailed:
            return True
        finally:
            api.disconnect()
        return False

    expect.eventually("an expired token no longer logs in", refused, bool,
                      expected="AuthenticationFailed after expiryTime", timeout=5.0,
                      api=js_sender, describe=lambda _: "token still accepted")


@pytest.mark.js_case("auth/tokens/permissions-narrow-the-session", level="MUST",
                     source=f"{S24}; {S8}")
def test_token_permissions(js_sender, js_connect, js_constants, js_fileset, js_not_applicable):
    """A token without the right to send files cannot create a manifest; the token acts as
    its creator narrowed to its permissions.

    S24: a token acts as the user who created it, "with permissions ... that can be
    narrowed". PERMISSIONS members are not documented; their values come from the client's
    constants (ours stand in: DOWNLOAD = files leaving this server).
    """
    _token_api(js_sender, js_not_applicable)
    upload_only = js_constants.permission("UPLOAD")
    token = js_sender.server.createAPIToken(description="jsqa-narrow",
                                            permissions=upload_only)["token"]
    api = js_connect("sender", login=None)
    api.server.authToken(token)
    files = js_fileset("single")
    expect.raises(PermissionDenied,
                  lambda: api.send.createManifest(mappings=files.file_mappings("/narrow")),
                  requirement="a token without DOWNLOAD cannot create a manifest",
                  api=[js_sender, api])
