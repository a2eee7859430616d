"""``jetstream-qa review``: conformance + load, then the self-contained release-review report.

Runs ``python -m pytest conformance/`` and ``--repeat`` times ``python -m locust -f
load/locustfile.py --headless`` against ``--target`` (or, with none, the embedded reference
pair), shows one progress bar per step (elapsed and remaining), writes ``OUT/review.html`` and
``OUT/review.json``, optionally saves or compares a baseline, and prints a one-screen summary
last. Exit status: 0 when everything passed, 1 on any FAIL, failed threshold, regression or
missing step report, 2 on a configuration error. The password is read only from
``JETSTREAM_API_PASSWORD``. See ``docs/review.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from jetstream_qa.errors import ConfigurationError
from jetstream_qa.loadstats.units import human_rate
from jetstream_qa.report.pipeline import ReviewOptions, ReviewOutcome, parse_duration, run_review

__all__ = ["HELP", "add_arguments", "run"]

HELP = "Run conformance + load and write the release-review report."
_SUMMARY_ITEMS = 8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the review options."""
    t = parser.add_argument_group("target (none = embedded reference pair)")
    t.add_argument("--target", metavar="HOST:PORT", help="sending server under test")
    t.add_argument("--receiver", metavar="HOST:PORT", help="receiving server (default: target)")
    t.add_argument("--user", help="API user (password only from $JETSTREAM_API_PASSWORD)")
    t.add_argument("--client", "--js-client", dest="client",
                   choices=("auto", "vendor", "bundled"),
                   help="client of both steps (passed as --js-client; default: auto)")
    t.add_argument("--binding", "--js-binding", dest="binding", type=Path, metavar="FILE",
                   help="the vendor client's binding file, for both steps (docs/staging.md)")
    c = parser.add_argument_group("conformance")
    c.add_argument("--profile", choices=("quick", "full"), default="quick")
    c.add_argument("--pytest-arg", action="append", default=[], metavar="ARG",
                   help="extra argument for the conformance pytest run (repeatable)")
    c.add_argument("--conformance-json", type=Path, metavar="PATH",
                   help="use this conformance.json instead of running the suites")
    c.add_argument("--skip-conformance", action="store_true")
    ld = parser.add_argument_group("load")
    ld.add_argument("--scenario", metavar="NAME",
                    help="scenario (small-files, large-files, mixed, memory, api-storm) or "
                         "Locust user class; default: all, by weight")
    ld.add_argument("--scale", type=float, help="scale file-set sizes (--js-scale)")
    ld.add_argument("--seed", type=int, default=1,
                    help="seed of file sets and choices, the same for every run (--js-seed)")
    ld.add_argument("--users", type=int, default=4)
    ld.add_argument("--spawn-rate", type=float, default=4.0)
    ld.add_argument("--run-time", default="30s", help="per load run (30s, 2m, ...)")
    ld.add_argument("--repeat", type=int, default=1, help="load runs (samples per metric)")
    ld.add_argument("--loss", type=float, default=0.0, help="datagram loss 0..1 (relay)")
    ld.add_argument("--delay-ms", type=float, default=0.0, help="one-way delay (relay)")
    ld.add_argument("--check", action="append", default=[], metavar="EXPR",
                    help="load threshold passed to --js-check (repeatable)")
    ld.add_argument("--locust-arg", action="append", default=[], metavar="ARG",
                    help="extra argument for each locust run (repeatable)")
    ld.add_argument("--load-json", type=Path, action="append", default=[], metavar="PATH",
                    help="use this load.json (repeatable) instead of running Locust")
    ld.add_argument("--skip-load", action="store_true")
    b = parser.add_argument_group("baseline")
    b.add_argument("--save-baseline", metavar="NAME", help="store this run as baseline NAME")
    b.add_argument("--baseline", metavar="NAME", help="compare with stored baseline NAME")
    b.add_argument("--baseline-dir", type=Path, help="baseline store (default OUT/baselines)")
    o = parser.add_argument_group("output")
    o.add_argument("--out", type=Path, default=Path("reports"), help="output directory")
    o.add_argument("--project-dir", type=Path, default=Path("."),
                   help="checkout holding conformance/ and load/ (default: current directory)")
    o.add_argument("--no-progress", action="store_true", help="no progress bars")


def _options(args: argparse.Namespace) -> ReviewOptions:
    return ReviewOptions(
        out=args.out, project_dir=args.project_dir, target=args.target, receiver=args.receiver,
        user=args.user, profile=args.profile, scenario=args.scenario, users=args.users,
        spawn_rate=args.spawn_rate, run_time_s=parse_duration(args.run_time),
        repeat=args.repeat, loss=args.loss, delay_ms=args.delay_ms, checks=tuple(args.check),
        scale=args.scale, seed=args.seed,
        save_baseline=args.save_baseline, baseline=args.baseline,
        baseline_dir=args.baseline_dir, conformance_json=args.conformance_json,
        load_json=tuple(args.load_json), skip_conformance=args.skip_conformance,
        skip_load=args.skip_load, pytest_args=tuple(args.pytest_arg),
        locust_args=tuple(args.locust_arg), client=args.client, binding=args.binding,
    )


def _progress(console: Console, enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description:<22}"), BarColumn(), TaskProgressColumn(),
        TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("remaining"),
        TimeRemainingColumn(), console=console, disable=not enabled, transient=False,
    )


def _sinks(progress: Progress):  # type: ignore[no-untyped-def]
    def make(description: str, expected: float):  # type: ignore[no-untyped-def]
        task = progress.add_task(description, total=max(expected, 1.0))

        def sink(**kw: Any) -> None:
            progress.update(task, **{k: v for k, v in kw.items() if v is not None})

        return sink

    return make


def _line(item: dict[str, Any]) -> str:
    kind = item["kind"]
    if kind == "verdict-change":
        return f"verdict changed  {item['id']}: {item['before'] or 'new'} -> {item['after']}"
    if kind in ("fail", "unexpected", "inconclusive"):
        actual = (item["case"].get("actual") or "").splitlines()[:1]
        return f"{item['case']['verdict']:<5} {item['id']}  {actual[0] if actual else ''}"[:160]
    if kind == "regression":
        m = item["metric"]
        rel = m["relativeChange"]
        pct = f"{rel * 100:+.1f} %" if rel is not None else ""
        return f"regression  {m['label']} ({m['name']}) {pct}"
    if kind == "check":
        return f"threshold failed  {item['expr']} (observed {item['observed']})"
    return f"step without report  {item['id']} (exit {item['exitCode']}) log: {item['log']}"


def _goodput_text(goodput: dict[str, Any]) -> str:
    """``623 MB/s steady (95 % CI 610-636 MB/s, window 2-29 s); mean incl. ramps 541 MB/s``."""
    steady, window = goodput.get("steady") or {}, goodput.get("window") or {}
    mean = f"mean incl. ramps {human_rate(goodput.get('meanBytesPerSecond'))}"
    if steady.get("meanBytesPerSecond") is None:
        return f"no measured window ({window.get('note') or 'no transfer'}); {mean}"
    ci = (f"95 % CI {human_rate(steady['ciLow'])} - {human_rate(steady['ciHigh'])}, "
          if steady.get("ciLow") is not None else "")
    state = str(steady.get("steadyState") or "")
    caveat = f"; steady state {state}" if state and state != "reached" else ""
    return (f"{human_rate(steady['meanBytesPerSecond'])} steady ({ci}window "
            f"{window['startS']:.0f}-{window['endS']:.0f} s){caveat}; {mean}")


def print_summary(console: Console, outcome: ReviewOutcome) -> None:
    """One screen: status, reasons, counts, load, top attention items, output paths."""
    doc = outcome.document
    colour = "green" if doc["status"] == "PASS" else "red"
    console.rule(f"[bold {colour}]release review: {doc['status']}")
    for reason in doc["reasons"]:
        console.print(f"  [red]- {reason}")
    table = Table(show_header=False, box=None, pad_edge=False)
    conf = doc["conformance"]
    if conf:
        counts = "  ".join(f"{k} {v}" for k, v in conf["counts"].items() if v)
        table.add_row("conformance", f"{conf['total']} cases: {counts}")
    runs = doc["load"]["runs"]
    if runs:
        for r in runs:
            table.add_row(f"goodput run {r['index']}", _goodput_text(r["goodput"]))
    if doc["comparison"]:
        moved = [m for m in doc["comparison"]["metrics"]
                 if m["movement"] in ("REGRESSION", "IMPROVEMENT") and m["gating"]]
        info = [m for m in doc["comparison"]["metrics"]
                if m["movement"] in ("REGRESSION", "IMPROVEMENT") and not m["gating"]]
        table.add_row("baseline", f"{doc['comparison']['baseline']}: "
                      f"{len(doc['comparison']['verdictChanges'])} verdict change(s), "
                      f"{len(moved)} metric(s) moved, {len(info)} informational")
    console.print(table)
    items = doc["attention"]
    for item in items[:_SUMMARY_ITEMS]:
        console.print(f"  {_line(item)}", markup=False, highlight=False)
    if len(items) > _SUMMARY_ITEMS:
        console.print(f"  ... and {len(items) - _SUMMARY_ITEMS} more in the report")
    console.print(f"report: {outcome.html_path}  data: {outcome.json_path}", highlight=False)
    if outcome.baseline_path:
        console.print(f"baseline saved: {outcome.baseline_path}", highlight=False)


def run(args: argparse.Namespace) -> int:
    """Run the review; returns 0 (all passed), 1 (something failed) or 2 (bad configuration)."""
    err = Console(stderr=True)
    out = Console(soft_wrap=True)
    try:
        opts = _options(args)
        with _progress(err, enabled=not args.no_progress) as progress:
            outcome = run_review(opts, sinks=_sinks(progress))
    except ConfigurationError as exc:
        sys.stderr.write(f"jetstream-qa review: {exc.message}\n")
        return 2
    print_summary(out, outcome)
    sys.stdout.flush()
    return int(outcome.document["exitCode"])
