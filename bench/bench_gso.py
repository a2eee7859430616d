"""Benchmark (issue 13): goodput at 1,400-byte wire datagrams with and without UDP GSO/GRO.

    python bench/bench_gso.py [--size BYTES] [--rounds N] [--seconds S] [--large]

In each round, alternating so shared-machine load hits every peer alike: the engine at
MIN_CIPHER NONE and ENCRYPTED_256 (network only, TRANSFER_FLAG_NONE) with offload on
(``serve --udp-offload auto``) and forced off (``--udp-offload off``: the old one datagram per
system call), a raw Python UDP blast at 1,400 B with and without GSO, iperf3 ``-u -b 0
-l 1400`` and single-core AES-256-GCM ``encrypt_into`` (64 KB and 1,280 B payloads). Prints
medians and the ratios of issue 13, each with the 1-minute load average it was measured at.
``--large`` adds the engine at the former 65,000-byte loopback datagrams.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _transfer import blast_pair, mb, median, raw_udp_blast, sparse_file, timed_transfer
from bench_crypto import aes_gcm_rate

from jetstream_qa.refserver.embedded import EmbeddedPair
from jetstream_qa.refserver.engine.udp_offload import BatchSender, probe_gso

WIRE = 1400
DATAGRAM = 20 + 8 + 5 * 256
"""The engine's DATA datagram at NONE and 1,400 bytes: header, prefix, 5 blocks."""


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def raw_gso_blast(total: int, size: int = DATAGRAM) -> dict[str, float]:
    """Like :func:`raw_udp_blast` but the sender hands the kernel one GSO batch per call
    (the receiving process reads one datagram per call, as there)."""
    proc, q, s = blast_pair(size)
    if not probe_gso(s):
        raise SystemExit("the kernel has no UDP_SEGMENT")
    batch = BatchSender(s, gso=True, max_datagram=WIRE)
    data = memoryview(os.urandom(size))
    count = total // size
    t0 = time.perf_counter()
    for _ in range(count):
        batch.add(data)
    batch.flush()
    sent_s = time.perf_counter() - t0
    n, got, recv_s = q.get(timeout=60)
    proc.join(10)
    s.close()
    return {"sentRate": count * size / sent_s, "recvRate": got / recv_s,
            "loss": 1 - n / count}


def iperf3_udp(seconds: float) -> tuple[float, float] | None:
    """iperf3 ``-u -b 0 -l 1400`` over loopback: (sent, received) bytes/s; None without
    iperf3. ``-b 0`` overruns the receiver, so both are printed."""
    exe = shutil.which("iperf3")
    if exe is None:
        return None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([exe, "-s", "-1", "-B", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # retried until the server listens
            out = subprocess.run([exe, "-c", "127.0.0.1", "-p", str(port), "-u", "-b", "0",
                                  "-l", str(WIRE), "-t", str(seconds), "-J"],
                                 capture_output=True, timeout=seconds + 30, check=False)
            if out.returncode == 0:
                end = json.loads(out.stdout)["end"]
                if "sum_sent" in end and "sum_received" in end:
                    return (float(end["sum_sent"]["bits_per_second"]) / 8,
                            float(end["sum_received"]["bits_per_second"]) / 8)
                if "sum" in end:  # older iperf3: one summary with the loss share
                    sent = float(end["sum"]["bits_per_second"]) / 8
                    return sent, sent * (1 - float(end["sum"].get("lost_percent", 0)) / 100)
            # not listening yet ("unable to connect"): try again until the deadline
        return None
    finally:
        server.kill()
        server.wait(10)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def engine(pairs: dict[str, EmbeddedPair], src: Path, key: str, cipher: int,
           tag: str) -> tuple[float, float]:
    """One transfer: (goodput bytes/s, CPU seconds of both servers per GiB). CPU per byte
    is far less distorted by a busy machine than the wall-clock rate."""
    pair = pairs[key]
    pids = [p.proc.pid for p in (pair.sender, pair.receiver) if p.proc is not None]
    before = sum(cpu_seconds(p) for p in pids)
    t = timed_transfer(pair, src, tag, transferFlags=0, minCipher=cipher)
    cpu = (sum(cpu_seconds(p) for p in pids) - before) / (t["totalBytes"] / (1 << 30))
    print(f"  engine {key:<14} cipher {cipher}: {mb(t['goodput'])} "
          f"({t['engineSeconds']:.2f} s, {cpu:.2f} CPU s/GiB, {t['packetsSent']} packets, "
          f"retransmitted {t['blocksRetransmitted']} blocks)  {load()}", flush=True)
    return float(t["goodput"]), cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=128 << 20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="iperf3 duration")
    parser.add_argument("--large", action="store_true")
    args = parser.parse_args()
    variants = {"gso": ["--udp-offload", "auto"], "no-offload": ["--udp-offload", "off"]}
    if args.large:
        variants["65000"] = ["--max-datagram", "65000"]
    res: dict[str, list[float]] = {}
    loads: list[float] = []

    def note(name: str, value: float | None) -> None:
        if value is not None:
            res.setdefault(name, []).append(value)

    with tempfile.TemporaryDirectory(prefix="jsqa-bench-") as tmp:
        src = sparse_file(Path(tmp) / "src" / "blob.bin", args.size).parent
        pairs = {k: EmbeddedPair(extra_args=v).start() for k, v in variants.items()}
        try:
            for r in range(args.rounds):
                print(f"round {r}:", flush=True)
                loads.append(os.getloadavg()[0])
                for key in variants:
                    for cipher in (0, 3):
                        rate, cpu = engine(pairs, src, key, cipher, f"{key}{cipher}{r}")
                        note(f"{key}/{cipher}", rate)
                        note(f"cpu {key}/{cipher}", cpu)
                blast = raw_udp_blast(args.size, DATAGRAM)
                gso = raw_gso_blast(args.size)
                note("blast", blast["recvRate"])
                note("blast-gso", gso["recvRate"])
                ip = iperf3_udp(args.seconds)
                if ip is not None:
                    note("iperf3-sent", ip[0])
                    note("iperf3", ip[1])
                note("aes64k", aes_gcm_rate(min(args.size, 256 << 20)))
                note("aes1280", aes_gcm_rate(min(args.size, 128 << 20), 5 * 256))
                print(f"  raw blast 1,400 B {mb(blast['recvRate'])} (loss {blast['loss']:.1%})"
                      f"  with GSO {mb(gso['recvRate'])} (loss {gso['loss']:.1%})  iperf3 "
                      f"sent {mb(ip[0]) if ip else 'n/a'} received {mb(ip[1]) if ip else 'n/a'}"
                      f"  AES-256-GCM "
                      f"64 KB {mb(res['aes64k'][-1])} 1,280 B {mb(res['aes1280'][-1])}  "
                      f"{load()}", flush=True)
        finally:
            for p in pairs.values():
                p.stop()
    report(res, args.rounds, loads)
    return 0


def report(res: dict[str, list[float]], rounds: int, loads: list[float]) -> None:
    m = {k: median(v) for k, v in res.items()}
    print(f"\nMEDIANS of {rounds} rounds (load average at round starts: "
          f"{', '.join(f'{x:.1f}' for x in loads)}; now {load()})")
    for k, v in m.items():
        print(f"  {k:<16} {f'{v:8.2f} CPU s/GiB (both servers)' if k.startswith('cpu') else mb(v)}")
    for key in ("gso", "no-offload", "65000"):
        if f"{key}/0" not in m:
            continue
        print(_ratio_line(key, "NONE", m[f"{key}/0"], [("raw blast", m["blast"], None),
                                                       ("GSO blast", m["blast-gso"], None),
                                                       *_iperf_peers(m, 1.0)]))
        print(_ratio_line(key, "ENCRYPTED_256", m[f"{key}/3"],
                          [("AES-256-GCM 64 KB", m["aes64k"], 0.4),
                           ("AES 1,280 B", m["aes1280"], None), *_iperf_peers(m, 0.5)]))


def _iperf_peers(m: dict[str, float], target: float) -> list[tuple[str, float, float | None]]:
    """iperf3's received (with ``target``) and sent rates as peers; none without iperf3."""
    if not m.get("iperf3"):
        return []
    return [("iperf3 received", m["iperf3"], target), ("iperf3 sent", m["iperf3-sent"], None)]


def _ratio_line(key: str, name: str, value: float,
                peers: list[tuple[str, float, float | None]]) -> str:
    """``RATIO key name / peer 1.23x (target >= t), / ...`` for each (label, rate, target)."""
    parts = [f"/ {label} {value / rate:.2f}x" + (f" (target >= {t}x)" if t else "")
             for label, rate, t in peers]
    return f"RATIO {key:<10} {name} " + ", ".join(parts)


if __name__ == "__main__":
    raise SystemExit(main())
