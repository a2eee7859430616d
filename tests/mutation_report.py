"""The mutation table of the meta-tests: records, the run's plan, and an honest score.

Theory of operation
-------------------
``tests/meta`` runs one test per registered fault (``jetstream_qa/refserver/faults.py``
``FAULTS``) plus one clean-pair test. Each test stores a record in ``reports/meta/`` tagged
with the run's id; at collection every process also stores the run's *plan*: which faults
and whether the clean pair were selected. :func:`finalize` is called once per run by the
process that is not an xdist worker (the xdist controller through ``tests/conftest.py``, or
the single process through ``tests/meta/conftest.py``) and decides:

- the plan selected every registered fault and the clean pair (a complete run): the table
  lists EVERY registered fault, caught, not caught, or "not run" when no record came back
  (its run crashed before recording); the denominator is the number of registered faults;
  ``reports/mutation.md`` is (re)written; any fault not run, or no clean-pair record, is a
  problem that fails the meta run;
- a partial or clean-only selection: no table is written or printed (a stale table from an
  earlier run is never shown as this run's).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = ["PLAN_PREFIX", "RECORDS", "TABLE", "Outcome", "finalize", "load_records",
           "mutation_table", "settle", "write_outcome", "write_plan"]

REPO = Path(__file__).resolve().parents[1]
RECORDS = REPO / "reports" / "meta"
TABLE = REPO / "reports" / "mutation.md"
PLAN_PREFIX = "plan-"


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_plan(run_id: str, *, faults: Sequence[str], clean: bool,
               registered: Mapping[str, str]) -> Path:
    """Store what this run selected (same content from every process of the run);
    ``registered`` is {fault: area} of every registered fault."""
    path = RECORDS / f"{PLAN_PREFIX}{run_id}.json"
    _atomic_write(path, json.dumps({"run": run_id, "faults": sorted(faults), "clean": clean,
                                    "registered": dict(sorted(registered.items()))},
                                   indent=1))
    return path


def load_records(run_id: str) -> tuple[list[dict[str, Any]], dict[str, str] | None]:
    """(fault records, clean-pair verdicts or None) stored by the run ``run_id``."""
    faults: list[dict[str, Any]] = []
    clean = None
    for path in sorted(RECORDS.glob("*.json")) if RECORDS.is_dir() else []:
        if path.name.startswith(PLAN_PREFIX):
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if data.get("run") != run_id:
            continue
        if data.get("kind") == "clean":
            clean = data["observed"]
        elif data.get("kind") == "fault":
            faults.append(data)
    return faults, clean


def _latest_plan(since: float | None, run_id: str | None) -> dict[str, Any] | None:
    if not RECORDS.is_dir():
        return None
    plans = []
    for path in RECORDS.glob(f"{PLAN_PREFIX}*.json"):
        try:
            stamp = path.stat().st_mtime
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if (run_id is None or data.get("run") == run_id) and (since is None or stamp >= since):
            plans.append((stamp, data))
    return max(plans, key=lambda p: p[0])[1] if plans else None


def mutation_table(records: Iterable[Mapping[str, Any]], *,
                   clean: Mapping[str, str] | None = None,
                   registered: Mapping[str, str] | None = None) -> str:
    """Markdown: fault -> catching cases -> verdict, with the clean pair's verdict beside.

    Each record is what ``test_mutation.py`` stores per fault: ``fault``, ``area``,
    ``expected`` (verdict), ``cases`` (catcher entries), ``observed`` ({case: verdict} of
    the cases matching them, fault on), ``caught`` (bool), ``gap`` (text or None).
    ``clean`` is {case: verdict} of the clean pair (None: not run). ``registered`` is
    {fault: area} of every registered fault: the denominator, with a "not run" row for each
    fault without a record (None: the records are the denominator, for tests of layout).
    """
    rows = sorted(records, key=lambda r: (r["area"], r["fault"]))
    seen = {r["fault"] for r in rows}
    missing = sorted((area, name) for name, area in (registered or {}).items()
                     if name not in seen)
    total = len(registered) if registered is not None else len(rows)
    caught = sum(1 for r in rows if r["caught"])
    score = 100 * caught // total if total else 0
    lines = ["# Mutation score of the conformance suites", "",
             f"{caught} of {total} faults caught ({score} %); quick profile; "
             "each fault on both servers of an embedded pair.", ""]
    if missing:
        lines += [f"**{len(missing)} registered faults did not run** (no record: their run "
                  "crashed or was not selected): " + ", ".join(f"`{n}`" for _, n in missing),
                  ""]
    standin = any("standin" in r for r in rows)
    if standin:
        through = sum(1 for r in rows if r.get("standin", {}).get("caught"))
        only = sum(1 for r in rows if r.get("standin", {}).get("bundledOnly"))
        lines += [f"Through the strict vendor stand-in (its binding file, "
                  f"`JSQA_META_STANDIN=1`): {through} of {caught} caught; {only} are caught "
                  "only by reference-protocol cases, which no vendor client can run.", ""]
    head = "| fault | area | catching case | expected | with fault | clean pair | caught |"
    lines += [head + (" through stand-in | caught (stand-in) |" if standin else ""),
              "|---|---|---|---|---|---|---|" + ("---|---|" if standin else "")]
    for r in rows:
        status = "yes" if r["caught"] else "**NO**" + (f" (missing: {r['gap']})"
                                                      if r.get("gap") else "")
        for case, verdict in sorted(r["observed"].items()) or [("(none run)", "-")]:
            before = (clean or {}).get(case, "not run")
            line = (f"| `{r['fault']}` | {r['area']} | `{case}` | {r['expected']} | "
                    f"{verdict} | {before} | {status} |")
            lines.append(line + (_standin_cells(r, case) if standin else ""))
    for area, name in missing:
        lines.append(f"| `{name}` | {area} | - | - | not run | - | **not run** |"
                     + (" - | - |" if standin else ""))
    return "\n".join(lines) + "\n"


def _standin_cells(record: Mapping[str, Any], case: str) -> str:
    """The stand-in columns of one row: its verdict of ``case`` and whether it caught."""
    through = record.get("standin")
    if through is None:
        return " not run | - |"
    caught = "yes" if through["caught"] else \
        "n/a (reference-protocol case)" if through.get("bundledOnly") else "**NO**"
    return f" {through['observed'].get(case, 'not run')} | {caught} |"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What :func:`finalize` did: the table text (None: not written) and the problems that
    must fail the meta run (empty: none)."""

    table: str | None
    problems: tuple[str, ...]
    note: str = ""


def finalize(*, since: float | None = None, run_id: str | None = None) -> Outcome | None:
    """Build the table of the run whose plan was stored after ``since`` (or has ``run_id``);
    ``None`` when no meta-test ran in it. Writes ``reports/mutation.md`` only for a run
    that selected every registered fault and the clean pair."""
    plan = _latest_plan(since, run_id)
    if plan is None:
        return None
    registered: dict[str, str] = dict(plan["registered"])
    records, clean = load_records(plan["run"])
    selected = set(plan["faults"])
    if selected != set(registered) or not plan["clean"]:
        note = (f"mutation table not written: this run selected {len(selected)} of "
                f"{len(registered)} registered faults"
                f"{'' if plan['clean'] else ' and not the clean pair'} (a partial run)")
        return Outcome(None, (), note)
    records = [r for r in records if r["fault"] in registered]
    text = mutation_table(records, clean=clean, registered=registered)
    _atomic_write(TABLE, text)
    problems = [f"fault {name!r} did not run (no record)"
                for name in sorted(set(registered) - {r["fault"] for r in records})]
    if clean is None:
        problems.append("the clean-pair run left no record")
    return Outcome(text, tuple(problems))


def settle(session: pytest.Session, key: pytest.StashKey[Outcome], outcome: Outcome | None
           ) -> None:
    """Keep ``outcome`` (None: no meta-test ran) in the stash under ``key`` for
    :func:`write_outcome`; its problems fail the session."""
    if outcome is None:
        return
    session.config.stash[key] = outcome
    if outcome.problems:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def write_outcome(terminalreporter: Any, outcome: Outcome | None) -> None:
    """Print the table (or why none was written) and the problems that fail the run;
    nothing for ``None`` (no meta-test ran)."""
    if outcome is None:
        return
    if outcome.table is None:
        terminalreporter.write_sep("=", "mutation table")
        terminalreporter.write_line(outcome.note)
        return
    terminalreporter.write_sep("=", f"mutation table ({TABLE.relative_to(REPO)})")
    terminalreporter.write_line(outcome.table)
    for problem in outcome.problems:
        terminalreporter.write_line(f"META RUN FAILS: {problem}", red=True)
