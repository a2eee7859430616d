"""The operations the suites need, as data: which vendor method and parameters each one uses,
which of those the vendor docs name (and where), and which only a binding file can supply.

A parameter is *documented* when the vendor text shows its Python name (an example, a console
flag, "parameter names match the Python keyword names" of api.md section 8 for the id
arguments); otherwise it is *bound* and the binding file's ``[params.<operation>]`` table
must name it. An operation whose method the docs do not name at all (pause, cancel, token
login...) is *optional*: it exists only when ``[methods]`` names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from jetstream_qa.errors import ConfigurationError

__all__ = ["DOCUMENTED_METHODS", "OPERATIONS", "Operation", "operation", "operation_for"]

DOCUMENTED_METHODS: Final = frozenset({
    # api.md 3.2 (api.server)
    "auth", "authAsync", "getRequestStatus", "getRequestResult", "getServerInfo", "superuser",
    "getEventLog", "createAPIToken", "getAPIToken", "getAPITokens", "deleteAPIToken",
    "createSharedToken", "getSharedToken", "getSharedTokens", "setSandboxMapping",
    "getSandboxMappings", "updateBandwidthLimits", "updateGarbageCollectSettings",
    "garbageCollect", "updateObjectUserData", "deleteObjectUserData", "getConnection",
    # 3.3 (api.send)
    "createManifest", "getManifest", "getManifests", "waitForManifest", "getManifestFiles",
    "createDestination", "getDestination", "getDestinations", "deleteDestination",
    "createTransfer", "getTransfer", "getTransfers", "setSendRateAsync",
    # 3.4 (receive side)
    "getSourcesAsync", "getTransfersAsync",
})
"""Every method name api.md section 3 shows; the rest of a client's methods are candidates
for the operations the docs leave unnamed."""


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation of the suites' vocabulary.

    ``method`` is ``namespace.name`` as documented, or ``""`` when the docs name no method.
    ``positional`` are arguments passed by position (ids the docs show that way).
    ``documented`` maps our parameter name to the vendor's documented keyword;
    ``bound`` lists our parameter names whose vendor keyword only a binding file gives.
    """

    name: str
    method: str
    purpose: str
    source: str
    positional: tuple[str, ...] = ()
    documented: tuple[tuple[str, str], ...] = ()
    bound: tuple[str, ...] = ()
    secret: tuple[str, ...] = ()
    """Arguments that are credentials: never logged (the binding records the call itself)."""

    @property
    def namespace(self) -> str:
        return self.method.partition(".")[0] if self.method else ""

    @property
    def optional(self) -> bool:
        """True when the vendor docs name no method for it (a capability, not a given)."""
        return not self.method

    def keyword(self, param: str) -> str | None:
        """The documented vendor keyword of ``param``, or None."""
        return dict(self.documented).get(param)


_S1 = "api/structures/transfer.html (S1)"
_S12 = "api/asynchronous_commands.html (S12)"
_S13 = "api/python/examples.html (S13)"
_S40 = "client location console (S40: parameter names are the Python keywords)"
_UNKNOWN = "api.md 3.3: API method names were not seen (UNKNOWN)"

_OPS: Final = (
    Operation("get_server_info", "server.getServerInfo", "fingerprint the server",
              "api/structures/server-info.html (S4)"),
    Operation("auth", "server.auth", "log in with a password", _S13,
              positional=("user", "password"), secret=("password",)),
    Operation("superuser", "server.superuser", "raise the session to superuser",
              "security/superuser.html (S21)"),
    Operation("create_manifest", "send.createManifest", "build a manifest of {dest: src}", _S13,
              documented=(("mappings", "mappings"),), bound=("symlink",)),
    Operation("get_manifest", "send.getManifest", "read a manifest", _S40,
              positional=("manifest_id",)),
    Operation("wait_manifest", "send.waitForManifest",
              "block until a manifest is processed (else: poll getManifest)",
              f"api/structures/manifest.html (S2); {_S13}", positional=("manifest_id",),
              bound=("timeout",)),
    Operation("get_manifests", "send.getManifests", "list manifests", _S40),
    Operation("get_manifest_files", "send.getManifestFiles", "list a manifest's files",
              "api/structures/manifest-files.html (S7)", positional=("manifest_id",)),
    Operation("create_destination", "send.createDestination", "aim at a receiver",
              "console examples (S14: --destinationAddress, --sendRateMax)",
              documented=(("address", "destinationAddress"), ("send_rate_max", "sendRateMax")),
              bound=("port", "min_cipher", "public_key")),
    Operation("get_destination", "send.getDestination", "read a destination", _S40,
              positional=("destination_id",)),
    Operation("get_destinations", "send.getDestinations", "list destinations", _S40),
    Operation("delete_destination", "send.deleteDestination", "delete a destination",
              "using_jetstream/triggers.html (S27)", positional=("destination_id",)),
    Operation("create_transfer", "send.createTransfer", "start a transfer",
              f"{_S1}; where_do_transfers_go.html (S25); Helper.getTransferFlags (S15)",
              documented=(("destination_id", "destinationId"), ("manifest_id", "manifestId"),
                          ("destination_path", "destinationPath"), ("priority", "priority"),
                          ("flags", "transferFlags"),
                          ("checkpoint_s", "checkpointFrequencySeconds")),
              bound=("overwrite", "min_cipher", "send_rate_max")),
    Operation("get_transfer", "send.getTransfer", "read a transfer", _S40,
              positional=("transfer_id",)),
    Operation("get_transfers", "send.getTransfers", "list transfers", _S40),
    Operation("wait_transfer", "", "block until a transfer ends (else: poll getTransfer)",
              _UNKNOWN, positional=("transfer_id",), bound=("timeout",)),
    Operation("suspend_transfer", "", "suspend a transfer", _UNKNOWN,
              positional=("transfer_id",)),
    Operation("resume_transfer", "", "resume a suspended transfer", _UNKNOWN,
              positional=("transfer_id",)),
    Operation("cancel_transfer", "", "cancel a transfer", _UNKNOWN,
              positional=("transfer_id",)),
    Operation("set_send_rate", "send.setSendRateAsync", "change a transfer's rate", _S12,
              positional=("transfer_id",), bound=("rate",)),
    Operation("get_request_status", "server.getRequestStatus", "is a request still processing",
              _S12, positional=("request",)),
    Operation("get_request_result", "server.getRequestResult", "result of an async request",
              _S12, positional=("request",), bound=("timeout",)),
    Operation("receive_transfers", "receive.getTransfersAsync", "receiver's transfer records",
              "api/structures/recv.transfer.html (S5)"),
    Operation("token_login", "", "log in with an API token",
              "api.md 2: how a token logs in is UNKNOWN", positional=("token",),
              bound=("password",), secret=("token", "password")),
    Operation("create_api_token", "server.createAPIToken", "create an API token",
              "api/structures/token.html (S8)",
              bound=("description", "expiry_time", "password", "permissions", "path"),
              secret=("password",)),
    Operation("get_api_tokens", "server.getAPITokens", "list API tokens", "S8"),
    Operation("delete_api_token", "server.deleteAPIToken", "revoke an API token", "S8, S24",
              positional=("token",)),
    Operation("create_shared_token", "server.createSharedToken", "create a shared link",
              "S8, shared_links.html (S23)",
              bound=("manifest_id", "download_limit", "expiry_time", "description",
                     "password"), secret=("password",)),
    Operation("get_shared_tokens", "server.getSharedTokens", "list shared links", "S8"),
    Operation("get_sandbox_mappings", "server.getSandboxMappings", "list sandboxes",
              "sandboxing/index.html (S26: superuser only)"),
    Operation("update_bandwidth_limits", "server.updateBandwidthLimits",
              "set server-wide rate limits", "using_jetstream/bandwidth.html (S28)",
              bound=("incoming", "outgoing", "borrow_incoming", "borrow_outgoing")),
    Operation("get_event_log", "server.getEventLog", "read the event log",
              "api/structures/event-log.html (S9)", bound=("since", "limit")),
    Operation("update_user_data", "server.updateObjectUserData", "edit an object's userData",
              "api/structures/manifest.html (S2)",
              bound=("object_type", "object_id", "user_data")),
)

OPERATIONS: Final[dict[str, Operation]] = {op.name: op for op in _OPS}
"""Every operation of the suites' vocabulary, by name."""


def operation(name: str) -> Operation:
    """The operation called ``name``.

    Raises:
        KeyError: no such operation (a suite bug).
    """
    return OPERATIONS[name]


def operation_for(command: str) -> str:
    """The operation a user names by its vendor method or by its own name:
    ``getServerInfo`` (no namespace: ``server``), ``send.getTransfers``, ``get_transfers``.

    Raises:
        ConfigurationError: no operation of the catalogue is called that (the message
            lists the documented methods that are).
    """
    if command in OPERATIONS:
        return command
    method = command if "." in command else f"server.{command}"
    for op in _OPS:
        if op.method == method:
            return op.name
    known = ", ".join(sorted(op.method for op in _OPS if op.method))
    raise ConfigurationError(f"no operation of the binding is called {command!r}; "
                             f"known methods: {known}")
