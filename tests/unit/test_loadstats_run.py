"""Load-run plumbing without Locust: settings resolution, shapes, file-set recipes, counter
cross-check, and the import boundary (only locust_user imports Locust)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from jetstream_qa.errors import ConfigurationError
from jetstream_qa.loadrun.filesets import FileSet, FileSetRecipe, load_recipe
from jetstream_qa.loadrun.session import sum_counters
from jetstream_qa.loadrun.settings import (
    Address,
    add_arguments,
    parse_address,
    settings_from_options,
)
from jetstream_qa.loadrun.shapes import shape_tick


def _options(*argv: str, host: str | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    options = parser.parse_args(list(argv))
    options.host = host
    return options


# --- settings --------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("jetstream://staging.example:9000", Address("staging.example", 9000)),
    ("127.0.0.1", Address("127.0.0.1", 8886)),
    ("jetstream://[::1]:8886", Address("::1", 8886)),
])
def test_parse_address(text: str, expected: Address) -> None:
    assert parse_address(text, option="--host") == expected


def test_parse_address_names_option_and_value() -> None:
    with pytest.raises(ConfigurationError, match="invalid --js-receiver 'http://x:1'"):
        parse_address("http://x:1", option="--js-receiver")


def test_settings_password_only_from_environment_and_never_in_public_view() -> None:
    settings = settings_from_options(
        _options("--js-user", "alice", "--js-check", "fail_ratio < 0.01",
                 host="jetstream://127.0.0.1:9999"),
        {"JETSTREAM_API_PASSWORD": "s3cret"})
    assert settings.password == "s3cret"
    assert settings.receiver == settings.sender == Address("127.0.0.1", 9999)
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.public())
    assert settings.checks[0].metric == "fail_ratio"
    assert not settings.embedded


def test_no_host_means_embedded_and_impairment_needs_it() -> None:
    assert settings_from_options(_options("--js-loss", "0.1"), {}).impaired
    with pytest.raises(ConfigurationError, match="impairment needs the embedded pair"):
        settings_from_options(_options("--js-loss", "0.1", host="127.0.0.1"), {})
    with pytest.raises(ConfigurationError, match="--js-loss"):
        settings_from_options(_options("--js-loss", "1.5"), {})
    with pytest.raises(ConfigurationError, match="--js-receiver"):
        settings_from_options(_options("--js-receiver", "127.0.0.1:1"), {})


def test_bad_threshold_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="invalid --js-check"):
        settings_from_options(_options("--js-check", "p95 < 3"), {})


# --- shapes ----------------------------------------------------------------------------
def test_step_shape_climbs_in_quarters_then_ends() -> None:
    ticks = [shape_tick("step", t, users=8, spawn_rate=2, duration=40) for t in (0, 10, 20, 39)]
    assert [u for u, _ in ticks] == [2, 4, 6, 8]  # type: ignore[misc]
    assert shape_tick("step", 40, users=8, spawn_rate=2, duration=40) is None


def test_spike_shape_peaks_in_the_middle_fifth() -> None:
    users = [shape_tick("spike", t, users=20, spawn_rate=5, duration=100) for t in (10, 50, 70)]
    assert [u for u, _ in users] == [5, 20, 5]  # type: ignore[misc]


def test_soak_holds_the_peak_for_its_default_hour() -> None:
    assert shape_tick("soak", 3599, users=3, spawn_rate=1, duration=None) == (3, 1)
    assert shape_tick("soak", 3600, users=3, spawn_rate=1, duration=None) is None
    with pytest.raises(ValueError, match="unknown shape"):
        shape_tick("ramp", 0, users=1, spawn_rate=1, duration=1)


# --- file sets -------------------------------------------------------------------------
def test_shipped_recipes_match_the_scenarios() -> None:
    small, large = load_recipe("small-files"), load_recipe("large-files")
    assert all(4096 <= s <= 1 << 20 for s in small.sizes())
    assert all(256 << 20 <= s <= 1 << 30 for s in large.sizes())
    assert all(s <= (1 << 30) // 100 + 1 for s in large.sizes(scale=0.01))


def test_fileset_is_deterministic_and_removable(tmp_path: Path) -> None:
    recipe = FileSetRecipe.from_dict({"name": "t", "groups": [
        {"count": 3, "minSize": 10, "maxSize": 5000}]})
    first = FileSet.generate(recipe, tmp_path / "a", seed=4)
    second = FileSet.generate(recipe, tmp_path / "b", seed=4)
    assert [s for _, s in first.files] == [s for _, s in second.files]
    assert [Path(p).read_bytes() for p, _ in first.files] == \
        [Path(p).read_bytes() for p, _ in second.files]
    assert first.total_bytes == sum(Path(p).stat().st_size for p, _ in first.files)
    first.remove()
    assert not first.root.exists()


def test_missing_recipe_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"nope\.json"):
        load_recipe("nope", directory=tmp_path)


# --- counters --------------------------------------------------------------------------
def test_sum_counters_only_counts_this_runs_transfers() -> None:
    transfers = [
        {"transferId": 1, "status": "complete", "totalBytes": 100, "bytesSent": 120,
         "blocksSent": 5, "blocksRetransmitted": 1},
        {"transferId": 2, "status": "cancelled", "totalBytes": 50, "bytesSent": 10},
        {"transferId": 3, "status": "complete", "totalBytes": 999, "bytesSent": 999},
    ]
    out = sum_counters(transfers, {"1", "2"})
    assert (out["transfers"], out["complete"], out["completeBytes"]) == (2, 1, 100)
    assert (out["bytesSent"], out["blocksSent"], out["blocksRetransmitted"]) == (130, 5, 1)


# --- import boundary -------------------------------------------------------------------
def test_load_statistics_and_plumbing_do_not_import_locust_or_gevent() -> None:
    code = ("import sys, jetstream_qa.loadstats, jetstream_qa.loadrun.session, "
            "jetstream_qa.loadrun.target; "
            "bad = [m for m in ('locust', 'gevent', 'pytest') if m in sys.modules]; "
            "sys.exit(f'imported {bad}' if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
