"""Running the conformance suites against a (faulty) reference pair, and judging the run.

Theory of operation
-------------------
:func:`run_suites` starts an :class:`~jetstream_qa.refserver.embedded.EmbeddedPair` (the
fault, if any, on both servers: whichever side a defect lives on, the pair is the server
under test), then runs the real entry point of the suites in a subprocess::

    python -m pytest conformance/ --js-sender ... --js-receiver ... --js-user ...
        --js-profile quick --js-case GLOB ... --js-report-json PATH -p no:cacheprovider -q

as QA would against a pair started by hand (passwords only in the environment), and reads
the JSON summary back as ``{case id: verdict}``. :func:`judge_catch` decides whether a fault
was caught (:class:`Catch`); :func:`mutation_table` (from ``tests/mutation_report.py``)
renders the Markdown table of a run.
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catchers import Catcher
from mutation_report import mutation_table
from suite_runs import pair_environment, pair_options

from jetstream_qa.refserver.embedded import EmbeddedPair

__all__ = ["REPO", "STANDIN_ENV", "Catch", "SuiteRun", "judge_catch", "matching",
           "mutation_table", "run_suites", "standin_mode"]

REPO = Path(__file__).resolve().parents[2]
SUITES = REPO / "conformance"
STANDIN = REPO / "tests" / "vendor_standin"
STANDIN_BINDING = REPO / "fixtures" / "bindings" / "standin.toml"
STANDIN_ENV = "JSQA_META_STANDIN"
"""Set to 1 to run every meta-test a second time through the strict vendor stand-in with its
binding file (``--js-client vendor``): the mutation table gains a "through stand-in" column.
Opt-in: it doubles the meta-tests' time."""
RUN_TIMEOUT_S = 240.0
"""Bound on one subprocess run (its cases have their own timeouts well below this)."""
_CLEAN_VERDICTS = frozenset({"PASS", "INFO", "NOT_APPLICABLE"})
BUNDLED_ONLY = ("reference-protocol case", "needs the bundled client")
"""How a case says it needs the bundled client (its NOT_APPLICABLE reason)."""


@dataclass(frozen=True, slots=True)
class SuiteRun:
    """One subprocess run of the suites: verdict per case id, exit status, output tail."""

    verdicts: Mapping[str, str]
    exit_status: int
    output_tail: str
    duration_s: float
    bundled_only: Mapping[str, str] = field(default_factory=dict)
    """NOT_APPLICABLE cases that need the bundled client (reference-protocol cases): id ->
    reason. No vendor client can run them, so they cannot catch anything through one."""

    def unclean(self) -> dict[str, str]:
        """Cases whose verdict is not PASS/INFO/NOT_APPLICABLE."""
        return {k: v for k, v in self.verdicts.items() if v not in _CLEAN_VERDICTS}


def standin_mode() -> bool:
    """True when ``JSQA_META_STANDIN=1``: each meta-test also runs through the stand-in."""
    return os.environ.get(STANDIN_ENV, "") == "1"


def _environment(pair: EmbeddedPair, *, standin: bool = False) -> dict[str, str]:
    """The caller's environment without JETSTREAM_*/PYTEST_* leftovers, plus passwords (and
    the stand-in's package first on the path when ``standin``)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JETSTREAM_", "PYTEST_"))}
    env.update(pair_environment(pair))
    if standin:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(STANDIN), env.get("PYTHONPATH", "")) if p)
    return env


def run_suites(globs: Iterable[str], report: Path, *, faults: Sequence[str] = (),
               options: Sequence[str] = (), timeout: float = RUN_TIMEOUT_S,
               standin: bool = False) -> SuiteRun:
    """Start a pair with ``faults``, run the cases matching ``globs``, read the verdicts;
    ``standin``: through the strict vendor stand-in and its binding file instead of the
    bundled client.

    Raises:
        TransportError: a server of the pair did not start.
        AssertionError: the run timed out or wrote no JSON summary (output tail attached).
    """
    command = [sys.executable, "-m", "pytest", str(SUITES), "--js-profile", "quick",
               "--js-report-json", str(report), "-p", "no:cacheprovider", "-p", "no:xdist",
               "-q", "-rN"]
    for glob in sorted(set(globs)):
        command += ["--js-case", glob]
    # after pair_options (which names the bundled client): the last --js-client wins
    through = ["--js-client", "vendor", "--js-binding", str(STANDIN_BINDING)] if standin else []
    started = time.monotonic()
    with EmbeddedPair(faults=faults) as pair:
        try:
            proc = subprocess.run(command + pair_options(pair) + list(options) + through,
                                  cwd=REPO, env=_environment(pair, standin=standin),
                                  capture_output=True,
                                  text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"suite run timed out after {timeout:g} s: "
                                 f"{_tail(exc.stdout)}") from None
    tail = _tail(proc.stdout) + _tail(proc.stderr)
    try:
        summary: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AssertionError(f"no JSON summary ({exc}); exit {proc.returncode}: {tail}") \
            from None
    verdicts = {case["id"]: case["verdict"] for case in summary["cases"]}
    inherent = {case["id"]: str(case.get("actual") or "") for case in summary["cases"]
                if case["verdict"] == "NOT_APPLICABLE"
                and any(m in str(case.get("actual") or "") for m in BUNDLED_ONLY)}
    return SuiteRun(verdicts, proc.returncode, tail, time.monotonic() - started, inherent)


def _tail(text: str | bytes | None, lines: int = 25) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return "\n".join((text or "").splitlines()[-lines:])


def matching(glob: str, verdicts: Mapping[str, str]) -> dict[str, str]:
    """The cases of ``verdicts`` whose id matches ``glob`` (fnmatch, like ``--js-case``)."""
    return {k: v for k, v in verdicts.items() if fnmatch.fnmatchcase(k, glob)}


@dataclass(frozen=True, slots=True)
class Catch:
    """How a fault fared: the catching cases found, and what is missing per catcher entry."""

    caught_by: dict[str, str]
    """Case id -> verdict, for cases that gave the expected verdict."""
    missing: dict[str, str]
    """Catcher entry -> what was observed instead (empty when the fault is caught)."""

    @property
    def caught(self) -> bool:
        return not self.missing


def judge_catch(catcher: Catcher, verdicts: Mapping[str, str]) -> Catch:
    """Each entry of ``catcher.cases`` needs a matching case with ``catcher.verdict``."""
    caught_by: dict[str, str] = {}
    missing: dict[str, str] = {}
    for glob in catcher.cases:
        found = matching(glob, verdicts)
        hits = {k: v for k, v in found.items() if v == catcher.verdict}
        caught_by.update(hits)
        if not hits:
            missing[glob] = (", ".join(f"{k}: {v}" for k, v in sorted(found.items()))
                             or "no such case was run")
    return Catch(caught_by, missing)
