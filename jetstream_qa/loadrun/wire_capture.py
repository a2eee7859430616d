"""The capture process of a load run: ``python -m jetstream_qa.loadrun.wire_capture``.

A load run's capture runs in its own process, not in Locust's: Locust's process is
gevent-patched (scapy's sniffer thread would become a greenlet sharing one core with the
users), and dissecting packets there would slow the very load it measures.

Protocol (one JSON object per line on stdout): after start, ``{"ready": true, "filter":
BPF}`` once the capture is open, or ``{"problem": TEXT}`` and exit 0 when the source does
not work. Then it counts (:class:`~jetstream_qa.loadrun.wire_evidence.CountingSink`) until a
line or end-of-file on stdin (the run's test stop) or the time bound, and prints ``{"rows":
{...}, "truncated": TEXT}`` (or ``{"problem": TEXT}``) and exits.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from typing import Any

from jetstream_qa.capture.sink import CaptureFailed, CaptureNotApplicable, Limits
from jetstream_qa.capture.source import CaptureFilter, CaptureSource
from jetstream_qa.capture.stream import open_capture
from jetstream_qa.errors import JetStreamQAError
from jetstream_qa.loadrun.wire_evidence import CountingSink

__all__ = ["main"]

_NICENESS = -10
_QUEUE_BYTES = 512 << 20
"""The capture's kernel queue (the kernel doubles it for its bookkeeping): room for seconds of
a loopback run's traffic (GSO batches of ~64 KB) while a capture that shares the cores with
the load catches up; memory is taken only while it is behind, and what is queued is read
before the capture stops (:data:`_DRAIN_S`). Drops after the capture was ready are reported
(``truncated``); the 3-129 drops first blamed on a small queue were counted before readiness
(see ``IfaceCapture._forget_drops_before_ready``)."""

_DRAIN_S = 40.0
"""How long, after the run's stop, the capture may read the packets queued for it (its
kernel queue holds up to 32 MiB, read at a few MB/s by a starved process under load);
within the 60 s the Locust side waits for the result (``locust_user.wire``)."""


def _say(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _run_ahead_of_the_load() -> None:
    """Raise this process's CPU priority (niceness -10; root only, else it stays as it is):
    a capture that shares the cores with the load it measures must not be the process the
    scheduler starves, or the kernel drops what it had no time to read (as tcpdump, the
    capture should be the last thing on the machine to fall behind)."""
    with contextlib.suppress(OSError):
        os.nice(_NICENESS - os.nice(0))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jetstream_qa.loadrun.wire_capture")
    parser.add_argument("--source", required=True)
    parser.add_argument("--receiver-ip", required=True)
    parser.add_argument("--receiver-port", type=int, required=True)
    parser.add_argument("--sender-ip", action="append", required=True)
    parser.add_argument("--max-seconds", type=float, required=True)
    parser.add_argument("--max-bytes", type=int, default=1 << 50)
    parser.add_argument("--max-packets", type=int, default=1 << 40)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one bounded counting capture (see the module docstring)."""
    args = _parser().parse_args(argv)
    _run_ahead_of_the_load()
    try:
        source = CaptureSource.parse(args.source)
        flt = CaptureFilter(args.receiver_ip, args.receiver_port, tuple(args.sender_ip))
    except (ValueError, JetStreamQAError) as exc:
        _say({"problem": f"bad capture source or filter: {exc}"})
        return 0
    limits = Limits(max_bytes=args.max_bytes, max_packets=args.max_packets,
                    timeout_s=args.max_seconds, queue_bytes=_QUEUE_BYTES)
    iface = source.value if source.kind == "iface" else None
    try:
        cap = open_capture(source, flt, limits=limits, sink=CountingSink)
        with cap:
            _say({"ready": True, "filter": flt.bpf(iface=iface)})
            sys.stdin.readline()  # the run's test stop (or our parent's end)
            drained = cap.drain(_DRAIN_S)
        sink: Any = cap.sink  # the CountingSink open_capture built
        if not drained and not sink.truncated:
            sink.truncated = (f"the capture had not read its backlog {_DRAIN_S:g} s after "
                              "the run's stop")
    except (CaptureFailed, CaptureNotApplicable) as exc:
        _say({"problem": f"capture source {source} failed: {exc.message}"})
        return 0
    except (OSError, JetStreamQAError) as exc:
        _say({"problem": f"capture source {source} failed: {type(exc).__name__}: {exc}"})
        return 0
    _say({"rows": sink.rows(), "truncated": sink.truncated})
    return 0


if __name__ == "__main__":
    sys.exit(main())
