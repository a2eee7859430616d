"""Benchmark: wall time of a conformance profile against the embedded pair, concurrent (the
default) next to serial (``--js-serial``) in the same invocation, with the sum of the cases'
own durations and the verdict counts of each run.

Usage::

    .venv/bin/python bench/bench_profile.py [--profile quick|full|both] [--no-serial]
                                            [--workers N|auto]

(``JSQA_BENCH_PROFILE=full`` does what ``--profile full`` does.) Targets (issue 13): quick
profile <= 20 s wall, full profile <= 320 s wall, on 2 cores. Each run prints its wall time,
the sum of its cases' own durations, its longest case (the full profile's 300 s request-record
expiry: the wall time cannot be shorter), the CPU time of its processes and the load average
before and after it; the serial and concurrent runs must give the same verdict for every case
id. A benchmark, never a test; the numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def run_profile(profile: str, extra: list[str], out: Path) -> dict[str, object]:
    """One ``pytest conformance`` run; wall time, sum of case durations, verdict counts."""
    argv = [sys.executable, "-m", "pytest", "conformance/", "-q", "-p", "no:cacheprovider",
            "--js-profile", profile, "--js-report-json", str(out), *extra]
    load_before = os.getloadavg()[0]
    cpu_before = _children_cpu_s()
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=1800)
    wall = time.monotonic() - started
    doc = json.loads(out.read_text())
    cases = doc["cases"]
    durations = {c["id"]: float(c.get("durationS") or 0.0) for c in cases}
    longest = max(durations, key=durations.__getitem__, default="")
    return {"wall_s": wall, "exit": proc.returncode, "cpu_s": _children_cpu_s() - cpu_before,
            "sum_case_s": sum(durations.values()),
            "longest": (longest, durations.get(longest, 0.0)),
            "load": (load_before, os.getloadavg()[0]),
            "verdicts": dict(sorted(Counter(c["verdict"] for c in cases).items())),
            "ids": {c["id"]: c["verdict"] for c in cases}}


def _children_cpu_s() -> float:
    """CPU seconds of the finished child processes (pytest, its workers, their pairs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench(profile: str, workers: str | None, serial: bool) -> bool:
    """Run one profile concurrent (and serial); print the numbers; True if the verdicts
    agree (or there is no serial run)."""
    target = {"quick": 20.0, "full": 320.0}[profile]
    runs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        concurrent = ["--js-workers", workers] if workers else []
        runs["concurrent"] = run_profile(profile, concurrent, Path(tmp) / "c.json")
        if serial:
            runs["serial"] = run_profile(profile, ["--js-serial"], Path(tmp) / "s.json")
    print(f"profile {profile}, {os.cpu_count()} CPUs (target {target:.0f} s wall)")
    for name, run in runs.items():
        case, seconds = run["longest"]
        print(f"  {name:10} wall {run['wall_s']:7.1f} s  sum of case durations "
              f"{run['sum_case_s']:7.1f} s  longest {seconds:6.1f} s ({case})  CPU "
              f"{run['cpu_s']:6.1f} s  loadavg {run['load'][0]:.1f} -> {run['load'][1]:.1f}  "
              f"exit {run['exit']}  {run['verdicts']}")
    if "serial" not in runs:
        return True
    same = runs["serial"]["ids"] == runs["concurrent"]["ids"]
    differ = sorted(i for i in runs["serial"]["ids"].keys() | runs["concurrent"]["ids"].keys()
                    if runs["serial"]["ids"].get(i) != runs["concurrent"]["ids"].get(i))
    print(f"  same verdict for every case id: {same}{' ' + str(differ[:10]) if differ else ''};"
          f" serial/concurrent wall "
          f"{float(runs['serial']['wall_s']) / float(runs['concurrent']['wall_s']):.2f}x")
    return same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=("quick", "full", "both"),
                        default=os.environ.get("JSQA_BENCH_PROFILE", "quick"))
    parser.add_argument("--workers", default=None, help="--js-workers for the concurrent run")
    parser.add_argument("--no-serial", action="store_true", help="skip the serial run")
    args = parser.parse_args()
    profiles = ("quick", "full") if args.profile == "both" else (args.profile,)
    same = [bench(p, args.workers, not args.no_serial) for p in profiles]
    return 0 if all(same) else 1


if __name__ == "__main__":
    raise SystemExit(main())
