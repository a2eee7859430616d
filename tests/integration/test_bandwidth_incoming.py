"""The receiver's incoming bandwidth limit is enforced on the wire (two real servers).

Requirement (vendor server guide 9, "Bandwidth management": server-wide inbound cap
``--incoming-rate-limit`` in bit/s; docs/protocol.md 5.6 ``rateCap``): a receiver started with
``--incoming-rate-limit 8000000`` advertises its allowance to the sending session, so a
~2 MB transfer's measured rate (totalBytes x 8 / (endTime - startTime) µs) stays at the cap
(a generous 1.3x margin: this is a cap check, not a speed assertion). Without the limit the
same transfer must be faster than the cap, else the check above proves nothing. That direction
is an assertion, never a skip: a server that caps without the option (the very defect a skip
would hide) runs at the cap. The cap is low on purpose: uncapped, this transfer ran at about
2,000 Mbit/s on an idle machine and at 26.5 Mbit/s at the slowest seen (2 cores saturated by
three concurrent test runs, 1,400-byte datagrams), still 2.5x the 10.4 Mbit/s line (1.3x the
8 Mbit/s cap) that a capped server cannot cross.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from transfer_helpers import assert_tree, make_tree, send_tree

from jetstream_qa.client import JetStream
from jetstream_qa.refserver.embedded import EmbeddedPair

pytestmark = pytest.mark.timeout(240)

LIMIT = 8_000_000
SIZES = [1_200_000, 800_000]  # 2 MB: 2 s at the cap


def _send(tmp_path: Path, receiver_args: list[str], name: str) -> tuple[dict[str, Any], float]:
    """Send SIZES through a fresh pair; returns the transfer and its rate in bit/s."""
    files = make_tree(tmp_path / name, 3, SIZES)
    with EmbeddedPair(receiver_args=receiver_args) as pair, \
            JetStream().api("127.0.0.1", pair.sender.api_port, timeout=30) as api:
        api.server.auth(pair.user.name, pair.user.password)
        t = send_tree(api, pair, tmp_path / name, name)
        assert t["status"] == "complete", t["errorMessage"]
        assert_tree(pair.receiver.storage_root / name, files)
        if receiver_args:
            limits = _bandwidth(pair)
            assert limits["incomingRateLimit"] == LIMIT, limits
    elapsed_us = t["endTime"] - t["startTime"]
    assert t["totalBytes"] == sum(SIZES) and elapsed_us > 0
    return t, t["totalBytes"] * 8 / (elapsed_us / 1e6)


def _bandwidth(pair: EmbeddedPair) -> dict[str, Any]:
    with JetStream().api("127.0.0.1", pair.receiver.api_port, timeout=30) as api:
        api.server.auth(pair.superuser.name, pair.superuser.password)
        info: dict[str, Any] = api.server.getServerInfo()
    limits: dict[str, Any] = info["bandwidthLimits"]
    return limits


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> float:
    _t, rate = _send(tmp_path_factory.mktemp("capped"),
                     ["--incoming-rate-limit", str(LIMIT)], "capped")
    return rate


def test_incoming_rate_limit_caps_the_senders_rate(capped: float) -> None:
    assert capped <= LIMIT * 1.3, \
        f"measured {capped / 1e6:.1f} Mbit/s over the {LIMIT / 1e6:g} Mbit/s cap"


def test_without_the_limit_the_same_transfer_is_faster_than_the_cap(
        capped: float, tmp_path: Path) -> None:
    _t, free = _send(tmp_path, [], "free")
    assert free > LIMIT * 1.3, (
        f"without --incoming-rate-limit the transfer ran at {free / 1e6:.1f} Mbit/s, within "
        f"1.3x of the {LIMIT / 1e6:g} Mbit/s cap (capped run {capped / 1e6:.1f}): a cap "
        "applied anyway?")
