"""The binding layer without a server: the catalogue resolves completely against the bundled
client and (with its binding file) against the strict stand-in; binding files are validated
with errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from jetstream_qa.binding import (
    OPERATIONS,
    Operations,
    binding_for,
    bundled_binding,
    load_binding_file,
)
from jetstream_qa.client import JetStream
from jetstream_qa.errors import BindingMissing, ConfigurationError

STANDIN_BINDING = Path(__file__).resolve().parents[2] / "fixtures" / "bindings" / "standin.toml"


def _every_keyword(ops: Operations) -> list[str]:
    """Resolve every operation and parameter; returns the 'op.param' that are missing."""
    missing = []
    for op in OPERATIONS.values():
        try:
            ops.binding.resolve(ops.api, op.name)
        except BindingMissing:
            missing.append(op.name)
            continue
        for param in [p for p, _ in op.documented] + list(op.bound):
            try:
                ops.binding.keyword(ops.api, op.name, param)
            except BindingMissing:
                missing.append(f"{op.name}.{param}")
    return missing


def test_bundled_binding_is_complete() -> None:
    api = JetStream().api("127.0.0.1", 9)
    assert _every_keyword(Operations(bundled_binding(), api)) == []


def test_standin_with_its_file_lacks_only_what_it_does_not_have(vendor_standin) -> None:
    api = vendor_standin.JetStream().api("127.0.0.1", 9)
    ops = Operations(binding_for("vendor", vendor_standin.constants, STANDIN_BINDING), api)
    assert _every_keyword(ops) == ["wait_transfer"]  # the stand-in has no blocking wait
    assert ops.binding.permission_bits(("DOWNLOAD",), operation="t") == 0x20


def test_standin_without_file_lacks_every_undocumented_name(vendor_standin) -> None:
    api = vendor_standin.JetStream().api("127.0.0.1", 9)
    missing = _every_keyword(Operations(binding_for("vendor", vendor_standin.constants), api))
    assert "create_transfer.overwrite" in missing and "cancel_transfer" in missing
    assert "create_transfer.flags" not in missing  # documented (Helper.getTransferFlags)
    assert "create_destination.send_rate_max" not in missing  # console flag (S14)


@pytest.mark.parametrize(("text", "problem"), [
    ('[methodz]\nx = "y"\n', "[methodz] unknown table"),
    ('[methods]\nfly = "send.fly"\n', "unknown key 'fly'"),
    ('[params.create_transfer]\ncolour = "c"\n', "unknown key 'colour'"),
    ('[statuses]\nrunning = 3\n', "running must be a string"),
    ('[errors.codes]\nE1 = "Oops"\n', "['Oops'] are not among"),
    ("[methods\n", "is not TOML"),
])
def test_bad_binding_files_are_named(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "b.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError) as info:
        load_binding_file(path)
    assert problem in str(info.value) and str(path) in str(info.value)


def test_the_shipped_standin_binding_loads() -> None:
    binding = load_binding_file(STANDIN_BINDING)
    assert binding.methods["cancel_transfer"] == "send.abortTransfer"
    assert binding.param("create_transfer", "overwrite") == "overwritePolicy"
