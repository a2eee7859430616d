"""Benchmark: wall time of a conformance profile against the embedded pair, concurrent (the
default) next to serial (``--js-serial``) in the same invocation, with the sum of the cases'
own durations and the verdict counts of each run.

Usage::

    .venv/bin/python bench/bench_profile.py [--profile quick|full] [--no-serial]
                                            [--workers N|auto]

Targets (issue 13): quick profile <= 20 s wall, full profile <= 320 s wall, on 2 cores.
The verdict counts of both runs are printed side by side: they must be equal. A benchmark,
never a test; the numbers depend on the machine and on what else runs on it (``loadavg`` is
printed with them).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_profile(profile: str, extra: list[str], out: Path) -> dict[str, object]:
    """One ``pytest conformance`` run; wall time, sum of case durations, verdict counts."""
    argv = [sys.executable, "-m", "pytest", "conformance/", "-q", "-p", "no:cacheprovider",
            "--js-profile", profile, "--js-report-json", str(out), *extra]
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=1800)
    wall = time.monotonic() - started
    doc = json.loads(out.read_text())
    cases = doc["cases"]
    return {"wall_s": wall, "exit": proc.returncode,
            "sum_case_s": sum(float(c.get("durationS") or 0.0) for c in cases),
            "verdicts": dict(sorted(Counter(c["verdict"] for c in cases).items())),
            "ids": {c["id"]: c["verdict"] for c in cases}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=("quick", "full"), default="quick")
    parser.add_argument("--workers", default=None, help="--js-workers for the concurrent run")
    parser.add_argument("--no-serial", action="store_true", help="skip the serial run")
    args = parser.parse_args()
    target = {"quick": 20.0, "full": 320.0}[args.profile]
    runs: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        concurrent = ["--js-workers", args.workers] if args.workers else []
        runs["concurrent"] = run_profile(args.profile, concurrent, Path(tmp) / "c.json")
        if not args.no_serial:
            runs["serial"] = run_profile(args.profile, ["--js-serial"], Path(tmp) / "s.json")
    print(f"profile {args.profile}, {os.cpu_count()} CPUs, loadavg {os.getloadavg()}")
    for name, run in runs.items():
        print(f"{name:10} wall {run['wall_s']:7.1f} s (target {target:.0f} s)  sum of case "
              f"durations {run['sum_case_s']:7.1f} s  exit {run['exit']}  {run['verdicts']}")
    if "serial" in runs:
        same = runs["serial"]["ids"] == runs["concurrent"]["ids"]
        print(f"same verdict for every case id: {same}; serial/concurrent wall "
              f"{float(runs['serial']['wall_s']) / float(runs['concurrent']['wall_s']):.2f}x")
        return 0 if same else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
