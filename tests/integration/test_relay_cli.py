"""relay/cli/*: the real `jetstream-qa relay` in a subprocess, a UDP echo peer behind it.

The impairment decisions for the k-th datagram of a direction depend only on the seed and k,
so the test predicts exactly which datagrams the peer and the client must see. It does this
with the same sans-IO model the relay uses: c2s in the client's send order, s2c in the order
the peer echoed. Then it checks the prediction, the rates, reproducibility and the exit
summary.
"""

from __future__ import annotations

import json
import math
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from jetstream_qa.relay import Impairment, ImpairmentModel

TIMEOUT = 10.0


@dataclass
class EchoPeer:
    """A UDP echo server in a thread; records the order in which it received datagrams."""

    sock: socket.socket = field(default_factory=lambda: socket.socket(socket.AF_INET,
                                                                      socket.SOCK_DGRAM))
    received: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            with self.lock:
                self.received.append(data)
            self.sock.sendto(data, addr)

    def snapshot(self) -> list[bytes]:
        with self.lock:
            return list(self.received)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=TIMEOUT)
        self.sock.close()


@contextmanager
def relay_process(forward_port: int, *args: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """Start the relay CLI on a free port; yield (process, listen port); always reaped."""
    cmd = [sys.executable, "-m", "jetstream_qa", "relay", "--listen", "127.0.0.1:0",
           "--forward", f"127.0.0.1:{forward_port}", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = read_line(proc, TIMEOUT)
        assert line.startswith("relay ready listen=127.0.0.1:"), line
        yield proc, int(line.rsplit(":", 1)[1])
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=TIMEOUT)


def read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """One stdout line, or fail after ``timeout`` seconds."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise AssertionError("relay printed nothing in time")
    return proc.stdout.readline().strip()


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> dict[str, Any]:
    """Signal the relay, wait for a clean exit, return its JSON summary."""
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def client_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def receive_until(sock: socket.socket, got: list[bytes], want: Counter[bytes]) -> None:
    """Receive into ``got`` until it holds the multiset ``want``, with a deadline."""
    deadline = time.monotonic() + TIMEOUT
    while not Counter(got) >= want:
        left = deadline - time.monotonic()
        if left <= 0:
            missing = want - Counter(got)
            raise AssertionError(f"missing {sum(missing.values())} datagrams")
        sock.settimeout(left)
        got.append(sock.recv(65535))


def wait_for(peer: EchoPeer, want: Counter[bytes]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not Counter(peer.snapshot()) >= want:
        assert time.monotonic() < deadline, "peer did not receive the predicted datagrams"
        time.sleep(0.002)  # polling a thread's list with a deadline


def predicted_copies(model: ImpairmentModel[int], n: int) -> list[int]:
    """Copies per datagram index (0 = dropped) from the model's drop/dup decisions."""
    out = []
    for _ in range(n):
        d = model.decide()
        out.append(0 if d.drop else d.copies)
    return out


IMPAIRED = ("--loss", "0.15", "--duplicate", "0.1", "--reorder", "0.1")
IMP = Impairment(loss=0.15, duplicate=0.1, reorder=0.1)


def impaired_run(seed: int, n: int = 600, batch: int = 25) -> dict[str, Any]:
    """Drive n datagrams through an impaired relay; check them against the prediction."""
    c2s = predicted_copies(ImpairmentModel(IMP, seed=seed, direction="clientToServer"), n)
    s2c_model: ImpairmentModel[int] = ImpairmentModel(IMP, seed=seed, direction="serverToClient")
    peer = EchoPeer()
    client = client_socket()
    got: list[bytes] = []
    echoes_predicted = 0
    want_client: Counter[bytes] = Counter()
    try:
        with relay_process(peer.port, *IMPAIRED, "--seed", str(seed),
                           "--reorder-hold", "5") as (proc, port):
            for start in range(0, n, batch):
                for seq in range(start, min(n, start + batch)):
                    client.sendto(b"%08d" % seq + b"." * (seq % 200), ("127.0.0.1", port))
                want_peer = Counter({b"%08d" % k + b"." * (k % 200): c2s[k]
                                     for k in range(min(n, start + batch)) if c2s[k]})
                wait_for(peer, want_peer)
                echoed = peer.snapshot()
                for data in echoed[echoes_predicted:]:  # s2c decisions in the peer's order
                    d = s2c_model.decide()
                    if not d.drop:
                        want_client[data] += d.copies
                echoes_predicted = len(echoed)
                receive_until(client, got, want_client)
            summary = stop(proc)
    finally:
        peer.close()
        client.close()
    assert Counter(peer.snapshot()) == want_peer
    assert Counter(got) == want_client
    assert summary["clientToServer"]["received"] == n
    assert summary["clientToServer"]["forwarded"] == len(peer.snapshot())
    assert summary["serverToClient"]["received"] == len(peer.snapshot())
    assert summary["serverToClient"]["forwarded"] == len(got)
    return {"summary": summary, "peer": Counter(peer.snapshot()), "client": Counter(got)}


def test_relay_cli_impairment_predicted_reproducible_and_within_rates() -> None:
    """relay/cli/impairment: exact prediction, same seed -> same result, rates in bounds."""
    first = impaired_run(seed=11)
    second = impaired_run(seed=11)
    volatile = ("elapsedS", "listen", "forward")
    assert first["peer"] == second["peer"] and first["client"] == second["client"]
    assert {k: v for k, v in first["summary"].items() if k not in volatile} == {
        k: v for k, v in second["summary"].items() if k not in volatile}
    other = impaired_run(seed=12)
    assert other["peer"] != first["peer"]
    for direction in ("clientToServer", "serverToClient"):
        s = first["summary"][direction]
        n = s["received"]
        assert abs(s["dropped"] - 0.15 * n) <= 5 * math.sqrt(n * 0.15 * 0.85) + 1, s
        kept = n - s["dropped"]
        assert abs(s["duplicated"] - 0.1 * kept) <= 5 * math.sqrt(kept * 0.09) + 1, s
        assert s["reordered"] > 0 and s["dropped"] > 0 and s["duplicated"] > 0


def big(k: int) -> bytes:
    return b"A%d." % k + bytes([k]) * ((k % 5) * 12_000)


def test_relay_cli_passthrough_both_directions_and_clients() -> None:
    """relay/cli/passthrough: two clients, every datagram both ways, replies to the sender."""
    peer = EchoPeer()
    a, b = client_socket(), client_socket()
    try:
        with relay_process(peer.port) as (proc, port):
            for k in range(100):  # A's datagrams up to 48 kB; wait for every batch of 5
                a.sendto(big(k), ("127.0.0.1", port))
                b.sendto(b"B%d" % k, ("127.0.0.1", port))
                if k % 5 == 4:
                    got_a: list[bytes] = []
                    got_b: list[bytes] = []
                    receive_until(a, got_a, Counter({big(j): 1 for j in range(k - 4, k + 1)}))
                    receive_until(b, got_b, Counter({b"B%d" % j: 1 for j in range(k - 4, k + 1)}))
                    assert not set(got_a) & set(got_b)
            summary = stop(proc, signal.SIGINT)
    finally:
        peer.close()
        a.close()
        b.close()
    assert summary["reason"] == "signal" and summary["clients"] == 2
    for direction in ("clientToServer", "serverToClient"):
        assert summary[direction]["received"] == summary[direction]["forwarded"] == 200
        assert summary[direction]["dropped"] == 0


def test_relay_cli_delay_is_applied() -> None:
    """relay/cli/delay: a round trip through --delay 40 takes at least 80 ms."""
    peer = EchoPeer()
    client = client_socket()
    try:
        with relay_process(peer.port, "--delay", "40") as (proc, port):
            started = time.monotonic()
            client.sendto(b"ping", ("127.0.0.1", port))
            client.settimeout(TIMEOUT)
            assert client.recv(100) == b"ping"
            assert time.monotonic() - started >= 0.080
            summary = stop(proc)
    finally:
        peer.close()
        client.close()
    assert summary["clientToServer"]["delayed"] == summary["serverToClient"]["delayed"] == 1


def test_relay_cli_budgets_end_the_run() -> None:
    """relay/cli/bounded: --max-datagrams and --max-seconds end the relay by themselves."""
    peer = EchoPeer()
    client = client_socket()
    try:
        with relay_process(peer.port, "--max-datagrams", "5") as (proc, port):
            for k in range(3):
                client.sendto(b"%d" % k, ("127.0.0.1", port))
            out, _ = proc.communicate(timeout=TIMEOUT)
            summary = json.loads(out.strip().splitlines()[-1])
            assert proc.returncode == 0
        assert summary["reason"] == "max-datagrams"
        received = summary["clientToServer"]["received"] + summary["serverToClient"]["received"]
        assert received == 5
        with relay_process(peer.port, "--max-seconds", "0.3") as (proc, _port):
            out, _ = proc.communicate(timeout=TIMEOUT)
            assert json.loads(out.strip().splitlines()[-1])["reason"] == "max-seconds"
    finally:
        peer.close()
        client.close()


@pytest.mark.parametrize("args", [
    ["--listen", "127.0.0.1:0", "--forward", "192.0.2.1:9"],
    ["--listen", "0.0.0.0:0", "--forward", "127.0.0.1:9"],
    ["--listen", "127.0.0.1:0", "--forward", "127.0.0.1:9", "--loss", "2"],
    ["--listen", "127.0.0.1", "--forward", "127.0.0.1:9"],
])
def test_relay_cli_refuses_remote_and_bad_settings(args: list[str]) -> None:
    """relay/cli/safety: non-loopback addresses need --allow-remote; bad values exit 2."""
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-m", "jetstream_qa", "relay", *args],
                          capture_output=True, text=True, timeout=TIMEOUT, env=env)
    assert proc.returncode == 2
    assert "relay ready" not in proc.stdout
    if "192.0.2.1:9" in args or "0.0.0.0:0" in args:
        assert "--allow-remote" in proc.stderr
