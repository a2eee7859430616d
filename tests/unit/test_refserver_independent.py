"""The player never runs the referee's code (DESIGN.md, "Layout"; STYLE.md 16).

The reference server decides every receive entry, its cipher and its synthetic content with
its own code (``refserver/engine/decide.py``, ``cipher_choice.py``, ``synthetic.py``).
Importing every module of ``jetstream_qa.refserver`` in a fresh interpreter must therefore
load none of the judge's modules, directly or through another module (the source-level
contract, hidden imports included, is ``test_side_arrows.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

JUDGE = ("jetstream_qa.conformance_core", "jetstream_qa.expect", "jetstream_qa.binding")
"""The judge's packages (DESIGN.md, "Layout")."""

_PROBE = textwrap.dedent("""
    import importlib, json, pkgutil, sys
    import jetstream_qa.refserver as root
    for info in pkgutil.walk_packages(root.__path__, "jetstream_qa.refserver."):
        importlib.import_module(info.name)
    print(json.dumps(sorted(sys.modules)))
""")


def _is_judge(name: str) -> bool:
    return any(name == j or name.startswith(j + ".") for j in JUDGE)


def test_importing_the_server_loads_no_judge_module() -> None:
    proc = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                          timeout=120, check=True)
    loaded = json.loads(proc.stdout)
    assert "jetstream_qa.refserver.engine.decide" in loaded  # the walk reached the engine
    assert [m for m in loaded if _is_judge(m)] == []
