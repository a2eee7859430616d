"""The packet suites against two reference servers in different network namespaces, targeted
like staging servers, with each ``--js-capture`` source.

Topology (created per module, always removed): a veth pair with a private /30 assigned only
on its two ends; the sending server on the root-namespace end, the receiving server
(``ip netns exec NS ... serve``) on the other. The suites run in a subprocess, as QA runs
them against staging: ``--js-sender A:PORT --js-receiver B:PORT`` plus the capture:

- ``iface:VETH_A``: scapy on the root-namespace end of the path;
- ``cmd:'ip netns exec NS tcpdump -i VETH_B -U -w - FILTER'``: a pcap stream from the other
  namespace (a small scapy writer stands in when tcpdump is not installed);
- ``file:PATH``: the same writer writing a file for the whole run, judged after the fact.

Clean pair: every protocol-agnostic case PASSes in each mode. With the seeded
``plaintext-when-encrypted`` fault: the marker cases FAIL in each mode. No source: every
case is NOT_APPLICABLE naming ``--js-capture``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from suite_runs import server_options

from jetstream_qa.capture.sink import Sink
from jetstream_qa.capture.source import CaptureFilter, CaptureSource
from jetstream_qa.capture.stream import open_capture
from jetstream_qa.refserver.embedded import EmbeddedServer, generate_users

pytestmark = [pytest.mark.packet, pytest.mark.xdist_group("capture-netns")]

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "conformance" / "test_packets.py"
CMD_TIMEOUT_S = 10.0
SUITE_TIMEOUT_S = 240.0
WRITER_READY_S = 10.0
AGNOSTIC = ("packets/plaintext/visible-at-none", "packets/plaintext/visible-at-unencrypted",
            "packets/plaintext/never-on-wire-at-encrypted_128",
            "packets/plaintext/never-on-wire-at-encrypted_256", "packets/wire/no-ip-fragments",
            "packets/wire/only-between-data-ports",
            "packets/garbage/running-transfer-undisturbed",
            "packets/replay/running-transfer-undisturbed",
            "packets/rate/send-rate-max-respected")
HIDDEN = ("packets/plaintext/never-on-wire-at-encrypted_128",
          "packets/plaintext/never-on-wire-at-encrypted_256")

SCAPY_WRITER = """
import sys
import scapy.layers.inet, scapy.layers.inet6, scapy.layers.l2
from scapy.sendrecv import sniff
from scapy.utils import PcapWriter
iface, flt = sys.argv[1], sys.argv[2]
out = PcapWriter(sys.argv[3] if len(sys.argv) > 3 else sys.stdout.buffer, sync=True)
sniff(iface=iface, filter=flt, store=False, prn=out.write,
      started_callback=lambda: print("listening on", iface, file=sys.stderr, flush=True))
"""
"""Stands in for ``tcpdump -U -w`` when tcpdump is not installed (same readiness line)."""


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=CMD_TIMEOUT_S,
                          check=check)


def _netns_usable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth, packet capture)"
    if shutil.which("ip") is None:
        return "iproute2 'ip' is not installed"
    try:
        _run("ip", "netns", "list")
    except (OSError, subprocess.SubprocessError) as exc:
        return f"'ip netns' is unavailable: {exc}"
    return None


class Veth:
    """A namespace and a veth pair with a private /30 (unique names per run)."""

    def __init__(self) -> None:
        tag = f"{os.getpid() % 10000:04d}{random.randrange(256):02x}"
        self.ns = f"jsqa-cap-{tag}"
        self.a, self.b = f"jqc{tag}a", f"jqc{tag}b"
        base = 4 * random.randrange(64)
        self.ip_a, self.ip_b = f"10.213.77.{base + 1}", f"10.213.77.{base + 2}"

    def up(self) -> None:
        _run("ip", "netns", "add", self.ns)
        _run("ip", "link", "add", self.a, "type", "veth", "peer", "name", self.b,
             "netns", self.ns)
        _run("ip", "addr", "add", f"{self.ip_a}/30", "dev", self.a)
        _run("ip", "link", "set", self.a, "up")
        _run("ip", "-n", self.ns, "addr", "add", f"{self.ip_b}/30", "dev", self.b)
        _run("ip", "-n", self.ns, "link", "set", self.b, "up")
        _run("ip", "-n", self.ns, "link", "set", "lo", "up")

    def down(self) -> None:
        _run("ip", "link", "del", self.a, check=False)
        _run("ip", "netns", "del", self.ns, check=False)


class NetnsServer(EmbeddedServer):
    """A reference server started inside a network namespace."""

    def __init__(self, ns: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.ns = ns

    def command(self) -> list[str]:
        return ["ip", "netns", "exec", self.ns, *super().command()]


class Pair:
    """Sender on the root-namespace end, receiver inside the namespace."""

    def __init__(self, veth: Veth, faults: tuple[str, ...]) -> None:
        users = generate_users()
        # Per-datagram traffic: with UDP segmentation offload a capture point on the sending
        # host sees each GSO batch as one super-packet (split by the kernel below it), which
        # the tamper/replay and byte-count checks of these tests cannot use (the MTU case
        # records such super-packets as INFO: see packets/wire/no-ip-fragments).
        args = ("--allow-remote-control", "--udp-offload", "off")
        self.sender = EmbeddedServer(name="sender", users=users, faults=faults,
                                     host=veth.ip_a, extra_args=args)
        self.receiver = NetnsServer(veth.ns, name="receiver", users=users, faults=faults,
                                    host=veth.ip_b, extra_args=args)

    def start(self) -> Pair:
        for server in (self.sender, self.receiver):
            server.launch()
        for server in (self.sender, self.receiver):
            server.wait_ready()
        return self

    def stop(self) -> None:
        for server in (self.receiver, self.sender):
            server.stop()

    def options(self) -> list[str]:
        return [*server_options(self.sender, self.receiver), "--js-user", self.sender.user.name]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("JETSTREAM_", "PYTEST_"))}
        env.update(JETSTREAM_API_PASSWORD=self.sender.user.password,
                   PYTHONDONTWRITEBYTECODE="1")
        return env

    def bpf(self) -> str:
        return CaptureFilter(self.receiver.recv_host, self.receiver.recv_port,
                             (self.sender.host,)).bpf()


@pytest.fixture(scope="module")
def veth() -> Iterator[Veth]:
    reason = _netns_usable()
    if reason:
        pytest.skip(reason)
    v = Veth()
    try:
        v.up()
        yield v
    finally:
        v.down()


@contextlib.contextmanager
def _pair(veth: Veth, faults: tuple[str, ...]) -> Iterator[Pair]:
    pair = Pair(veth, faults)
    try:
        yield pair.start()
    finally:
        pair.stop()


@pytest.fixture(scope="module")
def clean(veth: Veth) -> Iterator[Pair]:
    with _pair(veth, ()) as pair:
        yield pair


@pytest.fixture(scope="module")
def faulty(veth: Veth) -> Iterator[Pair]:
    with _pair(veth, ("plaintext-when-encrypted",)) as pair:
        yield pair


def _writer(veth: Veth, pair: Pair, out: str | None = None) -> list[str]:
    """The capture command inside the receiver's namespace (tcpdump, else scapy)."""
    flt = pair.bpf()
    if shutil.which("tcpdump"):
        # the docs/staging.md recipe: immediate delivery needs a ring of small slots
        cmd = ["tcpdump", "-i", veth.b, "--immediate-mode", "-B", "16384", "-s", "2048",
               "-U", "-Z", "root", "-w", out or "-", flt]
    else:
        cmd = [sys.executable, "-c", SCAPY_WRITER, veth.b, flt, *([out] if out else [])]
    return ["ip", "netns", "exec", veth.ns, *cmd]


@contextlib.contextmanager
def _file_capture(veth: Veth, pair: Pair, path: Path) -> Iterator[str]:
    """A writer filling ``path`` for the block; yields ``file:PATH`` once it listens."""
    err = path.with_suffix(".err")
    with open(err, "wb") as err_file:
        proc = subprocess.Popen(_writer(veth, pair, str(path)), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err_file,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + WRITER_READY_S
        while b"listening on" not in err.read_bytes():
            assert proc.poll() is None, f"capture writer exited: {err.read_bytes()!r}"
            assert time.monotonic() < deadline, "capture writer never started listening"
            time.sleep(0.02)
        yield f"file:{path}"
    finally:
        proc.terminate()
        try:
            proc.wait(CMD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(CMD_TIMEOUT_S)


def _suite(pair: Pair, tmp_path: Path, capture: str | None, *globs: str) -> dict[str, dict]:
    report = tmp_path / f"packets-{len(list(tmp_path.iterdir()))}.json"
    argv = [sys.executable, "-m", "pytest", str(SUITE), *pair.options(),
            "--js-report-json", str(report), "-p", "no:cacheprovider", "-q"]
    if capture:
        argv += ["--js-capture", capture]
    for glob in globs:
        argv += ["--js-case", glob]
    proc = subprocess.run(argv, cwd=REPO, env=pair.env(), capture_output=True, text=True,
                          timeout=SUITE_TIMEOUT_S, check=False)
    assert report.exists(), proc.stdout[-3000:] + proc.stderr[-2000:]
    return {c["id"]: c for c in json.loads(report.read_text())["cases"]}


def _verdicts(cases: dict[str, dict]) -> dict[str, str]:
    return {k: v["verdict"] for k, v in cases.items()}


def _capture_source(mode: str, veth: Veth, pair: Pair, stack: contextlib.ExitStack,
                    tmp_path: Path) -> str:
    if mode == "iface":
        return f"iface:{veth.a}"
    if mode == "cmd":
        return "cmd:" + shlex.join(_writer(veth, pair))
    return stack.enter_context(_file_capture(veth, pair, tmp_path / "run.pcap"))


@pytest.mark.parametrize("mode", ["iface", "cmd", "file"])
def test_clean_pair_passes_every_agnostic_case(mode, veth, clean, tmp_path):
    with contextlib.ExitStack() as stack:
        source = _capture_source(mode, veth, clean, stack, tmp_path)
        cases = _suite(clean, tmp_path, source)
    assert _verdicts(cases) == dict.fromkeys(AGNOSTIC, "PASS"), \
        {k: (v["verdict"], v["actual"]) for k, v in cases.items() if v["verdict"] != "PASS"}


@pytest.mark.parametrize("mode", ["iface", "cmd", "file"])
def test_plaintext_fault_fails_the_marker_cases(mode, veth, faulty, tmp_path):
    with contextlib.ExitStack() as stack:
        source = _capture_source(mode, veth, faulty, stack, tmp_path)
        cases = _suite(faulty, tmp_path, source, "packets/plaintext/never-on-wire-at-*")
    assert _verdicts(cases) == dict.fromkeys(HIDDEN, "FAIL"), \
        {k: (v["verdict"], v["actual"]) for k, v in cases.items()}
    for case in cases.values():
        assert case["expected"] == "0" and int(case["actual"]) > 0, case


def test_without_a_source_every_case_names_the_option(clean, tmp_path):
    cases = _suite(clean, tmp_path, None)
    assert _verdicts(cases) == dict.fromkeys(AGNOSTIC, "NOT_APPLICABLE")
    for case in cases.values():
        assert "--js-capture" in case["actual"], case


# --- the cmd: capture's own accounting, with tcpdump in the namespace ------------------------
class _SlowSink(Sink):
    """A reader as slow as a starved one (5 ms a packet; measured ~1 ms beside a busy test
    run): tcpdump blocks on the full pipe and its kernel ring holds the backlog meanwhile."""

    def offer(self, pkt: object) -> bool:
        time.sleep(0.005)
        return super().offer(pkt)


BURST = [b"%04d" % i + b"x" * 996 for i in range(300)]
"""300 KB: ~5 pipes full, so most of it waits in tcpdump's ring behind the slow reader."""
BURST_PORT = 9
"""Nothing listens there: only the capture's view of the datagrams matters."""


def _tcpdump_capture(veth: Veth, ring_kib: int = 16384):
    """A ``cmd:`` capture of tcpdump on the namespace's end, slow reader, and the filter.

    tcpdump's own filter takes the burst alone: the module's server pairs (``clean``,
    ``faulty``) stay up on the same veth, and their lingering sessions' keep-alives are UDP
    between the same two hosts -- the suite's filter would let tcpdump count one dropped
    beside the burst (seen: 219 dropped + 82 read of 300)."""
    if shutil.which("tcpdump") is None:
        pytest.skip("tcpdump is not installed")
    flt = CaptureFilter(veth.ip_b, BURST_PORT, (veth.ip_a,))
    burst_only = f"udp and src host {veth.ip_a} and dst host {veth.ip_b} and dst port {BURST_PORT}"
    argv = ["ip", "netns", "exec", veth.ns, "tcpdump", "-i", veth.b, "--immediate-mode",
            "-B", str(ring_kib), "-s", "2048", "-U", "-w", "-", burst_only]
    return open_capture(CaptureSource("cmd", shlex.join(argv)), flt, sink=_SlowSink)


def _send_burst(veth: Veth) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((veth.ip_a, 0))
        for payload in BURST:
            sock.sendto(payload, (veth.ip_b, BURST_PORT))


def _burst_seen(cap) -> list[bytes]:
    return [p.payload for p in cap.packets if p.dport == BURST_PORT]


def test_tcpdump_capture_drains_its_ring_before_stopping(veth):
    """drain() waits on tcpdump's own counts (SIGUSR1) until its ring is empty and every
    packet it wrote was read: the capture is then complete, however slow the reader."""
    with _tcpdump_capture(veth) as cap:
        _send_burst(veth)
        assert cap.drain(60)
    assert _burst_seen(cap) == BURST
    assert cap.truncated == "" and cap.kernel_drops() == 0


def test_tcpdump_capture_stopped_with_a_backlog_says_so(veth):
    """Stopped without a drain while its ring holds packets, the capture says how many were
    left (tcpdump's exit statistics) instead of handing back a short list as complete."""
    with _tcpdump_capture(veth) as cap:
        _send_burst(veth)
        deadline = time.monotonic() + 10
        while not cap.snapshot():
            assert time.monotonic() < deadline, "the capture saw nothing"
            time.sleep(0.02)
    assert len(_burst_seen(cap)) < len(BURST)
    assert "still in tcpdump's ring" in cap.truncated, cap.truncated


def test_tcpdump_capture_reports_its_kernel_drops(veth):
    """A ring too small for the backlog (64 KiB: ~30 slots) drops; the capture says how
    many, from tcpdump's own count, after a complete drain of what it kept."""
    with _tcpdump_capture(veth, ring_kib=64) as cap:
        _send_burst(veth)
        assert cap.drain(60)
    dropped = cap.kernel_drops()
    assert dropped > 0 and len(_burst_seen(cap)) == len(BURST) - dropped
    assert f"dropped {dropped} packet(s)" in cap.truncated, cap.truncated
