"""``jetstream-qa vendor-probe`` through the real CLI on the strict stand-in: the table, the
starter binding file (valid TOML the binding layer loads), the shipped binding file checked,
and a package that is not the vendor's refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from jetstream_qa.binding import load_binding_file

ROOT = Path(__file__).resolve().parents[2]
STANDIN = ROOT / "tests" / "vendor_standin"
BINDING = ROOT / "fixtures" / "bindings" / "standin.toml"


def _probe(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("PYTHONPATH", None)
    return subprocess.run([sys.executable, "-m", "jetstream_qa", "vendor-probe", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_probe_without_binding_lists_missing_keys_and_writes_a_starter(tmp_path: Path) -> None:
    starter = tmp_path / "starter.toml"
    done = _probe("--path", str(STANDIN), "--write-binding", str(starter), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "jetstream 2.9.2+standin at" in out and str(STANDIN) in out
    assert "[params.create_transfer] overwrite" in out and "overwritePolicy" in out
    assert "[methods] cancel_transfer" in out and "send.abortTransfer" in out
    assert "send.getTransfer " in out  # documented operations are bound
    assert "missing" in out.splitlines()[-2]
    text = starter.read_text()
    assert '# overwrite = ""   # candidates: overwritePolicy' in text
    assert 'receive_namespace = "receive"' in text
    assert load_binding_file(starter).receive_namespace == "receive"  # valid TOML


def test_probe_with_the_shipped_binding_binds_all_but_the_blocking_wait(tmp_path: Path) -> None:
    done = _probe("--path", str(STANDIN), "--binding", str(BINDING), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    missing = [line for line in done.stdout.splitlines() if "│ missing" in line]
    assert len(missing) == 1 and "wait_transfer" in missing[0], missing


def test_probe_refuses_a_package_that_is_not_the_vendors(tmp_path: Path) -> None:
    impostor = tmp_path / "impostor" / "jetstream"
    impostor.mkdir(parents=True)
    (impostor / "__init__.py").write_text('"""A CloudFormation templating tool."""\n')
    done = _probe("--path", str(impostor.parent), cwd=tmp_path)
    assert done.returncode == 2
    assert "not the JetStream vendor package" in done.stdout
