"""What one load-test process observed, as mergeable data.

:class:`LoadRecorder` is fed by the Locust adapter (one call per request event and per whole
transfer) and knows nothing of Locust. A worker calls :meth:`LoadRecorder.drain` every report
interval and ships the delta (plain data) to the master, which :meth:`LoadRecorder.merge`\\ s it
into its own recorder; single-process runs simply read the local recorder. Merging is exact:
counters add, histograms add bucket-wise and keep raw samples while small (see
:mod:`.histogram`), goodput bins add.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jetstream_qa.loadstats.histogram import Histogram
from jetstream_qa.loadstats.series import GoodputSeries, LatencySeries

__all__ = ["LoadRecorder", "RequestStats", "request_key"]

SCHEMA = "jetstream-qa/load-delta/1"


def request_key(request_type: str, name: str) -> str:
    """The report's key of a request kind: ``"API send.createTransfer"``."""
    return f"{request_type} {name}"


@dataclass(slots=True)
class RequestStats:
    """Counts and unrounded response times (ms) of one request kind."""

    latency: Histogram = field(default_factory=Histogram)
    failures: int = 0

    @property
    def count(self) -> int:
        """Requests of this kind, failed ones included."""
        return self.latency.count


class LoadRecorder:
    """Accumulates requests, transfers, errors and goodput of one process (or merged ones).

    Args:
        window_s: keyword-only; width of the time-series windows in seconds.
    """

    def __init__(self, *, window_s: float = 1.0) -> None:
        self.window_s = window_s
        self.requests: dict[str, RequestStats] = {}
        self.latency_series: dict[str, LatencySeries] = {}
        self.errors: dict[tuple[str, str], int] = {}
        self.goodput = GoodputSeries(window_s=window_s)
        self.throughput = Histogram()
        self.transfers = 0
        self.transfer_failures = 0
        self.delivered_bytes = 0
        self.transfer_ids: set[str] = set()
        self.cancelled_at_stop = 0
        self.cancelled_at_stop_paths: list[str] = []
        self.first_transfer_start: float | None = None
        """Epoch second the earliest transfer of the run started (failed ones included)."""
        self.first_cancelled_start: float | None = None
        """Start of the earliest transfer cancelled at stop whose acknowledged bytes are
        unknown: they never count, so the seconds after it are ramp-down, not steady
        state."""
        self.acked_at_stop_bytes = 0
        """Bytes the receiver had acknowledged of transfers cancelled at stop (in goodput)."""

    # --- feeding ------------------------------------------------------------------------
    def record_request(self, request_type: str, name: str, response_time_ms: float, *,
                       at: float, error: str | None = None) -> None:
        """One request event: ``response_time_ms`` unrounded, ``error`` None on success,
        ``at`` the epoch second it finished."""
        key = request_key(request_type, name)
        stats = self.requests.get(key)
        if stats is None:
            stats = self.requests[key] = RequestStats()
        stats.latency.record(response_time_ms)
        series = self.latency_series.get(key)
        if series is None:
            series = self.latency_series[key] = LatencySeries(window_s=self.window_s)
        series.record(at, response_time_ms)
        if error is not None:
            stats.failures += 1
            self.errors[(key, error)] = self.errors.get((key, error), 0) + 1

    def record_transfer(self, scenario: str, *, start: float, end: float, nbytes: int,
                        ok: bool, transfer_id: str | None = None) -> None:
        """One whole transfer between epoch seconds ``start`` and ``end``; ``nbytes`` is what
        was delivered (counted into goodput only when ``ok``)."""
        self.transfers += 1
        if self.first_transfer_start is None or start < self.first_transfer_start:
            self.first_transfer_start = start
        if transfer_id is not None:
            self.transfer_ids.add(transfer_id)
        if not ok:
            self.transfer_failures += 1
            return
        self.delivered_bytes += nbytes
        self.goodput.add(scenario, start=start, end=end, nbytes=nbytes)
        if end > start:
            self.throughput.record(nbytes / (end - start))

    def note_transfer_id(self, transfer_id: str) -> None:
        """Remember a transfer this run created (for the server-counter cross-check)."""
        self.transfer_ids.add(transfer_id)

    def note_cancelled_at_stop(self, dest_path: str | None = None, *,
                               started: float | None = None, scenario: str | None = None,
                               acked_bytes: int | None = None,
                               ended: float | None = None) -> None:
        """A transfer still running when its user was stopped was cancelled (not a failure;
        it may have left finished files under ``dest_path``, reported so that they can be
        told apart from delivered ones).

        With ``scenario``, ``started``, ``ended`` and ``acked_bytes`` (what the receiver had
        acknowledged when it stopped) those bytes count as goodput, spread over
        [``started``, ``ended``] like a finished transfer's: bytes written and acknowledged
        during the run are the server's work in those seconds, as iperf3 counts the bytes
        of its last interval. Without them the transfer's seconds would look idle, so the
        measured window then ends at its start (:attr:`first_cancelled_start`)."""
        self.cancelled_at_stop += 1
        if started and (self.first_transfer_start is None or started < self.first_transfer_start):
            self.first_transfer_start = started
        if dest_path is not None:
            self.cancelled_at_stop_paths.append(dest_path)
        if acked_bytes is not None and started and ended and scenario:
            self.acked_at_stop_bytes += acked_bytes
            self.delivered_bytes += acked_bytes
            self.goodput.add(scenario, start=started, end=max(started, ended),
                             nbytes=acked_bytes)
        elif started and (self.first_cancelled_start is None
                          or started < self.first_cancelled_start):
            self.first_cancelled_start = started

    # --- merging ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Everything recorded, as plain (JSON/msgpack-safe) data."""
        return {
            "schema": SCHEMA,
            "windowS": self.window_s,
            "requests": {k: {"latency": s.latency.to_dict(), "failures": s.failures}
                         for k, s in self.requests.items()},
            "latencySeries": {k: s.to_dict() for k, s in self.latency_series.items()},
            "errors": [[k, e, n] for (k, e), n in self.errors.items()],
            "goodput": self.goodput.to_dict(),
            "throughput": self.throughput.to_dict(),
            "transfers": self.transfers,
            "transferFailures": self.transfer_failures,
            "deliveredBytes": self.delivered_bytes,
            "transferIds": sorted(self.transfer_ids),
            "cancelledAtStop": self.cancelled_at_stop,
            "cancelledAtStopPaths": list(self.cancelled_at_stop_paths),
            "firstTransferStart": self.first_transfer_start,
            "firstCancelledStart": self.first_cancelled_start,
            "ackedAtStopBytes": self.acked_at_stop_bytes,
        }

    def drain(self) -> dict[str, Any]:
        """Return :meth:`to_dict` and reset to empty (a worker's delta since last report)."""
        data = self.to_dict()
        self.__init__(window_s=self.window_s)  # type: ignore[misc]
        return data

    def merge(self, data: Mapping[str, Any]) -> None:
        """Add a delta produced by :meth:`to_dict`/:meth:`drain` (possibly on another process).

        Raises:
            ValueError: the data is not a delta of this schema, or malformed.
        """
        if data.get("schema") != SCHEMA or float(data.get("windowS", -1)) != self.window_s:
            raise ValueError("not a load-delta of this schema/window width")
        try:
            self._merge_requests(data)
            for key, error, n in data["errors"]:
                self.errors[(key, error)] = self.errors.get((key, error), 0) + int(n)
            self.goodput.merge(GoodputSeries.from_dict(data["goodput"]))
            self.throughput.merge(Histogram.from_dict(data["throughput"]))
            self.transfers += int(data["transfers"])
            self.transfer_failures += int(data["transferFailures"])
            self.delivered_bytes += int(data["deliveredBytes"])
            self.transfer_ids.update(str(t) for t in data["transferIds"])
            self.cancelled_at_stop += int(data.get("cancelledAtStop", 0))
            self.acked_at_stop_bytes += int(data.get("ackedAtStopBytes", 0))
            self.cancelled_at_stop_paths.extend(str(p)
                                                for p in data.get("cancelledAtStopPaths", ()))
            cancelled = data.get("firstCancelledStart")
            if cancelled is not None and (self.first_cancelled_start is None
                                          or float(cancelled) < self.first_cancelled_start):
                self.first_cancelled_start = float(cancelled)
            first = data.get("firstTransferStart")
            if first is not None and (self.first_transfer_start is None
                                      or float(first) < self.first_transfer_start):
                self.first_transfer_start = float(first)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed load delta: {exc}") from exc

    def _merge_requests(self, data: Mapping[str, Any]) -> None:
        for key, item in data["requests"].items():
            stats = self.requests.get(key)
            if stats is None:
                stats = self.requests[key] = RequestStats()
            stats.latency.merge(Histogram.from_dict(item["latency"]))
            stats.failures += int(item["failures"])
        for key, item in data["latencySeries"].items():
            series = self.latency_series.get(key)
            if series is None:
                series = self.latency_series[key] = LatencySeries(window_s=self.window_s)
            series.merge(LatencySeries.from_dict(item))

    # --- reading ------------------------------------------------------------------------
    @property
    def request_count(self) -> int:
        """Every request event, all kinds."""
        return sum(s.count for s in self.requests.values())

    @property
    def delivered_transfers(self) -> int:
        """Transfers that completed (delivered their bytes)."""
        return self.transfers - self.transfer_failures

    @property
    def failure_count(self) -> int:
        """Every failed request event, all kinds."""
        return sum(s.failures for s in self.requests.values())
