"""The ``jetstream-qa review`` pipeline: conformance step, N load steps, report, baseline.

Each step is a subprocess through the real entry points (``python -m pytest conformance/ ...``,
``python -m locust -f load/locustfile.py --headless ...``) writing its JSON report into the
output directory; the pipeline reads those reports back with the strict parsers of
:mod:`jetstream_qa.report.model`. A step that produced no readable report is recorded as such
(and makes the review FAIL) instead of aborting the run, so the HTML always shows what ran.

Without ``--target`` each step starts the embedded reference pair itself (the plugin and the
locustfile both do when given no address); ``--loss`` / ``--delay-ms`` put the impairment relay
between that pair for the load steps. Passwords come only from the environment and are handed
to the children through it, never through argv.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jetstream_qa import __version__
from jetstream_qa.errors import ConfigurationError
from jetstream_qa.report.baseline import Baseline, BaselineStore
from jetstream_qa.report.document import ReviewInputs, StepOutcome, build_document, fingerprint
from jetstream_qa.report.inputs import parse_conformance, parse_load
from jetstream_qa.report.model import ConformanceRun, LoadRun, ReportSchemaError
from jetstream_qa.report.redact import redact
from jetstream_qa.report.render import write_report
from jetstream_qa.report.steps import ProgressSink, pytest_progress, run_step, time_progress

__all__ = ["SECRET_ENV", "ReviewOptions", "ReviewOutcome", "parse_duration", "run_review"]

SECRET_ENV = ("JETSTREAM_API_PASSWORD", "JETSTREAM_API_PASSWORD2",
              "JETSTREAM_API_SUPERUSER_PASSWORD")
"""Environment variables holding passwords: passed to the children, scrubbed from outputs."""


def parse_duration(text: str) -> float:
    """Seconds of a Locust-style duration (``30s``, ``2m``, ``1h30m``, ``45``).

    Raises:
        ConfigurationError: not a positive duration (names the value).
    """
    total, num = 0.0, ""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0}
    for ch in text.strip().lower():
        if ch.isdigit() or ch == ".":
            num += ch
        elif ch in units and num:
            total += float(num) * units[ch]
            num = ""
        else:
            raise ConfigurationError(f"invalid --run-time {text!r}: expected e.g. 30s, 2m, 1h30m")
    if num:
        total += float(num)
    if total <= 0:
        raise ConfigurationError(f"invalid --run-time {text!r}: must be positive")
    return total


@dataclass(frozen=True, slots=True)
class ReviewOptions:
    """Resolved options of one review (see ``jetstream-qa review --help``)."""

    out: Path = Path("reports")
    project_dir: Path = Path(".")
    target: str | None = None
    receiver: str | None = None
    user: str | None = None
    profile: str = "quick"
    scenario: str | None = None
    users: int = 4
    spawn_rate: float = 4.0
    run_time_s: float = 30.0
    repeat: int = 1
    loss: float = 0.0
    delay_ms: float = 0.0
    checks: tuple[str, ...] = ()
    scale: float | None = None
    seed: int = 1
    save_baseline: str | None = None
    baseline: str | None = None
    baseline_dir: Path | None = None
    conformance_json: Path | None = None
    load_json: tuple[Path, ...] = ()
    skip_conformance: bool = False
    skip_load: bool = False
    pytest_args: tuple[str, ...] = ()
    locust_args: tuple[str, ...] = ()
    client: str | None = None
    """``--js-client`` of both steps (auto, vendor, bundled); None: each step's default."""
    binding: Path | None = None
    """``--js-binding`` of both steps: the vendor client's binding file (docs/staging.md)."""
    conformance_timeout_s: float = 3600.0
    load_grace_s: float = 180.0

    def __post_init__(self) -> None:
        if self.repeat < 1 or self.users < 1 or self.spawn_rate <= 0:
            raise ConfigurationError("invalid --repeat/--users/--spawn-rate: must be positive")
        if not 0.0 <= self.loss < 1.0 or self.delay_ms < 0:
            raise ConfigurationError(f"invalid --loss {self.loss!r} / --delay-ms "
                                     f"{self.delay_ms!r}: expected 0 <= loss < 1, delay >= 0")
        if (self.loss or self.delay_ms) and self.target:
            raise ConfigurationError("invalid --loss/--delay-ms with --target: the impairment "
                                     "relay sits between the embedded pair only")
        if self.receiver and not self.target:
            raise ConfigurationError("invalid --receiver without --target")
        if self.scale is not None and not self.scale > 0:
            raise ConfigurationError(f"invalid --scale {self.scale!r}: must be positive")
        if self.profile not in ("quick", "full"):
            raise ConfigurationError(f"invalid --profile {self.profile!r}: quick or full")

    @property
    def baselines(self) -> BaselineStore:
        """Where baselines are stored (``OUT/baselines`` unless ``--baseline-dir``)."""
        return BaselineStore(self.baseline_dir or self.out / "baselines")

    def public(self) -> dict[str, Any]:
        """Secret-free settings for the report's fingerprint."""
        return {
            "target": self.target or "embedded pair", "receiver": self.receiver,
            "user": self.user, "profile": self.profile, "scenario": self.scenario,
            "users": self.users, "spawnRate": self.spawn_rate, "runTimeS": self.run_time_s,
            "repeat": self.repeat, "scale": self.scale, "seed": self.seed,
            "impairment": {"loss": self.loss, "delayMs": self.delay_ms}
            if (self.loss or self.delay_ms) else None,
            "baseline": self.baseline, "saveBaseline": self.save_baseline,
        }


@dataclass(frozen=True, slots=True)
class ReviewOutcome:
    """What :func:`run_review` produced."""

    document: Mapping[str, Any]
    json_path: Path
    html_path: Path
    baseline_path: Path | None = None
    notes: tuple[str, ...] = field(default=())


StepSink = Callable[[str, float], ProgressSink]
"""Factory of progress sinks: ``(description, expected_seconds) -> sink``."""


def _null_sink(_description: str, _expected: float) -> ProgressSink:
    def sink(**_kw: Any) -> None:
        return None
    return sink


def _secrets(env: Mapping[str, str]) -> list[str]:
    return [env[name] for name in SECRET_ENV if env.get(name)]


def conformance_argv(opts: ReviewOptions, report: Path) -> list[str]:
    """Command line of the conformance step."""
    argv = [sys.executable, "-m", "pytest", "conformance/", "-v", "-p", "no:cacheprovider",
            "--js-profile", opts.profile, "--js-report-json", str(report)]
    if opts.target:
        argv += ["--js-sender", opts.target]
    if opts.receiver:
        argv += ["--js-receiver", opts.receiver]
    if opts.user:
        argv += ["--js-user", opts.user]
    return argv + _client_argv(opts) + list(opts.pytest_args)


def _client_argv(opts: ReviewOptions) -> list[str]:
    """The client and binding options both steps take under the same names."""
    argv = ["--js-client", opts.client] if opts.client else []
    if opts.binding is not None:
        argv += ["--js-binding", str(opts.binding.resolve())]
    return argv


def load_argv(opts: ReviewOptions, report: Path) -> list[str]:
    """Command line of one load step.

    Every repeated run gets the same ``--js-seed`` (file sets and choices are drawn from it),
    so runs differ by noise only and a baseline saved with the same seed ran the same work.
    Measured on the embedded pair, 6 s runs of the mixed scenario: 10, 19 and 27 MB/s with
    seeds 1, 2, 3, but 63-78 MB/s for large files with one seed.
    """
    argv = [sys.executable, "-m", "locust", "-f", "load/locustfile.py", "--headless",
            "-u", str(opts.users), "-r", f"{opts.spawn_rate:g}", "-t", f"{opts.run_time_s:g}s",
            "--only-summary", "--js-report", str(report), "--js-seed", str(opts.seed)]
    if opts.target:
        argv += ["--host", f"jetstream://{opts.target}"]
    if opts.receiver:
        argv += ["--js-receiver", f"jetstream://{opts.receiver}"]
    if opts.user:
        argv += ["--js-user", opts.user]
    if opts.loss:
        argv += ["--js-loss", f"{opts.loss:g}"]
    if opts.delay_ms:
        argv += ["--js-delay-ms", f"{opts.delay_ms:g}"]
    if opts.scale is not None:
        argv += ["--js-scale", f"{opts.scale:g}"]
    for expr in opts.checks:
        argv += ["--js-check", expr]
    argv += _client_argv(opts) + list(opts.locust_args)
    if opts.scenario:
        argv.append(user_class(opts.scenario))
    return argv


def user_class(scenario: str) -> str:
    """Locust user class of a scenario: ``small-files`` -> ``SmallFilesUser``; a name that
    already ends in ``User`` is a class name and is kept."""
    if scenario.endswith("User"):
        return scenario
    return "".join(part.capitalize() for part in scenario.replace("_", "-").split("-")) + "User"


def _read(path: Path, parse: Callable[..., Any]) -> tuple[Any, str]:
    if not path.is_file():
        return None, f"{path} was not written"
    try:
        return parse(json.loads(path.read_text("utf-8")), source=str(path)), ""
    except ValueError as exc:
        return None, f"{path}: not valid JSON ({exc})"
    except ReportSchemaError as exc:
        return None, exc.message


def _run_conformance(opts: ReviewOptions, env: Mapping[str, str],
                     sinks: StepSink) -> tuple[ConformanceRun | None, StepOutcome]:
    report = opts.out / "conformance.json"
    report.unlink(missing_ok=True)
    log = opts.out / "logs" / "conformance.log"
    sink = sinks(f"conformance ({opts.profile})", 1.0)
    result = run_step(conformance_argv(opts, report), log_path=log,
                      timeout_s=opts.conformance_timeout_s, on_line=pytest_progress(sink),
                      env=env, cwd=opts.project_dir, secrets=_secrets(env))
    run, problem = _read(report, parse_conformance)
    sink(completed=1.0, total=1.0)
    detail = "timed out" if result.timed_out else problem
    return run, StepOutcome("conformance", result.exit_code, result.duration_s,
                            run is not None, str(log), detail)


def _run_load(opts: ReviewOptions, env: Mapping[str, str], index: int,
              sinks: StepSink) -> tuple[LoadRun | None, StepOutcome]:
    report = opts.out / f"load-run{index}.json"
    report.unlink(missing_ok=True)
    log = opts.out / "logs" / f"load-run{index}.log"
    expected = opts.run_time_s + 10.0
    sink = sinks(f"load run {index}/{opts.repeat}", expected)
    result = run_step(load_argv(opts, report), log_path=log,
                      timeout_s=opts.run_time_s + opts.load_grace_s,
                      on_line=time_progress(sink, expected), env=env, cwd=opts.project_dir,
                      secrets=_secrets(env))
    run, problem = _read(report, parse_load)
    sink(completed=expected, total=expected)
    detail = "timed out" if result.timed_out else problem
    return run, StepOutcome(f"load run {index}", result.exit_code, result.duration_s,
                            run is not None, str(log), detail)


def _given(paths: Sequence[Path], parse: Callable[..., Any], name: str) -> list[Any]:
    out = []
    for path in paths:
        run, problem = _read(path, parse)
        if run is None:
            raise ConfigurationError(f"invalid --{name}: {problem}",
                                     details={"path": str(path)})
        out.append(run)
    return out


def _check_project(opts: ReviewOptions) -> None:
    needs = []
    if not (opts.skip_conformance or opts.conformance_json):
        needs.append(opts.project_dir / "conformance")
    if not (opts.skip_load or opts.load_json):
        needs.append(opts.project_dir / "load" / "locustfile.py")
    missing = [str(p) for p in needs if not p.exists()]
    if missing:
        raise ConfigurationError(f"invalid --project-dir {str(opts.project_dir)!r}: missing "
                                 f"{', '.join(missing)} (run from the jetstream-qa checkout)")


def run_review(opts: ReviewOptions, *, environ: Mapping[str, str] | None = None,
               sinks: StepSink = _null_sink, now: Callable[[], str] | None = None) -> ReviewOutcome:
    """Run the steps, write ``review.json`` / ``review.html``, save or compare a baseline.

    Raises:
        ConfigurationError: bad options, missing project files, unknown baseline, unreadable
            ``--conformance-json`` / ``--load-json``.
        ReportSchemaError: the baseline file is not a baseline.
    """
    env = dict(os.environ if environ is None else environ)
    stamp = (now or (lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")))()
    _check_project(opts)
    baseline = opts.baselines.load(opts.baseline) if opts.baseline else None
    if opts.save_baseline:
        opts.baselines.path(opts.save_baseline)  # validate the name before spending minutes
    opts.out.mkdir(parents=True, exist_ok=True)
    steps: list[StepOutcome] = []
    conformance: ConformanceRun | None = None
    if opts.conformance_json:
        conformance = _given([opts.conformance_json], parse_conformance, "conformance-json")[0]
    elif not opts.skip_conformance:
        conformance, step = _run_conformance(opts, env, sinks)
        steps.append(step)
    loads: list[LoadRun] = list(_given(opts.load_json, parse_load, "load-json"))
    if not opts.load_json and not opts.skip_load:
        for i in range(1, opts.repeat + 1):
            run, step = _run_load(opts, env, i, sinks)
            steps.append(step)
            if run is not None:
                loads.append(run)
    inputs = ReviewInputs(conformance=conformance, loads=loads, baseline=baseline,
                          settings=opts.public(), steps=steps, generated_at=stamp,
                          toolkit_version=__version__)
    secrets = _secrets(env)
    doc = build_document(inputs, secrets=secrets)
    json_path, html_path = write_report(doc, opts.out)
    saved = None
    if opts.save_baseline:
        fresh = Baseline.from_run(opts.save_baseline, conformance=conformance, loads=loads,
                                  saved_at=stamp, environment=fingerprint(inputs))
        clean = Baseline.from_json(redact(fresh.to_json(), secrets=secrets), source="baseline")
        saved = opts.baselines.save(clean)
    return ReviewOutcome(doc, json_path, html_path, saved)
