"""Review pipeline pieces: option validation, the step command lines, the step runner."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from jetstream_qa.errors import ConfigurationError
from jetstream_qa.report.pipeline import (
    ReviewOptions,
    conformance_argv,
    load_argv,
    parse_duration,
    user_class,
)
from jetstream_qa.report.steps import pytest_progress, run_step, time_progress


def test_durations() -> None:
    assert parse_duration("30s") == 30 and parse_duration("2m") == 120
    assert parse_duration("1h30m") == 5400 and parse_duration("45") == 45
    for bad in ("", "0s", "abc", "5x"):
        with pytest.raises(ConfigurationError, match="--run-time"):
            parse_duration(bad)


def test_option_validation() -> None:
    with pytest.raises(ConfigurationError, match="impairment"):
        ReviewOptions(target="h:1", delay_ms=5)
    with pytest.raises(ConfigurationError, match="--receiver without --target"):
        ReviewOptions(receiver="h:2")
    with pytest.raises(ConfigurationError, match="--loss"):
        ReviewOptions(loss=1.5)
    with pytest.raises(ConfigurationError, match="--repeat"):
        ReviewOptions(repeat=0)


def test_scenario_names_map_to_user_classes() -> None:
    assert user_class("small-files") == "SmallFilesUser"
    assert user_class("api-storm") == "ApiStormUser"
    assert user_class("memory") == "MemoryUser"
    assert user_class("MixedUser") == "MixedUser"


def test_command_lines_against_a_target() -> None:
    opts = ReviewOptions(target="10.0.0.5:8886", receiver="10.0.0.6:8886", user="qa",
                         profile="full", scenario="large-files", users=8, spawn_rate=2,
                         run_time_s=60, checks=("goodput >= 100MB/s",), scale=0.1)
    conf = conformance_argv(opts, Path("out/conformance.json"))
    assert conf[:4] == [sys.executable, "-m", "pytest", "conformance/"]
    assert conf[conf.index("--js-sender") + 1] == "10.0.0.5:8886"
    assert conf[conf.index("--js-receiver") + 1] == "10.0.0.6:8886"
    assert conf[conf.index("--js-profile") + 1] == "full"
    load = load_argv(opts, Path("out/load-run2.json"))
    assert load[:5] == [sys.executable, "-m", "locust", "-f", "load/locustfile.py"]
    assert load[load.index("--host") + 1] == "jetstream://10.0.0.5:8886"
    assert load[load.index("-u") + 1] == "8" and load[load.index("-t") + 1] == "60s"
    assert load[load.index("--js-check") + 1] == "goodput >= 100MB/s"
    assert load[load.index("--js-seed") + 1] == "1" and load[-1] == "LargeFilesUser"
    assert "--js-loss" not in load


def test_client_and_binding_reach_both_steps(tmp_path: Path) -> None:
    binding = tmp_path / "vendor.toml"
    opts = ReviewOptions(client="vendor", binding=binding, scenario="memory")
    for argv in (conformance_argv(opts, Path("c.json")), load_argv(opts, Path("l.json"))):
        assert argv[argv.index("--js-client") + 1] == "vendor"
        assert argv[argv.index("--js-binding") + 1] == str(binding.resolve())
    assert "--js-client" not in conformance_argv(ReviewOptions(), Path("c.json"))
    assert "--js-binding" not in load_argv(ReviewOptions(), Path("l.json"))


def test_command_lines_for_the_embedded_pair_with_impairment() -> None:
    opts = ReviewOptions(loss=0.02, delay_ms=10)
    conf = conformance_argv(opts, Path("c.json"))
    load = load_argv(opts, Path("l.json"))
    assert "--js-sender" not in conf and "--host" not in load
    assert load[load.index("--js-loss") + 1] == "0.02"
    assert load[load.index("--js-delay-ms") + 1] == "10"


def test_step_runner_logs_scrubs_and_reports_progress(tmp_path: Path) -> None:
    seen: dict[str, float] = {}

    def sink(**kw: float | None) -> None:
        seen.update({k: v for k, v in kw.items() if v is not None})

    code = ("print('collected 3 items'); print('t.py::a PASS'); print('t.py::b FAIL');"
            "print('pw=Sekrit-Value-9'); print('t.py::c INFO'); raise SystemExit(1)")
    log = tmp_path / "step.log"
    result = run_step([sys.executable, "-c", code], log_path=log, timeout_s=60,
                      on_line=pytest_progress(sink), secrets=["Sekrit-Value-9"])
    assert result.exit_code == 1 and not result.timed_out
    assert seen == {"total": 3, "completed": 3}
    text = log.read_text()
    assert "Sekrit-Value-9" not in text and "pw=[REDACTED]" in text


def test_progress_counts_a_concurrent_run() -> None:
    """The conformance step runs on pytest-xdist workers by default: its total comes from
    ``N workers [M items]`` and each ``[gwK]`` verdict line counts once (the line xdist
    prints when a case starts carries no verdict)."""
    seen: dict[str, float] = {}

    def sink(**kw: float | None) -> None:
        seen.update({k: v for k, v in kw.items() if v is not None})

    handle = pytest_progress(sink)
    for line in ("created: 2/2 workers", "2 workers [3 items]", "",
                 "conformance/test_a.py::test_x ",
                 "[gw0] [ 33%] PASS conformance/test_a.py::test_x ",
                 "[gw1] [ 66%] INFO conformance/test_a.py::test_y ",
                 "[gw0] [100%] NOT_APPLICABLE conformance/test_b.py::test_z "):
        handle(line, 0.0)
    assert seen == {"total": 3, "completed": 3}


def test_step_runner_kills_a_step_past_its_deadline(tmp_path: Path) -> None:
    seen: dict[str, float] = {}

    def sink(**kw: float | None) -> None:
        seen.update({k: v for k, v in kw.items() if v is not None})

    code = "import time\nprint('started', flush=True)\nwhile True: time.sleep(0.05)"
    result = run_step([sys.executable, "-c", code], log_path=tmp_path / "s.log", timeout_s=1.5,
                      on_line=time_progress(sink, 10.0))
    assert result.timed_out and result.exit_code is None
    assert 1.5 <= result.duration_s < 30
    assert 0 < seen["completed"] < 10
    assert "deadline" in (tmp_path / "s.log").read_text()
