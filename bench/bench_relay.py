"""Relay throughput: sender -> relay -> sink vs sender -> sink direct, on loopback.

    python bench/bench_relay.py [--size 1400] [--seconds 3] [--impaired]

Both paths are measured in the same invocation, one after the other, and the ratio
relay/direct is printed. ``--impaired`` adds 1 % loss, duplication and reordering to the
relay run. The relay must never be the bottleneck of a transfer test, so the ratio tells how
much headroom it leaves.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import socket
import subprocess
import sys
import time


def _sink(port_q: mp.Queue, result_q: mp.Queue) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind(("127.0.0.1", 0))
    port_q.put(sock.getsockname()[1])
    buf = bytearray(65536)
    total = count = 0
    first = last = None
    sock.settimeout(1.0)
    while True:
        try:
            n = sock.recv_into(buf)
        except TimeoutError:
            break
        last = time.perf_counter()
        first = first or last
        total += n
        count += 1
    result_q.put((total, count, (last - first) if first and last else 0.0))


def _blast(port: int, size: int, seconds: float) -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    sock.connect(("127.0.0.1", port))
    data = b"x" * size
    end = time.perf_counter() + seconds
    sent = 0
    while time.perf_counter() < end:
        for _ in range(100):
            try:
                sock.send(data)
                sent += 1
            except OSError:
                pass
    return sent


def _start_relay(forward_port: int, extra: list[str]) -> tuple[subprocess.Popen[str], int]:
    relay = subprocess.Popen(
        [sys.executable, "-m", "jetstream_qa", "relay", "--listen", "127.0.0.1:0",
         "--forward", f"127.0.0.1:{forward_port}", "--max-seconds", "120", *extra],
        stdout=subprocess.PIPE, text=True)
    assert relay.stdout is not None
    line = relay.stdout.readline()
    return relay, int(line.rsplit(":", 1)[1])


def trial(size: int, seconds: float, *, relay_args: list[str] | None) -> dict[str, float]:
    """One run; ``relay_args`` None = direct. Returns bytes/s received at the sink."""
    port_q: mp.Queue = mp.Queue()
    result_q: mp.Queue = mp.Queue()
    sink = mp.Process(target=_sink, args=(port_q, result_q))
    sink.start()
    port = port_q.get(timeout=10)
    relay = None
    if relay_args is not None:
        relay, port = _start_relay(port, relay_args)
    sent = _blast(port, size, seconds)
    total, count, elapsed = result_q.get(timeout=30)
    sink.join(timeout=10)
    if relay is not None:
        relay.terminate()
        out, _ = relay.communicate(timeout=10)
        json.loads(out.strip().splitlines()[-1])  # the relay's exit counters parse
    return {"sent": sent, "received": count, "rate": total / elapsed if elapsed else 0.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1400,
                        help="datagram bytes (1400: wire size, the engine default)")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--impaired", action="store_true")
    args = parser.parse_args()
    impairment = (["--loss", "0.01", "--duplicate", "0.01", "--reorder", "0.01", "--seed", "1"]
                  if args.impaired else [])
    direct = trial(args.size, args.seconds, relay_args=None)
    relayed = trial(args.size, args.seconds, relay_args=impairment)
    print(f"datagram size {args.size} B")
    print(f"direct:  {direct['rate'] / 1e6:8.0f} MB/s ({direct['received']:.0f} datagrams)")
    print(f"relay:   {relayed['rate'] / 1e6:8.0f} MB/s ({relayed['received']:.0f} datagrams)"
          f"{' with 1% loss/dup/reorder' if args.impaired else ''}")
    ratio = relayed["rate"] / direct["rate"] if direct["rate"] else 0.0
    print(f"ratio relay/direct: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
