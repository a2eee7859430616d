"""The binding file: what introspection cannot discover about a client, as user-edited TOML.

Format (``docs/staging.md`` explains it to QA engineers; ``jetstream-qa vendor-probe`` writes
a starter)::

    [client]
    receive_namespace = "receive"          # attribute of the api object with getTransfersAsync

    [methods]                              # operation = "namespace.method"
    cancel_transfer = "send.abortTransfer"

    [params.create_transfer]               # our parameter = the client's keyword
    overwrite = "overwritePolicy"

    [constants]                            # values the vendor page does not print
    symlink_follow = "LINKS_FOLLOW"        # attribute path in jetstream.constants
    [constants.permissions]
    DOWNLOAD = "PERMISSIONS.downloads"     # attribute or dict key, dotted

    [statuses]                             # our status name = the client's spelling
    running = "transferring"

    [errors]
    classes = ["jetstream.errors.JetStreamError"]   # what a refusal raises
    code_attribute = "errorCode"
    message_attribute = "errorMessage"
    result_key = ""                        # a returned dict with this key set = refused
    [errors.codes]                         # the client's code = our error class name
    ERR_AUTH = "AuthenticationFailed"

The bundled client's binding is :data:`BUNDLED`, the same structure written in code.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from jetstream_qa.binding._catalogue import OPERATIONS
from jetstream_qa.errors import ConfigurationError

__all__ = ["BUNDLED", "EMPTY", "STATUS_NAMES", "BindingFile", "load_binding_file"]

STATUS_NAMES: Final = ("running", "suspended", "cancelled")
"""Transfer statuses the vendor does not spell (S1 shows only 'pending'; S44's GUI filters
In-Progress / Suspended / Cancelled); 'pending', 'complete' and 'error' are documented."""

ERROR_KINDS: Final = ("AuthenticationFailed", "PermissionDenied", "NotFound",
                      "InvalidArgument", "NotReady", "Conflict", "ServerError")
"""Our refusal taxonomy (``jetstream_qa.errors`` class codes)."""

_TABLES: Final = {"client", "methods", "params", "constants", "statuses", "errors"}


@dataclass(frozen=True, slots=True)
class BindingFile:
    """The parsed binding: every table optional; ``source`` names where it came from."""

    source: str = "no binding file"
    receive_namespace: str = ""
    methods: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    constants: Mapping[str, str] = field(default_factory=dict)
    permissions: Mapping[str, str] = field(default_factory=dict)
    statuses: Mapping[str, str] = field(default_factory=dict)
    error_classes: tuple[str, ...] = ()
    error_code_attribute: str = ""
    error_message_attribute: str = ""
    error_result_key: str = ""
    error_codes: Mapping[str, str] = field(default_factory=dict)

    def param(self, operation: str, name: str) -> str | None:
        """The client's keyword for ``operation``'s parameter ``name``, if bound."""
        return self.params.get(operation, {}).get(name) or None


EMPTY: Final = BindingFile()


def _fail(source: str, key: str, problem: str) -> ConfigurationError:
    return ConfigurationError(f"invalid binding file {source}: [{key}] {problem}")


def _strings(source: str, key: str, table: Any, allowed: Any = None) -> dict[str, str]:
    if not isinstance(table, dict):
        raise _fail(source, key, "must be a table")
    out: dict[str, str] = {}
    for name, value in table.items():
        if allowed is not None and name not in allowed:
            raise _fail(source, key, f"unknown key {name!r} (known: {', '.join(allowed)})")
        if not isinstance(value, str):
            raise _fail(source, key, f"{name} must be a string, got {value!r}")
        if value:
            out[name] = value
    return out


def _params(source: str, table: Any) -> dict[str, dict[str, str]]:
    if not isinstance(table, dict):
        raise _fail(source, "params", "must hold one table per operation")
    out = {}
    for op_name, names in table.items():
        op = OPERATIONS.get(op_name)
        if op is None:
            raise _fail(source, "params", f"unknown operation {op_name!r}")
        known = set(op.bound) | {p for p, _ in op.documented}
        out[op_name] = _strings(source, f"params.{op_name}", names, sorted(known))
    return out


def _errors(source: str, table: Any) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise _fail(source, "errors", "must be a table")
    classes = table.get("classes", [])
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise _fail(source, "errors", "classes must be a list of dotted class paths")
    codes = _strings(source, "errors.codes", table.get("codes", {}))
    bad = sorted(v for v in codes.values() if v not in ERROR_KINDS)
    if bad:
        raise _fail(source, "errors.codes", f"{bad} are not among {', '.join(ERROR_KINDS)}")
    scalars = _strings(source, "errors", {k: v for k, v in table.items()
                                          if k not in ("classes", "codes")},
                       ("code_attribute", "message_attribute", "result_key"))
    return {"error_classes": tuple(classes), "error_codes": codes,
            "error_code_attribute": scalars.get("code_attribute", ""),
            "error_message_attribute": scalars.get("message_attribute", ""),
            "error_result_key": scalars.get("result_key", "")}


def binding_from_data(data: Mapping[str, Any], source: str) -> BindingFile:
    """Validate parsed TOML into a :class:`BindingFile`.

    Raises:
        ConfigurationError: an unknown table, operation, parameter, status or error kind,
            or a value of the wrong type (the message names the file and the key).
    """
    unknown = sorted(set(data) - _TABLES)
    if unknown:
        raise _fail(source, unknown[0], f"unknown table (known: {', '.join(sorted(_TABLES))})")
    client = _strings(source, "client", data.get("client", {}), ("receive_namespace",))
    methods = _strings(source, "methods", data.get("methods", {}), sorted(OPERATIONS))
    consts = dict(data.get("constants", {}))
    permissions = _strings(source, "constants.permissions", consts.pop("permissions", {}))
    return BindingFile(
        source=source, receive_namespace=client.get("receive_namespace", ""), methods=methods,
        params=_params(source, data.get("params", {})),
        constants=_strings(source, "constants", consts, ("symlink_follow", "symlink_ignore")),
        permissions=permissions,
        statuses=_strings(source, "statuses", data.get("statuses", {}), STATUS_NAMES),
        **_errors(source, data.get("errors", {})))


def load_binding_file(path: Path) -> BindingFile:
    """Read and validate a TOML binding file.

    Raises:
        ConfigurationError: unreadable, not TOML, or invalid (see :func:`binding_from_data`).
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"binding file {path} is unreadable: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"binding file {path} is not TOML: {exc}") from None
    return binding_from_data(data, str(path))


BUNDLED: Final = binding_from_data({
    "client": {"receive_namespace": "recv"},
    "methods": {"wait_transfer": "send.waitForTransfer",
                "suspend_transfer": "send.suspendTransfer",
                "resume_transfer": "send.resumeTransfer",
                "cancel_transfer": "send.cancelTransfer", "token_login": "server.authToken"},
    "params": {
        "create_manifest": {"symlink": "symlinkMode"},
        "create_destination": {"port": "destinationPort", "min_cipher": "minCipher",
                               "public_key": "destinationPublicKey"},
        "create_transfer": {"overwrite": "overwriteMode", "min_cipher": "minCipher",
                            "send_rate_max": "sendRateMax"},
        "wait_transfer": {"timeout": "timeout"},
        "wait_manifest": {"timeout": "timeout"},
        "get_request_result": {"timeout": "timeout"},
        "set_send_rate": {"rate": "sendRateMax"},
        "token_login": {"password": "password"},
        "create_api_token": {"description": "description", "expiry_time": "expiryTime",
                             "password": "password", "permissions": "permissions",
                             "path": "path"},
        "create_shared_token": {"manifest_id": "manifestId", "download_limit": "downloadLimit",
                                "expiry_time": "expiryTime", "description": "description",
                                "password": "password"},
        "update_user_data": {"object_type": "objectType", "object_id": "objectId",
                             "user_data": "userData"},
        "update_bandwidth_limits": {"incoming": "incomingRateLimit",
                                    "outgoing": "outgoingRateLimit",
                                    "borrow_incoming": "borrowIncomingRate",
                                    "borrow_outgoing": "borrowOutgoingRate"},
        "get_event_log": {"since": "since", "limit": "limit"},
    },
    "constants": {"symlink_follow": "SYMLINK_FOLLOW", "symlink_ignore": "SYMLINK_IGNORE",
                  "permissions": {"UPLOAD": "Permission.UPLOAD",
                                  "DOWNLOAD": "Permission.DOWNLOAD",
                                  "DELETE_RENAME": "Permission.DELETE_RENAME",
                                  "CREATE_LINKS": "Permission.CREATE_LINKS"}},
    "statuses": {"running": "sending", "suspended": "suspended", "cancelled": "cancelled"},
    "errors": {"classes": ["jetstream_qa.errors.ServerError"], "code_attribute": "code",
               "message_attribute": "message",
               "codes": {k: k for k in ERROR_KINDS}},
}, "bundled client (jetstream_qa.binding)")
"""The bundled client's binding: our names (``docs/protocol.md`` section 3)."""
