"""Rate and congestion control for one sending session, sans-IO (times are passed in).

Theory of operation
-------------------
Two limits apply to every DATA datagram (server primer, bandwidth page: per-transfer
``sendRateMax`` and the server's outgoing limit cap the rate; the "JetStream Rate Controller"
adapts it to the path):

- :class:`TokenBucket`: the configured cap in bit/s (``None`` = unlimited), with a burst of
  a few milliseconds so a sender does not stall on timer granularity.
- :class:`Window`: datagrams in flight (sent, not yet resolved by an ACK) are bounded by
  ``min(cwnd, receiver window)``. The receiver window (in ACKs) reflects its socket buffer,
  so on a clean path a fast sender cannot overrun a slow receiver. ``cwnd`` reacts to the
  *loss rate* per epoch (one round of ~``cwnd`` resolved datagrams), not to each loss:
  below 10% loss it grows (x1.5 in start-up, +25% after), above 10% it shrinks by the loss
  share (at most halving), on a retransmission timeout it halves. Random loss of a few
  percent therefore costs only the retransmissions, not throughput (the aim of a
  loss-tolerant UDP transport), while real congestion (losses rising with the rate) backs off.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TokenBucket", "Window"]

MIN_CWND = 4.0
MAX_CWND = 8192.0
LOSS_THRESHOLD = 0.10


class TokenBucket:
    """A bit/s cap; ``rate_bps=None`` means unlimited."""

    __slots__ = ("_last", "_tokens", "burst_bytes", "rate_bps")

    def __init__(self, rate_bps: float | None, *, burst_bytes: int = 131072) -> None:
        self.rate_bps = rate_bps
        self.burst_bytes = burst_bytes
        self._tokens = float(burst_bytes)
        self._last: float | None = None

    def set_rate(self, rate_bps: float | None) -> None:
        self.rate_bps = rate_bps

    def delay(self, nbytes: int, now: float) -> float:
        """Seconds to wait before ``nbytes`` may go; 0.0 when they may go now."""
        rate = self.rate_bps
        if rate is None:
            return 0.0
        if self._last is None:
            self._last = now
        bytes_per_s = rate / 8.0
        burst = max(float(self.burst_bytes), bytes_per_s * 0.005, float(nbytes))
        self._tokens = min(burst, self._tokens + (now - self._last) * bytes_per_s)
        self._last = now
        if self._tokens >= nbytes:
            return 0.0
        return (nbytes - self._tokens) / bytes_per_s

    def consume(self, nbytes: int) -> None:
        if self.rate_bps is not None:
            self._tokens -= nbytes


@dataclass(slots=True)
class Window:
    """Congestion window in datagrams plus an RTT estimator (RFC 6298 smoothing)."""

    cwnd: float = 32.0
    slow_start: bool = True
    srtt: float | None = None
    rttvar: float = 0.0
    min_rto: float = 0.2
    max_rto: float = 2.0
    _epoch_ok: int = 0
    _epoch_lost: int = 0

    @property
    def rto(self) -> float:
        if self.srtt is None:
            return 0.5
        return min(self.max_rto, max(self.min_rto, self.srtt + 4 * self.rttvar))

    def rtt_sample(self, sample: float) -> None:
        if sample <= 0:
            return
        if self.srtt is None:
            self.srtt, self.rttvar = sample, sample / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - sample)
            self.srtt = 0.875 * self.srtt + 0.125 * sample

    def limit(self, receiver_window: int) -> int:
        """Datagrams allowed in flight now."""
        return max(1, min(int(self.cwnd), receiver_window))

    def resolved(self, ok: int, lost: int) -> None:
        """Account datagrams resolved by an ACK: ``ok`` delivered, ``lost`` presumed lost."""
        self._epoch_ok += ok
        self._epoch_lost += lost
        total = self._epoch_ok + self._epoch_lost
        if total < max(8, int(self.cwnd)):
            return
        loss = self._epoch_lost / total
        if loss > LOSS_THRESHOLD:
            self.slow_start = False
            self.cwnd = max(MIN_CWND, self.cwnd * max(0.5, 1.0 - loss))
        elif self.slow_start:
            self.cwnd = min(MAX_CWND, self.cwnd * 1.5)
        else:
            self.cwnd = min(MAX_CWND, self.cwnd * 1.25)
        self._epoch_ok = self._epoch_lost = 0

    def timeout(self) -> None:
        """A retransmission timeout: halve the window and leave start-up."""
        self.slow_start = False
        self.cwnd = max(MIN_CWND, self.cwnd / 2)
        self._epoch_ok = self._epoch_lost = 0
