"""The arrows between the sides of DESIGN.md go one way (STYLE.md 16, "the referee never
shares code with the player").

Every ``import`` in ``jetstream_qa/`` is read from the source with :mod:`ast`
(``import_graph.py`` beside this file) -- module-level, function-level and ``TYPE_CHECKING``
imports alike, since a hidden import is still a shared brain -- and checked against one table:
which side a module belongs to, and which sides it may never reach. The judge (expectations,
verdicts, the matrix judge, the oracle table) and the reference server (the player) never
import each other; the client and the server never import each other; the binding is the only
door from the suites to a client. The ground floor (``constants.py``, ``errors.py``, which every
side may import) leans on no side, so sharing it never smuggles one side into another.

The one sanctioned crossing is the launcher: ``conformance_core/embedded_target.py`` starts the
embedded pair (it imports ``jetstream_qa.refserver.embedded`` to run servers as processes,
never to ask them what to expect). It is listed below with that reason.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from import_graph import PACKAGE, imported_names, module_name

JUDGE = ("jetstream_qa.conformance_core", "jetstream_qa.expect")
SERVER = ("jetstream_qa.refserver",)
CLIENT = ("jetstream_qa.client",)
BINDING = ("jetstream_qa.binding",)
WIRE = ("jetstream_qa.wire",)
GROUND = ("jetstream_qa.constants", "jetstream_qa.errors")

FORBIDDEN: dict[tuple[str, ...], tuple[str, ...]] = {
    # side (module prefixes)   -> prefixes it must never import
    SERVER: JUDGE + CLIENT + BINDING + ("jetstream_qa.pytest_plugin",),
    JUDGE: SERVER,
    CLIENT: SERVER + JUDGE + BINDING,
    BINDING: SERVER + JUDGE,
    WIRE: SERVER + CLIENT + JUDGE + BINDING,
    GROUND: SERVER + CLIENT + JUDGE + BINDING + WIRE,
}

SANCTIONED = {
    ("jetstream_qa.conformance_core.embedded_target", "jetstream_qa.refserver.embedded"):
        "the launcher of the embedded pair: starts server processes, judges nothing",
}


def _is_under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _violations() -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path, PACKAGE)
        for side, banned in FORBIDDEN.items():
            if not _is_under(module, side):
                continue
            for name in sorted(imported_names(path, PACKAGE)):
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
