"""Side-effecting imports stay behind their boundary (STYLE.md 9, brief "Rules of the house").

Importing the client, the wire core, the reference server or the pytest plugin must leave
``locust`` and ``gevent`` out of ``sys.modules`` (importing locust monkey-patches the whole
process with gevent), and must start no thread and install no signal handler. Each check runs
in a fresh interpreter so nothing imported by this test session can hide or fake a leak.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap

import pytest

_PROBE = textwrap.dedent("""
    import importlib, json, pkgutil, signal, sys, threading
    target = sys.argv[1]
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    names = [target]
    module = importlib.import_module(target)
    if sys.argv[2] == "walk" and hasattr(module, "__path__"):
        for info in pkgutil.walk_packages(module.__path__, target + "."):
            importlib.import_module(info.name)
            names.append(info.name)
    print(json.dumps({
        "imported": names,
        "leaked": sorted(m for m in ("locust", "gevent") if m in sys.modules),
        "threads": threading.active_count(),
        "signals_changed": [int(s) for s, h in handlers.items() if signal.getsignal(s) != h],
    }))
""")

# (module, import every submodule too, may be absent while it is being written)
MODULES = [
    ("jetstream_qa.client", True, False),
    ("jetstream_qa.wire.control", False, False),
    ("jetstream_qa.wire", True, False),
    ("jetstream_qa.commands.api", False, False),
    ("jetstream_qa.refserver", True, True),
    ("jetstream_qa.pytest_plugin", False, True),
]


def _exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


@pytest.mark.parametrize(("module", "walk", "optional"), MODULES,
                         ids=[m for m, _, _ in MODULES])
def test_import_leaves_locust_and_gevent_out(module: str, walk: bool, optional: bool) -> None:
    if optional and not _exists(module):
        pytest.skip(f"{module} does not exist yet")
    proc = subprocess.run([sys.executable, "-c", _PROBE, module, "walk" if walk else "one"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"importing {module} failed:\n{proc.stderr[-3000:]}"
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["leaked"] == [], f"{module} imported {report['leaked']}"
    assert report["threads"] == 1, f"{module} started threads at import time"
    assert report["signals_changed"] == [], f"{module} installed signal handlers at import"
    assert module in report["imported"]


def test_probe_detects_a_leak() -> None:
    """The probe itself must see gevent when something does import it (no false PASS)."""
    proc = subprocess.run([sys.executable, "-c", _PROBE, "gevent", "one"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["leaked"] == ["gevent"]
