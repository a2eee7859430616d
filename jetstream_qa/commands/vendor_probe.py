"""``jetstream-qa vendor-probe``: what the installed vendor package offers the suites.

Imports the vendor's ``jetstream`` package (or the one under ``--path``), proves it is the
vendor's (``jetstream.constants.API_VERSION``, ``JetStream().api``), and prints one row per
operation, parameter and value the suites need: bound (and how) or missing (and which
binding-file key would supply it, with the package's candidates). ``--binding FILE`` checks
an existing binding file; ``--write-binding FILE`` writes a starter binding file. Nothing
connects to a server. Exit status: 0 when the package was probed, 2 when it is missing or is
not the vendor's, or the binding file is invalid.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from jetstream_qa.errors import ConfigurationError

__all__ = ["HELP", "add_arguments", "run"]

HELP = "Show which suite operations the installed vendor package binds, and write a binding."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--path", type=Path, help="directory holding the vendor 'jetstream' "
                        "package (put first on sys.path)")
    parser.add_argument("--binding", type=Path, help="binding file (TOML) to check")
    parser.add_argument("--write-binding", type=Path, metavar="FILE",
                        help="write a starter binding file for what is missing")


def _load(path: Path | None):  # type: ignore[no-untyped-def]
    from jetstream_qa.conformance_core.client_choice import _package_origin, vendor_surface
    if path is not None:
        sys.path.insert(0, str(path.resolve()))
    try:
        module = importlib.import_module("jetstream")
    except ImportError as exc:
        raise ConfigurationError(f"the vendor package 'jetstream' is not importable: {exc}"
                                 ) from None
    factory, constants = vendor_surface(module)
    return factory, constants, _package_origin(module)


def _table(rows, origin: str, source: str):  # type: ignore[no-untyped-def]
    from rich.markup import escape
    from rich.table import Table
    table = Table(title=escape(f"vendor package: {origin}\nbinding: {source}"))
    for column in ("operation / value", "status", "how / missing key", "candidates"):
        table.add_column(column, overflow="fold")
    for row in rows:
        status = "[green]bound[/]" if row.bound else "[red]missing[/]"
        table.add_row(escape(row.what), status, escape(row.how if row.bound else row.missing),
                      escape(", ".join(row.candidates)))
    return table


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from jetstream_qa.binding import binding_for
    from jetstream_qa.binding._probe import probe_rows, starter_binding
    console = Console()
    try:
        factory, constants, origin = _load(args.path)
        binding = binding_for("vendor", constants, args.binding)
    except ConfigurationError as exc:
        console.print(f"[red]vendor-probe:[/] {exc}", markup=True, highlight=False)
        return 2
    api = factory().api()  # unconnected: introspection only
    rows = probe_rows(binding, api)
    console.print(_table(rows, origin, binding.file.source))
    bound = sum(r.bound for r in rows)
    console.print(f"{bound} of {len(rows)} bound; {len(rows) - bound} missing")
    if args.write_binding is not None:
        args.write_binding.write_text(starter_binding(binding, api, origin=origin),
                                      encoding="utf-8")
        console.print(f"starter binding written to {args.write_binding}")
    return 0
