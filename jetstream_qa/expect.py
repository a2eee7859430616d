"""The verifier vocabulary of the conformance suites.

Each verifier checks one requirement, owns its wait loop (poll with a deadline, see
:mod:`jetstream_qa.conformance_core.polling`) and, when the requirement is broken, raises ONE
:class:`~jetstream_qa.conformance_core.failures.CaseFailure` that reads::

    Requirement: a manifest ends in 'complete' once its sources are read
    Expected:    'complete'
    Actual:      status 'error', errorMessage 'no such file: /src/missing'
    Recent API calls (oldest first):
      send.createManifest(mappings={...}) -> ok {manifestId='3bc6...', status='pending'} [1.2 ms]

Pass ``api`` (one API object or several) wherever the verifier does not already take one, so
the failure carries the calls that led there. Transport errors raised while a verifier waits
(the server stalled or vanished) propagate unchanged: once the server has answered, the plugin
turns them into a FAIL naming what happened (``conformance_core.failures.classify``). Every
wait is bounded: verifiers take a ``timeout`` and each call inside is bounded by the client's
request timeout (``--js-timeout``), so a verifier ends within ``timeout`` plus one request
timeout.

Usage (see ``docs/writing-cases.md``)::

    from jetstream_qa import expect

    info = js_sender.server.getServerInfo()
    expect.equal("getServerInfo()['apiVersion'] is the expected API version",
                 js_settings.api_version, info["apiVersion"], api=js_sender)
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from jetstream_qa.conformance_core.client_choice import calls_of, shorten
from jetstream_qa.conformance_core.failures import CaseFailure
from jetstream_qa.conformance_core.polling import poll
from jetstream_qa.constants import TRANSFER_FINAL_STATUSES
from jetstream_qa.errors import JetStreamQAError, TransportError

__all__ = [
    "DEFAULT_WAIT_S",
    "CaseFailure",
    "all_of",
    "equal",
    "eventually",
    "fail",
    "file_identical",
    "has_fields",
    "manifest_complete",
    "manifest_finished",
    "raises",
    "that",
    "transfer_status",
    "typed",
    "within",
]

DEFAULT_WAIT_S = 30.0
"""Default deadline of the waiting verifiers (manifests, transfers, files)."""

T = TypeVar("T")
E = TypeVar("E", bound=BaseException)


def _apis(api: Any) -> tuple[Any, ...]:
    if api is None:
        return ()
    return tuple(api) if isinstance(api, list | tuple) else (api,)


def fail(requirement: str, expected: Any, actual: Any, *, api: Any = None,
         note: str = "") -> CaseFailure:
    """Build the structured failure (raise it: ``raise expect.fail(...)``)."""
    return CaseFailure(requirement, expected, actual, calls=calls_of(*_apis(api)), note=note)


def that(requirement: str, condition: bool, *, expected: Any, actual: Any,
         api: Any = None) -> None:
    """The general form: ``condition`` must hold.

    Raises:
        CaseFailure: ``condition`` is false (with ``expected``/``actual`` as given).
    """
    __tracebackhide__ = True
    if not condition:
        raise fail(requirement, expected, actual, api=api)


def typed(value: Any) -> str:
    """``repr`` of ``value`` with its type: ``'40' (str)``, ``40 (int)``, ``None (NoneType)``."""
    return f"{shorten(repr(value))} ({type(value).__name__})"


def equal(requirement: str, expected: Any, actual: Any, *, api: Any = None) -> None:
    """``actual == expected`` (and of the same type for bools vs ints).

    When the two differ in type, Expected and Actual show the types (``'40' (str)`` vs
    ``40 (int)``), so values that print alike are told apart.

    Raises:
        CaseFailure: they differ.
    """
    __tracebackhide__ = True
    same_kind = isinstance(expected, bool) == isinstance(actual, bool)
    if not (same_kind and actual == expected):
        if type(expected) is not type(actual):
            raise fail(requirement, typed(expected), typed(actual), api=api)
        raise fail(requirement, expected, actual, api=api)


def within(requirement: str, expected: float, actual: float, *, rel: float = 0.10,
           abs_tol: float = 0.0, api: Any = None) -> None:
    """``actual`` lies within ``rel`` (fraction) or ``abs_tol`` of ``expected``.

    Raises:
        CaseFailure: outside the tolerance (the message shows the allowed interval).
    """
    __tracebackhide__ = True
    if not math.isclose(actual, expected, rel_tol=rel, abs_tol=abs_tol):
        slack = max(rel * abs(expected), abs_tol)
        raise fail(requirement, f"{expected:g} within ±{slack:g} "
                   f"[{expected - slack:g}, {expected + slack:g}]", f"{actual:g}", api=api)


def has_fields(requirement: str, obj: Any, fields: Mapping[str, type | tuple[type, ...]], *,
               api: Any = None) -> None:
    """``obj`` is a dict holding every named field with a value of the given type(s).

    ``bool`` never satisfies ``int`` (``True`` is not a port number); put ``type(None)`` in
    the tuple where ``null`` is allowed.

    Raises:
        CaseFailure: listing every missing or ill-typed field.
    """
    __tracebackhide__ = True
    if not isinstance(obj, Mapping):
        raise fail(requirement, "an object", shorten(obj), api=api)
    problems: list[str] = []
    for name, types in fields.items():
        wanted = types if isinstance(types, tuple) else (types,)
        if name not in obj:
            problems.append(f"{name}: missing")
            continue
        value = obj[name]
        bad_bool = isinstance(value, bool) and bool not in wanted
        if bad_bool or not isinstance(value, wanted):
            problems.append(f"{name}: {type(value).__name__} {shorten(value, 60)}")
    if problems:
        expected = ", ".join(f"{n}: {'|'.join(t.__name__ for t in (ts if isinstance(ts, tuple) else (ts,)))}"  # noqa: E501
                             for n, ts in fields.items())
        raise fail(requirement, expected, "; ".join(problems), api=api)


def raises(error: type[E] | tuple[type[E], ...], call: Callable[[], Any], *,
           requirement: str | None = None, api: Any = None) -> E:
    """``call()`` must raise ``error`` (a class of :mod:`jetstream_qa.errors`, or a tuple).

    A transport error that is not the one asked for propagates (the plugin judges it: FAIL
    once the server has answered).

    Returns:
        The exception, for further checks on its fields.

    Raises:
        CaseFailure: ``call`` returned normally or raised another error.
    """
    __tracebackhide__ = True
    wanted = error if isinstance(error, tuple) else (error,)
    names = " or ".join(e.__name__ for e in wanted)
    requirement = requirement or f"the call is refused with {names}"
    try:
        result = call()
    except wanted as exc:
        return exc
    except TransportError:
        raise
    except JetStreamQAError as exc:
        raise fail(requirement, names, f"{type(exc).__name__}: {exc.message}", api=api) from exc
    raise fail(requirement, names, f"no error; returned {shorten(result)}", api=api)


def eventually(requirement: str, probe: Callable[[], T], done: Callable[[T], bool], *,
               expected: Any, timeout: float = DEFAULT_WAIT_S, api: Any = None,
               describe: Callable[[T], Any] = shorten) -> T:
    """Poll ``probe`` until ``done(value)`` holds, within ``timeout`` seconds.

    Returns:
        The value that satisfied ``done``.

    Raises:
        CaseFailure: the deadline passed (Actual: ``describe`` of the last value seen).
    """
    __tracebackhide__ = True
    outcome = poll(probe, done, timeout=timeout)
    if not outcome.satisfied:
        raise fail(requirement, expected, f"{describe(outcome.value)} after {timeout:g} s",
                   api=api)
    return outcome.value


def _status_text(obj: Mapping[str, Any]) -> str:
    message = obj.get("errorMessage")
    tail = f", errorMessage {message!r}" if message else ""
    return f"status {obj.get('status')!r}{tail}"


def manifest_finished(api: Any, manifest_id: str, *, timeout: float = DEFAULT_WAIT_S,
                      requirement: str = "a manifest leaves 'pending' once its sources are read"
                      ) -> dict[str, Any]:
    """Wait until the manifest is no longer ``pending``; return it whatever its status.

    Raises:
        CaseFailure: still pending at the deadline.
    """
    __tracebackhide__ = True
    return eventually(requirement, lambda: api.send.getManifest(manifest_id),
                      lambda m: m.get("status") != "pending",
                      expected="status 'complete' or 'error'", timeout=timeout, api=api,
                      describe=_status_text)


def manifest_complete(api: Any, manifest_id: str, *, timeout: float = DEFAULT_WAIT_S,
                      requirement: str = "a manifest of readable sources ends in 'complete'"
                      ) -> dict[str, Any]:
    """Wait for the manifest to finish and require ``status == 'complete'``.

    Returns:
        The complete Manifest structure.

    Raises:
        CaseFailure: pending at the deadline, or finished in another status.
    """
    __tracebackhide__ = True
    manifest = manifest_finished(api, manifest_id, timeout=timeout, requirement=requirement)
    if manifest.get("status") != "complete":
        raise fail(requirement, "status 'complete'", _status_text(manifest), api=api)
    return manifest


def transfer_status(api: Any, transfer_id: int, status: str, *,
                    timeout: float = DEFAULT_WAIT_S, requirement: str | None = None
                    ) -> dict[str, Any]:
    """Wait until the transfer reaches ``status`` (or a final status other than it).

    Returns:
        The Transfer structure in ``status``.

    Raises:
        CaseFailure: it ended in another final status, or the deadline passed.
    """
    __tracebackhide__ = True
    requirement = requirement or f"the transfer reaches status {status!r}"
    transfer = eventually(
        requirement, lambda: api.send.getTransfer(transfer_id),
        lambda t: t.get("status") == status or t.get("status") in TRANSFER_FINAL_STATUSES,
        expected=f"status {status!r}", timeout=timeout, api=api, describe=_status_text)
    if transfer.get("status") != status:
        raise fail(requirement, f"status {status!r}", _status_text(transfer), api=api)
    return dict(transfer)


def _digest(path: Path) -> tuple[int, str] | None:
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            return size, hashlib.file_digest(handle, "sha256").hexdigest()
    except FileNotFoundError:
        return None


def file_identical(src: Path | str, dst: Path | str, *, timeout: float = 0.0,
                   requirement: str = "the destination file is byte-identical to the source",
                   api: Any = None) -> None:
    """``dst`` exists with the size and SHA-256 of ``src`` (waiting up to ``timeout``).

    Raises:
        CaseFailure: missing, or different size/content at the deadline.
    """
    __tracebackhide__ = True
    want = _digest(Path(src))
    if want is None:
        raise fail(requirement, f"source {src} exists", "source missing (suite bug?)", api=api)
    outcome = poll(lambda: _digest(Path(dst)), lambda got: got == want, timeout=timeout)
    if not outcome.satisfied:
        got = outcome.value
        actual = "missing" if got is None else f"{got[0]} bytes sha256 {got[1][:16]}…"
        raise fail(requirement, f"{want[0]} bytes sha256 {want[1][:16]}…", f"{dst}: {actual}",
                   api=api)


def all_of(requirement: str, checks: Iterable[tuple[bool, str]], *, expected: Any,
           api: Any = None) -> None:
    """Every ``(condition, description)`` holds; the failure lists those that do not."""
    __tracebackhide__ = True
    broken = [text for ok, text in checks if not ok]
    if broken:
        raise fail(requirement, expected, "; ".join(broken), api=api)
