"""The fault registry: FaultSet, parse_faults, the ``serve --fault`` option, and wiring."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from jetstream_qa.errors import ConfigurationError
from jetstream_qa.refserver.config import add_arguments, config_from_args
from jetstream_qa.refserver.faults import FAULTS, FaultSet, parse_faults

REFSERVER = Path(__file__).resolve().parents[2] / "jetstream_qa" / "refserver"


def test_registry_names_match_keys_and_areas_are_known():
    assert all(name == fault.name for name, fault in FAULTS.items())
    assert {f.area for f in FAULTS.values()} == {
        "handshake", "timeouts", "auth", "manifests", "flags", "transfers", "packets",
        "robustness"}
    assert all(f.description for f in FAULTS.values())


def test_parse_faults_splits_commas_and_repeats():
    faults = parse_faults(["no-jetbak, corrupt-block", "leak-password", ""])
    assert faults.names == {"no-jetbak", "corrupt-block", "leak-password"}
    assert faults.active("no-jetbak") and not faults.active("counters-lie")
    assert faults


def test_empty_fault_set_is_false_and_answers_every_known_name():
    faults = parse_faults([])
    assert not faults
    assert not any(faults.active(name) for name in FAULTS)


def test_unknown_fault_is_a_configuration_error_naming_it():
    with pytest.raises(ConfigurationError) as info:
        parse_faults(["no-jetbak,no-such-fault,also-bad"])
    message = str(info.value)
    assert "also-bad, no-such-fault" in message and "known:" in message
    assert info.value.details["unknown"] == ["also-bad", "no-such-fault"]


def test_asking_about_an_unregistered_name_is_a_bug_not_false():
    with pytest.raises(KeyError, match="no-such"):
        FaultSet().active("no-such")


def test_serve_fault_option_reaches_the_config():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    base = ["--storage-root", "/tmp/s", "--state-dir", "/tmp/t"]
    config = config_from_args(parser.parse_args(
        [*base, "--fault", "no-jetbak,corrupt-block", "--fault", "leak-password"]))
    assert config.faults == {"no-jetbak", "corrupt-block", "leak-password"}
    assert config.has_fault("corrupt-block") and not config.has_fault("counters-lie")
    with pytest.raises(ConfigurationError, match="typo-fault"):
        config_from_args(parser.parse_args([*base, "--fault", "typo-fault"]))


def test_every_fault_is_asked_somewhere_in_the_server():
    """Each registered fault name is asked by server code (a quoted literal outside the
    registry), so a fault cannot be listed without a hook."""
    sources = "\n".join(p.read_text(encoding="utf-8") for p in REFSERVER.rglob("*.py")
                        if p.name != "faults.py")
    asked = set(re.findall(r"""["']([a-z0-9-]+)["']""", sources))
    assert sorted(set(FAULTS) - asked) == []
