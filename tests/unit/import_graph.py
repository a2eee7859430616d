"""Who imports whom in ``jetstream_qa/``, read from the source with :mod:`ast` (a test helper).

Every ``import`` statement counts -- module-level, function-level and ``TYPE_CHECKING``
imports alike, since a hidden import is still a dependency. Two readings serve two tests:

- :func:`imported_names`: every dotted name a file mentions in an import (``from a import b``
  gives ``a`` and ``a.b``), for the one-way rules of ``test_side_arrows.py``, which match by
  prefix;
- :func:`import_graph`: module -> the modules it makes Python import, for
  ``test_import_cycles.py``. ``from a import b`` is an arrow to ``a.b`` when ``a.b`` is a
  module, else to ``a`` (a name taken from a package's ``__init__``, even by one of its own
  submodules); importing ``a.b.c`` also imports the packages ``a`` and ``a.b`` first, an
  arrow to each except the packages that enclose the importer (they are already being
  imported when it runs, as Python imports a package before its submodules).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "jetstream_qa"

__all__ = ["PACKAGE", "cycles", "import_graph", "imported_names", "module_name"]


def module_name(path: Path, package: Path = PACKAGE) -> str:
    """The dotted name of the module at ``path`` (a file under ``package``)."""
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _statements(path: Path, package: Path) -> Iterator[tuple[str, list[str]]]:
    """(absolute base, names imported from it) for every import statement in ``path``;
    ``import a.b`` gives ``("a.b", [])``; relative imports are resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = module_name(path, package)
    enclosing = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = enclosing.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base, [alias.name for alias in node.names]


def imported_names(path: Path, package: Path = PACKAGE) -> set[str]:
    """Absolute names of every module ``path`` imports, and of every name it imports from
    one (``from a import b`` gives ``a`` and ``a.b``)."""
    found: set[str] = set()
    for base, names in _statements(path, package):
        found.add(base)
        found.update(f"{base}.{name}" for name in names)
    return found


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _arrows(path: Path, package: Path, modules: set[str]) -> set[str]:
    here = module_name(path, package)
    targets: set[str] = set()
    for base, names in _statements(path, package):
        if not names:
            targets.add(base)
        for name in names:
            targets.add(f"{base}.{name}" if f"{base}.{name}" in modules else base)
    arrows = {target for target in targets if target in modules and target != here}
    for target in targets:
        parts = target.split(".")
        for depth in range(1, len(parts)):
            package_above = ".".join(parts[:depth])
            if package_above in modules and not _within(here, package_above):
                arrows.add(package_above)
    return arrows


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Each module of ``package`` -> the modules of ``package`` importing it imports."""
    paths = {module_name(p, package): p for p in sorted(package.rglob("*.py"))}
    modules = set(paths)
    return {name: _arrows(path, package, modules) for name, path in paths.items()}


def _components(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan, iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def _shortest_loop(graph: dict[str, set[str]], start: str, within: set[str]) -> list[str]:
    """The shortest path start -> ... -> start inside ``within`` (breadth first)."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & within):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if child not in came_from:
                    came_from[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"{start} is on no loop inside {sorted(within)}")


def cycles(graph: dict[str, set[str]]) -> list[str]:
    """One line per import cycle: ``a -> b -> a``, the shortest loop through the first module
    of each strongly connected component (a module importing itself counts too)."""
    out = []
    for component in _components(graph):
        start = component[0]
        if len(component) > 1 or start in graph[start]:
            loop = _shortest_loop(graph, start, set(component))
            out.append(" -> ".join(loop) + (f" (with {', '.join(component)})"
                                             if len(component) > len(loop) - 1 else ""))
    return out
