"""The player never runs the referee's code (DESIGN.md, "Layout"; STYLE.md 16).

The reference server decides every receive entry, its cipher and its synthetic content with
its own code (``refserver/engine/decide.py``, ``cipher_choice.py``, ``synthetic.py``).
Importing every module of ``jetstream_qa.refserver`` in a fresh interpreter must therefore
load none of the judge's modules, directly or through another module, and no source file of
the server may name one in an import.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

REFSERVER = Path(__file__).resolve().parents[2] / "jetstream_qa" / "refserver"
JUDGE = ("jetstream_qa.semantics", "jetstream_qa.conformance_core", "jetstream_qa.expect",
         "jetstream_qa.matrix_judge", "jetstream_qa.judge", "jetstream_qa.oracle")
"""The judge's modules and packages, as named today and as the layout names them."""

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


def test_no_server_source_imports_the_judge() -> None:
    found = []
    for path in sorted(REFSERVER.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            found += [f"{path.relative_to(REFSERVER)}: {n}" for n in names if _is_judge(n)]
    assert found == []
