"""``jetstream-qa pair``: run the embedded reference pair in the foreground.

Prints the two servers' addresses and the path of a credentials file (JSON, mode 0600,
holding the generated users and passwords; passwords are never printed), then waits until
Ctrl-C or SIGTERM and stops both servers.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from jetstream_qa.errors import TransportError

__all__ = ["HELP", "add_arguments", "run"]

HELP = "Run the embedded reference pair in the foreground and print its addresses."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--min-cipher", type=int, default=0, choices=range(4))
    parser.add_argument("--fault", action="append", default=[], metavar="NAME[,NAME]")
    parser.add_argument("--ready-timeout", type=float, default=30.0)
    parser.add_argument("--serve-arg", action="append", default=[], metavar="ARG",
                        help="extra serve option for both servers, one token each "
                             "(--serve-arg=--tls)")


def _print(pair: Any, credentials: str) -> None:
    for side in (pair.sender, pair.receiver):
        print(f"{side.name}: api={side.host}:{side.api_port} "
              f"recv={side.recv_host}:{side.recv_port} serverId={side.server_id} "
              f"storage={side.storage_root}")
    print(f"users: {', '.join(u.name for u in pair.users)}")
    print(f"credentials: {credentials}", flush=True)


def run(args: argparse.Namespace) -> int:
    """Start the pair, print where it is, wait for a signal, stop it."""
    from jetstream_qa.refserver.embedded import EmbeddedPair

    faults = [n for v in args.fault for n in v.split(",") if n]
    pair = EmbeddedPair(min_cipher=args.min_cipher, faults=faults, extra_args=args.serve_arg,
                        ready_timeout=args.ready_timeout)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        pair.start()
    except TransportError as exc:
        print(f"jetstream-qa pair: {exc.message}", file=sys.stderr)
        return 1
    try:
        _print(pair, str(pair.write_credentials()))
        while not stop.wait(0.5):
            if pair.sender.proc is None or pair.sender.proc.poll() is not None \
                    or pair.receiver.proc is None or pair.receiver.proc.poll() is not None:
                print("jetstream-qa pair: a server exited", file=sys.stderr)
                return 1
    finally:
        pair.stop()
    return 0
