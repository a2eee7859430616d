"""The suites' vocabulary over one connected API object: :class:`Operations`.

Theory of operation
-------------------
A suite says *what* it wants ("create a transfer with these flags and this overwrite mode",
"wait until it ends", "was this refused?"); :class:`Operations` turns it into calls of the
client at hand through its :class:`~jetstream_qa.binding._binding.Binding`. Parameters left
at ``None`` are not passed (the server's documented default applies), so an undocumented
parameter needs a binding only when a suite really uses it. The client's own socket errors
(``OSError``) become our :class:`~jetstream_qa.errors.TransportError` classes, so a verdict
never depends on which client raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jetstream_qa.binding._binding import Binding, Resolved
from jetstream_qa.binding._catalogue import OPERATIONS
from jetstream_qa.binding._file import STATUS_NAMES
from jetstream_qa.client import REDACTED, CallRecord, summarise_result
from jetstream_qa.errors import (
    BindingMissing,
    ConnectionClosed,
    ProtocolError,
    RequestTimeout,
    TransportError,
)

__all__ = ["DOCUMENTED_STATUSES", "Operations", "Refusal"]

DOCUMENTED_STATUSES = frozenset({"pending", "complete", "error"})
"""Transfer statuses the vendor spells (S12 example 'pending'; S2/S5 'complete', 'error')."""
DEFAULT_RECV_PORT = 8886
"""UDP receive port default (server primer S20): no binding needed to aim at it."""
POLL_FIRST_PAUSE = 0.002
"""Seconds before the second call of a polled wait (doubling up to 250 ms after)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """What became of a call a suite expected to be refused.

    ``kind`` is our taxonomy (``AuthenticationFailed``...) when the binding maps the client's
    code, else None; ``code`` is the client's own code, ``message`` its text.
    """

    refused: bool
    kind: str | None = None
    code: str = ""
    message: str = ""
    result: Any = None

    def kind_in(self, *kinds: str) -> bool | None:
        """Whether the refusal's kind is one of ``kinds``; None when the kind is unmapped."""
        return None if self.kind is None else self.kind in kinds

    def describe(self) -> str:
        """One line for a failure's Actual."""
        if not self.refused:
            return f"no error; returned {self.result!r}"[:300]
        kind = self.kind or f"unmapped code {self.code!r}"
        return f"refused ({kind}): {self.message}"[:300]


class Operations:
    """The operations of the suites on one API object (see the module docstring)."""

    def __init__(self, binding: Binding, api: Any) -> None:
        self.binding = binding
        self.api = api

    # --- generic ------------------------------------------------------------------------
    def has(self, name: str) -> bool:
        """True when operation ``name`` is bound (documented and present, or in the file)."""
        try:
            self.binding.resolve(self.api, name)
        except BindingMissing:
            return False
        return True

    def call(self, name: str, *args: Any, **params: Any) -> Any:
        """Make operation ``name``: ``args`` by position, ``params`` (our names) by keyword.

        Raises:
            BindingMissing: the operation or a parameter given a value is not bound.
            TransportError: the client's connection failed.
        """
        op = OPERATIONS[name]
        if len(args) != len(op.positional):
            raise TypeError(f"{name} takes {op.positional}, got {len(args)} positional")
        resolved = self.binding.resolve(self.api, name)
        kwargs = {self.binding.keyword(self.api, name, p): v
                  for p, v in params.items() if v is not None}
        if op.secret and resolved.raw is not resolved.call:
            hidden = dict(zip(op.positional, args, strict=True)) | {
                p: v for p, v in params.items() if v is not None}
            shown = {p: REDACTED if p in op.secret else v for p, v in hidden.items()}
            return self._recorded(resolved, shown, args, kwargs)
        return self._invoke(resolved.call, *args, **kwargs)

    def _recorded(self, resolved: Resolved, shown: dict[str, Any], args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> Any:
        """Call the client's own method and log it with its credentials redacted (a
        recording wrapper would log them as plain positional arguments)."""
        log = getattr(self.api, "call_log", None)
        started = time.monotonic()
        try:
            result = self._invoke(resolved.raw, *args, **kwargs)
        except Exception as exc:
            if log is not None:
                log.add(CallRecord(resolved.name, shown, type(exc).__name__, str(exc)[:200],
                                   time.monotonic() - started))
            raise
        if log is not None:
            log.add(CallRecord(resolved.name, shown, "ok", summarise_result(result),
                               time.monotonic() - started))
        return result

    def _invoke(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except TransportError:
            raise
        except TimeoutError as exc:
            raise RequestTimeout(f"the {self.binding.kind} client timed out: {exc}",
                                 details={"client": self.binding.kind}) from exc
        except OSError as exc:
            raise ConnectionClosed(f"the {self.binding.kind} client lost the connection: "
                                   f"{exc}", details={"client": self.binding.kind}) from exc

    # --- refusal ------------------------------------------------------------------------
    def refused(self, call: Callable[[], Any]) -> Refusal:
        """Run ``call`` and say whether it was refused, the way the client documents it:
        an exception of the binding's refusal classes, or (if bound) an error structure.

        Raises:
            TransportError, ProtocolError: the connection broke (not a refusal).
            BindingMissing: no refusal class is known for this client.
        """
        classes = self.binding.refusal_classes
        if not classes:
            raise BindingMissing("refused", "no exception class of the client is known",
                                 key="[errors] classes")
        try:
            result = self._invoke(call)
        except (TransportError, ProtocolError):
            raise
        except classes as exc:
            return self._refusal(exc)
        key = self.binding.file.error_result_key
        if key and isinstance(result, dict) and result.get(key):
            return Refusal(True, None, "", str(result[key]), result)
        return Refusal(False, result=result)

    def _refusal(self, exc: BaseException) -> Refusal:
        file = self.binding.file
        code = str(getattr(exc, file.error_code_attribute, "") or "") \
            if file.error_code_attribute else ""
        if type(exc).__module__ == "jetstream_qa.errors" and code == "ServerError":
            code = str(getattr(exc, "details", {}).get("code", code))
        message = getattr(exc, file.error_message_attribute, None) \
            if file.error_message_attribute else None
        return Refusal(True, file.error_codes.get(code), code, str(message or exc))

    # --- statuses -----------------------------------------------------------------------
    def status(self, obj: Any) -> str | None:
        """Our name of a Transfer's status (``running`` for the client's spelling of it);
        documented and unmapped spellings come back as they are."""
        raw = obj.get("status") if isinstance(obj, dict) else None
        for name, spelling in self.binding.file.statuses.items():
            if raw == spelling:
                return name
        return raw

    def require_status(self, name: str, *, operation: str) -> str:
        """The client's spelling of status ``name``; BindingMissing if undocumented+unbound."""
        if name in DOCUMENTED_STATUSES:
            return name
        assert name in STATUS_NAMES, name
        spelling = self.binding.file.statuses.get(name)
        if spelling is None:
            raise BindingMissing(operation, f"the vendor docs do not spell status {name!r}",
                                 key=f"[statuses] {name}")
        return spelling

    @property
    def final_statuses(self) -> frozenset[str]:
        """Our names of the statuses a transfer never leaves that this binding can see."""
        extra = {"cancelled"} if "cancelled" in self.binding.file.statuses else set()
        return frozenset({"complete", "error"} | extra)

    # --- manifests, destinations, transfers ---------------------------------------------
    def create_manifest(self, mappings: dict[str, str], *, symlink: str | None = None
                        ) -> dict[str, Any]:
        """``createManifest(mappings={dest: src})``; ``symlink`` is 'follow' or 'ignore'
        (the vendor page documents both modes without printing their names, S11)."""
        value = None if symlink is None else self.binding.constant(
            f"symlink_{symlink}", operation="create_manifest")
        return dict(self.call("create_manifest", mappings=dict(mappings), symlink=value))

    def wait_manifest(self, manifest_id: str, *, timeout: float) -> dict[str, Any]:
        """The manifest once out of 'pending' (S2), or as last seen at ``timeout``: the
        client's ``waitForManifest`` (S2, S13) when its timeout keyword is bound (a wait
        without a bound is never made), else polling ``getManifest``."""
        if self.bounded_wait("wait_manifest"):
            try:
                return dict(self.call("wait_manifest", manifest_id, timeout=timeout))
            except RequestTimeout:
                return dict(self.call("get_manifest", manifest_id))
        return _poll(lambda: dict(self.call("get_manifest", manifest_id)),
                     lambda m: m.get("status") != "pending", timeout)

    def bounded_wait(self, name: str) -> bool:
        """Whether blocking operation ``name`` is bound together with its timeout."""
        try:
            self.binding.keyword(self.api, name, "timeout")
        except BindingMissing:
            return False
        return True

    def create_destination(self, address: str, port: int | None = None, *,
                           send_rate_max: int | None = None, min_cipher: int | None = None,
                           public_key: str | None = None) -> dict[str, Any]:
        """``createDestination``; the UDP ``port`` needs a binding unless it is 8886."""
        port = None if port == DEFAULT_RECV_PORT else port
        return dict(self.call("create_destination", address=address, port=port,
                              send_rate_max=send_rate_max, min_cipher=min_cipher,
                              public_key=public_key))

    def create_transfer(self, destination_id: str, manifest_id: str, *,
                        destination_path: str | None = None, priority: int | None = None,
                        flags: int | None = None, overwrite: int | None = None,
                        min_cipher: int | None = None, send_rate_max: int | None = None,
                        checkpoint_s: float | None = None) -> dict[str, Any]:
        """``createTransfer`` with our parameter names (values: the documented constants)."""
        return dict(self.call(
            "create_transfer", destination_id=destination_id, manifest_id=manifest_id,
            destination_path=destination_path, priority=priority, flags=flags,
            overwrite=overwrite, min_cipher=min_cipher, send_rate_max=send_rate_max,
            checkpoint_s=checkpoint_s))

    def get_transfer(self, transfer_id: int) -> dict[str, Any]:
        return dict(self.call("get_transfer", transfer_id))

    def wait_transfer(self, transfer_id: int, *, timeout: float) -> dict[str, Any]:
        """The transfer once in a final status, or as last seen at ``timeout``.

        Uses the client's blocking wait when bound, else polls ``getTransfer`` (S1).
        """
        if self.has("wait_transfer"):
            try:
                return dict(self.call("wait_transfer", transfer_id, timeout=timeout))
            except RequestTimeout:
                return self.get_transfer(transfer_id)
        finals = self.final_statuses
        return _poll(lambda: self.get_transfer(transfer_id),
                     lambda t: self.status(t) in finals, timeout)

    def suspend_transfer(self, transfer_id: int) -> Any:
        return self.call("suspend_transfer", transfer_id)

    def resume_transfer(self, transfer_id: int) -> Any:
        return self.call("resume_transfer", transfer_id)

    def cancel_transfer(self, transfer_id: int) -> Any:
        return self.call("cancel_transfer", transfer_id)

    def request_result(self, request: Any, *, timeout: float) -> Any:
        """The result of an ``*Async`` request: poll ``getRequestStatus`` (never blocks, S12)
        until ``processing`` is False, then ``getRequestResult``.

        Raises:
            RequestTimeout: still processing at ``timeout``.
        """
        status = _poll(lambda: dict(self.call("get_request_status", request)),
                       lambda s: s.get("processing") is False, timeout)
        if status.get("processing") is not False:
            raise RequestTimeout(f"request {request!r} still processing after {timeout:g} s",
                                 details={"last": status})
        return self.call("get_request_result", request)

    def blocking_result(self, request: Any, *, timeout: float) -> Any:
        """``getRequestResult``, which "blocks until the request is done" (S12), bounded by
        ``timeout`` when the binding names the client's timeout keyword (else the client's
        own bound applies)."""
        try:
            self.binding.keyword(self.api, "get_request_result", "timeout")
        except BindingMissing:
            return self.call("get_request_result", request)
        return self.call("get_request_result", request, timeout=timeout)

    # --- tokens and user data -----------------------------------------------------------
    def token_login(self, token: str, *, password: str | None = None) -> None:
        self.call("token_login", token, password=password)

    def create_api_token(self, *, description: str | None = None,
                         expiry_time: int | None = None, password: str | None = None,
                         permissions: tuple[str, ...] | None = None,
                         path: str | None = None) -> dict[str, Any]:
        """``createAPIToken``; ``permissions`` are our names (UPLOAD, DOWNLOAD, ...)."""
        bits = None if permissions is None else self.binding.permission_bits(
            permissions, operation="create_api_token")
        return dict(self.call("create_api_token", description=description,
                              expiry_time=expiry_time, password=password, permissions=bits,
                              path=path))

    def update_user_data(self, object_type: str, object_id: Any,
                         user_data: dict[str, str]) -> Any:
        return self.call("update_user_data", object_type=object_type, object_id=object_id,
                         user_data=user_data)


def _poll(probe: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool],
          timeout: float) -> dict[str, Any]:
    """Call ``probe`` until ``done`` or the deadline; the last value. The pause doubles from
    2 ms to 250 ms, so a wait overshoots the moment ``done`` holds by less than the time
    already waited, plus 2 ms (a 5 ms manifest scan: 6 ms, not 20; measured with 20 ms first
    pauses: the load's manifest-wait p90 was 23 ms for a p50 of 5 ms)."""
    deadline = time.monotonic() + timeout
    interval = POLL_FIRST_PAUSE
    while True:
        value = probe()
        remaining = deadline - time.monotonic()
        if done(value) or remaining <= 0:
            return value
        time.sleep(min(interval, remaining))
        interval = min(interval * 2, 0.25)
