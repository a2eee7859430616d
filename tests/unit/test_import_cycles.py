"""No import cycle anywhere in ``jetstream_qa/`` (issue 16; STYLE.md "Measures").

A cycle hidden behind ``if TYPE_CHECKING:`` or a function-level import is still two modules
that cannot be understood, tested or moved one without the other, so every ``import``
statement counts (``import_graph.py`` beside this file reads them with :mod:`ast`). Break a
cycle by moving what both sides need into a module both import (``refserver/identity.py``) or
by typing against a :class:`typing.Protocol` (``client._namespaces.Caller``,
``refserver.context.AppView``), never by hiding the import.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from import_graph import PACKAGE, cycles, import_graph


def test_no_module_of_the_package_imports_itself_back() -> None:
    graph = import_graph(PACKAGE)
    assert len(graph) > 100, "the reader found too few modules to mean anything"
    assert cycles(graph) == []


def _package(root: Path, files: dict[str, str]) -> Path:
    package = root / "jetstream_qa"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return package


def test_a_cycle_hidden_behind_type_checking_and_a_function_is_found(tmp_path: Path) -> None:
    package = _package(tmp_path, {
        "__init__.py": "",
        "a.py": "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from jetstream_qa.b import B\n",
        "b.py": "def f():\n    from . import c\n",
        "c.py": "import jetstream_qa.a\n",
    })
    assert cycles(import_graph(package)) == [
        "jetstream_qa.a -> jetstream_qa.b -> jetstream_qa.c -> jetstream_qa.a"]


@pytest.mark.parametrize(("files", "found"), [
    pytest.param({"p/__init__.py": "from .x import X\n", "p/x.py": "from . import y\nX = 1\n",
                  "p/y.py": ""}, [],
                 id="a submodule importing a sibling does not import its package back"),
    pytest.param({"p/__init__.py": "from .x import X\nY = 2\n",
                  "p/x.py": "from jetstream_qa.p import Y\nX = 1\n"},
                 ["jetstream_qa.p -> jetstream_qa.p.x -> jetstream_qa.p"],
                 id="a submodule taking a name from its package's __init__ is a cycle"),
    pytest.param({"p/__init__.py": "import jetstream_qa.q\n", "p/x.py": "",
                  "q.py": "from jetstream_qa.p.x import nothing\n"},
                 ["jetstream_qa.p -> jetstream_qa.q -> jetstream_qa.p"],
                 id="importing a submodule imports its package first"),
])
def test_what_counts_as_an_arrow(tmp_path: Path, files: dict[str, str], found: list[str]
                                 ) -> None:
    package = _package(tmp_path, {"__init__.py": "", **files})
    assert cycles(import_graph(package)) == found
