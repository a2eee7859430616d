"""Transfers through the impairment relay started by its real entry point, ``jetstream-qa relay``.

Requirement (issue "Reference server data plane", vendor technical overview S50: the protocol
is built to tolerate loss, reordering and duplication): through 5 % loss + 1 % duplication +
2 % reordering, and through 10 % loss, a transfer arrives byte-exact and the sender reports
``blocksRetransmitted > 0``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from transfer_helpers import assert_tree, make_tree, send_tree

from jetstream_qa.client import JetStream
from jetstream_qa.refserver.embedded import EmbeddedPair

pytestmark = pytest.mark.timeout(300)


def _relay(forward_port: int, *impairment: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "jetstream_qa", "relay", "--listen", "127.0.0.1:0",
         "--forward", f"127.0.0.1:{forward_port}", "--max-seconds", "240", *impairment],
        stdout=subprocess.PIPE, text=True)
    return proc


def _relay_port(proc: subprocess.Popen[str]) -> int:
    assert proc.stdout is not None
    line = proc.stdout.readline()  # 'relay ready listen=127.0.0.1:PORT'
    assert line.startswith("relay ready"), line
    return int(line.rsplit(":", 1)[1])


def _stop(proc: subprocess.Popen[str]) -> dict[str, Any]:
    proc.terminate()
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    return dict(json.loads(out.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def pair() -> Iterator[EmbeddedPair]:
    with EmbeddedPair() as p:
        yield p


@pytest.mark.parametrize(("impairment", "cipher"), [
    (("--loss", "0.05", "--duplicate", "0.01", "--reorder", "0.02"), 3),
    (("--loss", "0.05", "--duplicate", "0.01", "--reorder", "0.02"), 0),
    (("--loss", "0.10"), 1),
], ids=["loss5-dup1-reorder2-aes256", "loss5-dup1-reorder2-none", "loss10-unencrypted"])
def test_transfer_through_impaired_relay_is_byte_exact_and_retransmits(
        tmp_path: Path, pair: EmbeddedPair, impairment: tuple[str, ...], cipher: int) -> None:
    files = make_tree(tmp_path / "src", cipher, [6_000_000, 1_000_000, 4097, 0])
    relay = _relay(pair.receiver.recv_port, *impairment, "--seed", str(11 + cipher))
    try:
        port = _relay_port(relay)
        with JetStream().api("127.0.0.1", pair.sender.api_port, timeout=30) as api:
            api.server.auth(pair.user.name, pair.user.password)
            t = send_tree(api, pair, tmp_path / "src", f"relayed{cipher}", port=port,
                          minCipher=cipher)
    finally:
        summary = _stop(relay)
    assert t["status"] == "complete", t["errorMessage"]
    assert summary["clientToServer"]["dropped"] > 0
    assert t["blocksRetransmitted"] > 0
    assert t["blocksAcked"] == t["totalBlocks"] == -(-t["totalBytes"] // 256)
    assert_tree(pair.receiver.storage_root / f"relayed{cipher}", files)
