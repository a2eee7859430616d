"""``jetstream-qa relay``: forward UDP both ways with reproducible loss, duplication,
reordering, delay and jitter (:mod:`jetstream_qa.relay`).

Prints ``relay ready listen=HOST:PORT`` once bound. On exit (SIGINT, SIGTERM, or the
``--max-seconds`` / ``--max-datagrams`` budget) it prints one JSON line with the counts per
direction. It refuses non-loopback addresses unless ``--allow-remote`` is given.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from types import FrameType

from jetstream_qa.errors import ConfigurationError
from jetstream_qa.relay import Impairment, Relay, RelaySettings, format_hostport, parse_hostport

HELP = "Forward UDP between two addresses with reproducible impairment."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the relay options on ``parser``."""
    parser.add_argument("--listen", required=True, metavar="HOST:PORT",
                        help="address clients send to (port 0 = any free port)")
    parser.add_argument("--forward", required=True, metavar="HOST:PORT",
                        help="address datagrams are forwarded to")
    for name, what in (("loss", "drop"), ("duplicate", "send twice"),
                       ("reorder", "hold back behind the next datagram")):
        parser.add_argument(f"--{name}", type=float, default=0.0, metavar="P",
                            help=f"probability to {what} a datagram (0..1)")
    parser.add_argument("--delay", type=float, default=0.0, metavar="MS",
                        help="one-way delay added to every datagram")
    parser.add_argument("--jitter", type=float, default=0.0, metavar="MS",
                        help="uniform jitter +/- MS around --delay")
    parser.add_argument("--reorder-hold", type=float, default=10.0, metavar="MS",
                        help="longest wait of a held datagram for a successor (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the decision sequence")
    parser.add_argument("--max-seconds", type=float, default=None, metavar="S")
    parser.add_argument("--max-datagrams", type=int, default=None, metavar="N",
                        help="stop after receiving N datagrams (both directions)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="permit non-loopback --listen/--forward addresses")


def _settings(args: argparse.Namespace) -> RelaySettings:
    impairment = Impairment(loss=args.loss, duplicate=args.duplicate, reorder=args.reorder,
                            delay_ms=args.delay, jitter_ms=args.jitter,
                            hold_ms=args.reorder_hold)
    if args.max_seconds is not None and not args.max_seconds > 0:
        raise ConfigurationError(f"invalid --max-seconds {args.max_seconds!r}: must be > 0")
    if args.max_datagrams is not None and args.max_datagrams < 1:
        raise ConfigurationError(f"invalid --max-datagrams {args.max_datagrams!r}: must be >= 1")
    return RelaySettings(
        listen=parse_hostport(args.listen, option="--listen"),
        forward=parse_hostport(args.forward, option="--forward"),
        impairment=impairment, seed=args.seed, max_seconds=args.max_seconds,
        max_datagrams=args.max_datagrams, allow_remote=args.allow_remote)


def run(args: argparse.Namespace) -> int:
    """Run the relay in the foreground; returns 0, or 2 on a configuration error."""
    try:
        relay = Relay(_settings(args))
    except (ConfigurationError, OSError) as exc:
        print(f"jetstream-qa relay: {exc}", file=sys.stderr)
        return 2
    stop = {"flag": False}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop["flag"] = True

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"relay ready listen={format_hostport(*relay.address)}", flush=True)
        summary = relay.run(lambda: stop["flag"])
    finally:
        relay.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(json.dumps(summary, sort_keys=True), flush=True)
    return 0
