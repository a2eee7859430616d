"""The packet suites' use of a capture: which source, which filter, and how its failures
become verdicts.

:func:`plan_capture` decides once per case where the traffic is captured: the
``--js-capture`` source when one is given, else ``iface:lo`` when the receiver's data address
is on this host's loopback (the embedded pair), else the case is NOT_APPLICABLE and says
which option would enable it. :func:`capturing` opens the capture and turns a source that
does not work into INCONCLUSIVE (the environment failed, not the server);
:func:`finish` lets the tail of the traffic through and, for a file, narrows it to the
transfer's time window from the API.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from jetstream_qa import expect
from jetstream_qa.capture.analysis import to_receiver
from jetstream_qa.capture.files import FileCapture
from jetstream_qa.capture.packets import WirePacket
from jetstream_qa.capture.sink import CaptureFailed, CaptureNotApplicable, Limits
from jetstream_qa.capture.source import CaptureFilter, CaptureSource, resolve_host
from jetstream_qa.capture.stream import open_capture
from jetstream_qa.conformance_core import ops_steps
from jetstream_qa.conformance_core.failures import Inconclusive, NotApplicableCase
from jetstream_qa.errors import UsageError

__all__ = ["ENABLE", "CapturePlan", "Captured", "captured_transfer", "capturing", "finish",
           "plan_capture"]

ENABLE: Final = ("--js-capture iface:NAME | cmd:'COMMAND' | file:PATH (a capture source on "
                 "the path between the servers)")
LOOPBACK: Final = CaptureSource("iface", "lo")
DRAIN_S: Final = 15.0
"""How long a case's capture may take, after its transfer, to read what its source holds:
a full 16 MiB tcpdump ring (~8,000 packets of the recipe's 2 KiB slots) takes ~3 s to read
beside a busy test run on 2 cores (measured: see ``tests/integration/test_capture_netns``)."""


@dataclass(frozen=True, slots=True)
class CapturePlan:
    """Where a case captures: the source, the filter, and the path MTU when known."""

    source: CaptureSource
    filter: CaptureFilter
    implicit: bool
    """True for the loopback capture of an on-host pair (no ``--js-capture`` given)."""
    mtu: int | None

    def describe(self) -> str:
        how = "implicit (receiver on loopback)" if self.implicit else "--js-capture"
        return f"{self.source} ({how}), filter {self.filter.bpf()}"


def _interface_mtu(name: str) -> int | None:
    try:
        return int(Path(f"/sys/class/net/{name}/mtu").read_text().strip())
    except (OSError, ValueError):
        return None


def _check_sniffing(iface: str, flt: CaptureFilter) -> None:
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        raise NotApplicableCase(f"capturing on {iface} needs root (euid 0); or give {ENABLE}")
    if not Path(f"/sys/class/net/{iface}").exists():
        raise Inconclusive(f"--js-capture iface:{iface}: no such interface on this host")
    try:
        from scapy.arch.common import compile_filter
        from scapy.error import Scapy_Exception
    except ImportError as exc:
        raise NotApplicableCase(f"scapy unavailable: {exc}") from exc
    try:
        compile_filter(flt.bpf(iface=iface), iface=iface)
    except (ImportError, OSError, Scapy_Exception) as exc:
        raise NotApplicableCase(f"libpcap cannot compile the capture filter: {exc}") from exc


def plan_capture(source: CaptureSource | None, *, sender_host: str, data_host: str,
                 data_port: int) -> CapturePlan:
    """The capture of one case.

    Args:
        source: ``--js-capture`` (``None``: not given).
        sender_host: the sender's address (its API host).
        data_host / data_port: the receiver's UDP data address.

    Raises:
        NotApplicableCase: no source and the receiver is not on loopback (the message names
            ``--js-capture``), or sniffing is impossible here (not root, no libpcap).
        Inconclusive: a name does not resolve, or the named interface does not exist.
    """
    try:
        receiver_ip = resolve_host(data_host)[0]
        flt = CaptureFilter(receiver_ip, data_port, resolve_host(sender_host))
    except UsageError as exc:
        raise Inconclusive(f"cannot build the capture filter: {exc.message}") from exc
    implicit = source is None
    if source is None:
        if not ipaddress.ip_address(receiver_ip).is_loopback:
            raise NotApplicableCase(f"the receiver {data_host} is not on this host's loopback "
                                    f"and no capture source was given: {ENABLE}")
        source = LOOPBACK
    mtu = None
    if source.kind == "iface":
        _check_sniffing(source.value, flt)
        mtu = _interface_mtu(source.value)
    return CapturePlan(source, flt, implicit, mtu)


@contextlib.contextmanager
def capturing(plan: CapturePlan, *, timeout_s: float, max_bytes: int = 256 << 20
              ) -> Iterator[Any]:
    """Open the plan's capture for the block (bounded by ``timeout_s`` and ``max_bytes``).

    Raises:
        Inconclusive: the source does not work (the message says how).
        NotApplicableCase: capturing is impossible here.
    """
    limits = Limits(max_bytes=max_bytes, timeout_s=timeout_s)
    try:
        with open_capture(plan.source, plan.filter, limits=limits) as cap:
            yield cap
    except CaptureFailed as exc:
        raise Inconclusive(f"capture source {plan.source} failed: {exc.message}") from exc
    except CaptureNotApplicable as exc:
        raise NotApplicableCase(exc.message) from exc


def _api_window(transfer: Mapping[str, Any]) -> tuple[float, float] | None:
    start: Any = transfer.get("requestTime") or transfer.get("startTime")
    end: Any = transfer.get("endTime")

    def micros(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value > 0

    if micros(start) and micros(end):
        return start / 1e6, end / 1e6
    return None


def finish(cap: Any, transfer: Mapping[str, Any] | None = None) -> None:
    """Before the capture closes: for a file source, judge the transfer's
    ``requestTime``..``endTime`` window (API, microseconds) when the Transfer structure
    carries both; then read what the source still holds (``drain``, bounded by
    :data:`DRAIN_S`; a backlog left unread marks the capture truncated, since it would be
    lost at stop)."""
    if isinstance(cap, FileCapture) and transfer is not None:
        window = _api_window(transfer)
        if window is not None:
            cap.use_window(*window)
    if not cap.drain(DRAIN_S) and not cap.truncated:
        cap.sink.truncated = (f"the capture had not read what its source held {DRAIN_S:g} s "
                              "after the transfer ended (or packets were still arriving)")


@dataclass(frozen=True, slots=True)
class Captured:
    """A transfer and what the capture saw of it."""

    source: Path
    final: Mapping[str, Any]
    packets: tuple[WirePacket, ...]
    truncated: str
    plan: CapturePlan

    @property
    def to_receiver(self) -> list[WirePacket]:
        """Datagrams addressed to the receiver's data port."""
        return to_receiver(self.packets, self.plan.filter)

    def require_traffic(self) -> list[WirePacket]:
        """:attr:`to_receiver`, or INCONCLUSIVE when the capture saw none of it.

        Raises:
            Inconclusive: no datagram to the receiver's data port was captured.
        """
        data = self.to_receiver
        if not data:
            raise Inconclusive(f"{self.plan.source} saw no datagram to the receiver's data "
                               f"port {self.plan.filter.receiver_ip}:"
                               f"{self.plan.filter.receiver_port}: it is not on the path")
        return data

    def require_complete(self, claim: str) -> None:
        """Before a verdict that rests on what the capture did *not* see (``claim``, e.g. "no
        datagram carries plaintext"): INCONCLUSIVE when the capture is truncated, since the
        packets it missed may be the evidence. Evidence that was seen needs no such check.

        Raises:
            Inconclusive: the capture stopped early or missed packets (``truncated``).
        """
        if self.truncated:
            raise Inconclusive(f"cannot tell that {claim}: the capture of {self.plan.source} "
                               f"is incomplete ({self.truncated})")


def captured_transfer(ops: Any, target: Any, scratch: Any, plan: CapturePlan, *,
                      name: str, content: bytes, timeout: float,
                      during: Callable[[Any, Mapping[str, Any]], None] | None = None,
                      send_rate_max: int | None = None, **options: Any) -> Captured:
    """Send one file under capture and wait until the transfer completes, every call through
    the binding.

    Args:
        ops: the binding's operations over the case's ``js_sender`` (``js_ops(js_sender)``).
        target / scratch: the case's ``js_target``, ``js_scratch``.
        plan: from :func:`plan_capture`.
        name / content: the source file written into the scratch source directory.
        timeout: the run's request timeout (waits are derived from it).
        during: called with (capture, created transfer) while the transfer runs.
        send_rate_max: the destination's ``sendRateMax`` (documented on createDestination,
            S14; the transfer inherits it).
        options: more ``createTransfer`` arguments in our names (``min_cipher`` ...).

    Raises:
        CaseFailure: the transfer did not complete.
        Inconclusive / NotApplicableCase: see :func:`capturing`.
        BindingMissing: an option the binding cannot name (NOT_APPLICABLE).
    """
    source = scratch.require_source() / name
    source.write_bytes(content)
    manifest = ops_steps.complete_manifest(ops, {f"/{name}": scratch.server_path(source)},
                                           timeout=timeout)
    destination = ops_steps.destination_to_receiver(ops, target, send_rate_max=send_rate_max)
    with capturing(plan, timeout_s=timeout + 120) as cap:
        transfer = ops.create_transfer(destination["destinationId"], manifest["manifestId"],
                                       destination_path=scratch.dest_path, **options)
        if during is not None:
            during(cap, transfer)
        final = ops.wait_transfer(transfer["transferId"], timeout=timeout + 60)
        expect.equal("the transfer completes", "complete", ops.status(final), api=ops.api)
        finish(cap, final)
    return Captured(source, final, tuple(cap.packets), cap.truncated, plan)
