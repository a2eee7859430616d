"""A lossy path between the pair: the impairment relay (``jetstream-qa relay``) on loopback.

Theory of operation
-------------------
A case that needs packet loss between the sender and the receiver aims the sender's
destination at a relay instead of the receiver: :func:`lossy_path` runs the same relay as
``jetstream-qa relay`` (its library runner, :class:`~jetstream_qa.relay.background.
BackgroundRelay`) on this machine's loopback, forwarding to the receiver's data address and
dropping a seeded fraction of the sender's datagrams. The relay only listens on and forwards
to loopback, so the case is NOT_APPLICABLE unless both the sender and the receiver's data
address are loopback addresses (the embedded pair, or a pair started on this machine).

:func:`judge_retransmits` decides what a transfer that went through the relay proves about
``blocksRetransmitted`` without knowing the vendor's wire format: a block sent more often than
once (``blocksSent > totalBlocks``) was sent again, and under induced loss the only reason to
send a block again is that it was presumed lost (S1); so FAIL needs that evidence, and a run in
which no block was sent twice proves nothing (NOT_APPLICABLE, never FAIL).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from jetstream_qa.conformance_core.failures import NotApplicableCase
from jetstream_qa.relay.background import BackgroundRelay

__all__ = ["RetransmitEvidence", "is_loopback", "judge_retransmits", "lossy_path"]


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and literal 127.0.0.0/8 or ::1 addresses (no name lookup)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@contextmanager
def lossy_path(target: Any, *, loss: float, seed: int, max_seconds: float
               ) -> Iterator[BackgroundRelay]:
    """A relay dropping ``loss`` of the sender's datagrams to the receiver's data address;
    aim a destination at ``relay.address``. The relay stops after ``max_seconds`` at most.

    Raises:
        NotApplicableCase: the sender or the receiver's data address is not on loopback.
    """
    data = target.data_address
    remote = [f"{role} {host}" for role, host in (("sender", target.sender.host),
                                                   ("receiver data", data.host))
              if not is_loopback(host)]
    if remote:
        raise NotApplicableCase("the impairment relay runs on this machine's loopback only; "
                                f"not on loopback: {', '.join(remote)}")
    with BackgroundRelay(forward=(data.host, data.port), loss=loss, seed=seed,
                         max_seconds=max_seconds) as relay:
        yield relay


@dataclass(frozen=True, slots=True)
class RetransmitEvidence:
    """What one transfer through the lossy path shows about ``blocksRetransmitted``."""

    dropped: int
    """Datagrams the relay dropped on their way from the sender."""
    samples: tuple[int, ...]
    """``blocksRetransmitted`` at every sample, in order (the final Transfer last)."""
    blocks_sent: int
    total_blocks: int

    @property
    def resent(self) -> bool:
        """Some block was sent more than once (``blocksSent > totalBlocks``)."""
        return self.blocks_sent > self.total_blocks

    @property
    def final(self) -> int:
        return self.samples[-1] if self.samples else 0

    def describe(self) -> str:
        """One line for a failure's Actual."""
        return (f"blocksRetransmitted {self.final} (samples {list(self.samples[-6:])}), "
                f"blocksSent {self.blocks_sent}, totalBlocks {self.total_blocks}, "
                f"{self.dropped} datagram(s) dropped by the relay")


def judge_retransmits(dropped: int, transfers: Sequence[dict[str, Any]]) -> RetransmitEvidence:
    """The evidence of the sampled Transfer structures (the final one last).

    Raises:
        NotApplicableCase: nothing was lost (the relay dropped nothing, or no block was sent
            twice and none counted as retransmitted): the run proves nothing either way.
    """
    samples = tuple(int(t.get("blocksRetransmitted") or 0) for t in transfers)
    final = transfers[-1] if transfers else {}
    evidence = RetransmitEvidence(dropped, samples, int(final.get("blocksSent") or 0),
                                  int(final.get("totalBlocks") or 0))
    if dropped == 0 or (evidence.final == 0 and not evidence.resent):
        raise NotApplicableCase("no loss was induced on the data (" + evidence.describe()
                                + "): nothing to judge")
    return evidence
