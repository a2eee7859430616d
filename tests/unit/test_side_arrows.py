"""The arrows between the sides of DESIGN.md go one way (STYLE.md 16, "the referee never
shares code with the player").

Every ``import`` in ``jetstream_qa/`` is read from the source with :mod:`ast` -- module-level,
function-level and ``TYPE_CHECKING`` imports alike, since a hidden import is still a shared
brain -- and checked against one table: which side a module belongs to, and which sides it may
never reach. The judge (expectations, verdicts, the matrix judge, the oracle table) and the
reference server (the player) never import each other; the client and the server never import
each other; the binding is the only door from the suites to a client.

The one sanctioned crossing is the launcher: ``conformance_core/embedded_target.py`` starts the
embedded pair (it imports ``jetstream_qa.refserver.embedded`` to run servers as processes,
never to ask them what to expect). It is listed below with that reason.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "jetstream_qa"

JUDGE = ("jetstream_qa.conformance_core", "jetstream_qa.expect")
SERVER = ("jetstream_qa.refserver",)
CLIENT = ("jetstream_qa.client",)
BINDING = ("jetstream_qa.binding",)

FORBIDDEN: dict[tuple[str, ...], tuple[str, ...]] = {
    # side (module prefixes)   -> prefixes it must never import
    SERVER: JUDGE + CLIENT + BINDING + ("jetstream_qa.pytest_plugin",),
    JUDGE: SERVER,
    CLIENT: SERVER + JUDGE + BINDING,
    BINDING: SERVER + JUDGE,
    ("jetstream_qa.wire",): SERVER + CLIENT + JUDGE + BINDING,
}

SANCTIONED = {
    ("jetstream_qa.conformance_core.embedded_target", "jetstream_qa.refserver.embedded"):
        "the launcher of the embedded pair: starts server processes, judges nothing",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _is_under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _violations() -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        for side, banned in FORBIDDEN.items():
            if not _is_under(module, side):
                continue
            for name in sorted(_imports(path)):
                if _is_under(name, banned) and not any(
                        module == m and _is_under(name, (target,))
                        for m, target in SANCTIONED):
                    out.append(f"{module} imports {name}")
    return out


def test_sides_never_lean_on_each_other() -> None:
    assert _violations() == []


def test_the_checker_sees_a_hidden_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    """A function-level import under TYPE_CHECKING in a server module is still found."""
    fake = tmp_path / "jetstream_qa"
    (fake / "refserver").mkdir(parents=True)
    (fake / "refserver" / "x.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ..conformance_core import oracle\n"
        "def f():\n    from jetstream_qa.expect import that\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert _violations() == [
        "jetstream_qa.refserver.x imports jetstream_qa.conformance_core",
        "jetstream_qa.refserver.x imports jetstream_qa.conformance_core.oracle",
        "jetstream_qa.refserver.x imports jetstream_qa.expect",
        "jetstream_qa.refserver.x imports jetstream_qa.expect.that",
    ]
