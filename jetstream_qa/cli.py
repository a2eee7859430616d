"""``jetstream-qa`` command line: one subcommand per module in :mod:`jetstream_qa.commands`.

Each subcommand module exposes ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``. Modules are imported only when their subcommand runs, so ``serve`` never
imports Locust and ``load`` never imports the server.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main"]

SUBCOMMANDS: dict[str, str] = {
    "serve": "Run a reference JetStream server (control plane + data plane).",
    "pair": "Run the embedded reference pair in the foreground and print its addresses.",
    "api": "Call one API command on a server and print the JSON result.",
    "relay": "Forward UDP between two addresses with reproducible impairment.",
    "review": "Run conformance + load and write the release-review report.",
    "vendor-probe": "Show which suite operations the vendor package binds; write a binding.",
}


def _module(name: str):  # type: ignore[no-untyped-def]
    return importlib.import_module(f"jetstream_qa.commands.{name.replace('-', '_')}")


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """Build the parser; only the chosen subcommand's module is imported."""
    parser = argparse.ArgumentParser(prog="jetstream-qa", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, help_text in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            _module(name).add_arguments(sp)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(args_list)
    args = parser.parse_args(args_list)
    return int(_module(args.command).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
