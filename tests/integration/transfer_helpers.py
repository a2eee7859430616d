"""Shared steps of the transfer integration tests: build a tree, send it, check it."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

from jetstream_qa.refserver.embedded import EmbeddedPair

__all__ = ["assert_counters", "assert_tree", "make_tree", "send_tree"]


def make_tree(root: Path, seed: int, sizes: list[int]) -> dict[str, bytes]:
    """Files of the given sizes under ``root``; returns {relative name: content}."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, size in enumerate(sizes):
        name = f"f{i}.bin"
        data = rng.randbytes(size)
        (root / name).write_bytes(data)
        out[name] = data
    return out


def send_tree(api: Any, pair: EmbeddedPair, src: Path, dest: str, *,
              port: int | None = None, wait: bool = True, **transfer: Any) -> dict[str, Any]:
    manifest = api.send.createManifest(mappings={f"/{dest}": str(src)})
    manifest = api.send.waitForManifest(manifest["manifestId"], timeout=30)
    assert manifest["status"] == "complete", manifest
    destination = api.send.createDestination(
        "127.0.0.1", destinationPort=port or pair.receiver.recv_port)
    t = api.send.createTransfer(destination["destinationId"], manifest["manifestId"],
                                **transfer)
    if wait:
        t = api.send.waitForTransfer(t["transferId"], timeout=180)
    return t


def assert_tree(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        got = (root / name).read_bytes()
        assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest(), name


def assert_counters(t: dict[str, Any], total: int) -> None:
    assert t["totalBytes"] == total
    assert t["totalBlocks"] == -(-total // 256)
    assert t["blocksAcked"] == t["totalBlocks"]
    assert t["blocksSent"] >= t["totalBlocks"]
    assert t["bytesSent"] >= total
    assert t["packetsSent"] > 0 and t["packetsRecv"] > 0
    assert t["startTime"] <= t["endTime"]
