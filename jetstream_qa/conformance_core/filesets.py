"""File sets built from recipes (``fixtures/filesets/*.json``), deterministic to the byte.

A recipe names entries relative to the set's root::

    {"name": "mixed", "description": "...",
     "entries": [
       {"path": "a.txt", "size": 1000},
       {"path": "nested/deeper/b.bin", "size": 70000, "seed": 7},
       {"path": "empty-dir", "type": "dir"},
       {"path": "run.sh", "size": 24, "executable": true},
       {"path": "link-to-a", "type": "symlink", "target": "a.txt"},
       {"path": "zero.bin", "size": 0},
       {"path": "naïve-résumé.txt", "size": 300, "mtime": 1600000000}]}

File content is pseudo-random bytes seeded by (recipe name, path, seed), so two builds of a
recipe are identical and every file differs from every other. :func:`build` writes a set under
a directory and returns a :class:`BuiltFileSet` that knows each entry's size and SHA-256 and
can produce ``createManifest`` mappings in the server's path names.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from jetstream_qa.errors import ConfigurationError

__all__ = ["BuiltEntry", "BuiltFileSet", "Entry", "Recipe", "build", "load_recipe",
           "recipe_names"]

_KINDS = ("file", "dir", "symlink")
_MAX_SIZE = 1 << 30


@dataclass(frozen=True, slots=True)
class Entry:
    """One item of a recipe; validated on construction."""

    path: str
    kind: str = "file"
    size: int = 0
    seed: int = 0
    executable: bool = False
    target: str = ""
    mtime: int | None = None

    def __post_init__(self) -> None:
        parts = PurePosixPath(self.path).parts
        if not self.path or self.path.startswith("/") or ".." in parts or "." in parts:
            raise ValueError(f"entry path {self.path!r} must be relative, without . or ..")
        if self.kind not in _KINDS:
            raise ValueError(f"entry {self.path!r}: type {self.kind!r} not in {_KINDS}")
        if isinstance(self.size, bool) or not 0 <= self.size <= _MAX_SIZE:
            raise ValueError(f"entry {self.path!r}: size {self.size!r} out of 0..{_MAX_SIZE}")
        if self.kind == "symlink" and not self.target:
            raise ValueError(f"symlink {self.path!r} needs a target")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Entry:
        unknown = set(data) - {"path", "type", "size", "seed", "executable", "target", "mtime"}
        if unknown:
            raise ValueError(f"entry {data.get('path')!r}: unknown keys {sorted(unknown)}")
        return cls(path=str(data["path"]), kind=str(data.get("type", "file")),
                   size=int(data.get("size", 0)), seed=int(data.get("seed", 0)),
                   executable=bool(data.get("executable", False)),
                   target=str(data.get("target", "")),
                   mtime=int(data["mtime"]) if data.get("mtime") is not None else None)


@dataclass(frozen=True, slots=True)
class Recipe:
    name: str
    description: str
    entries: tuple[Entry, ...]

    def __post_init__(self) -> None:
        paths = [e.path for e in self.entries]
        if len(set(paths)) != len(paths):
            raise ValueError(f"recipe {self.name!r} repeats a path")


def load_recipe(path: Path) -> Recipe:
    """Read one recipe file.

    Raises:
        ConfigurationError: unreadable file or invalid recipe (names the file and problem).
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = tuple(Entry.from_mapping(e) for e in data["entries"])
        return Recipe(str(data.get("name", path.stem)), str(data.get("description", "")),
                      entries)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"invalid file-set recipe {str(path)!r}: {exc}") from None


def recipe_names(directory: Path) -> list[str]:
    """Names of the recipes in ``directory`` (file stems, sorted)."""
    return sorted(p.stem for p in directory.glob("*.json"))


@dataclass(frozen=True, slots=True)
class BuiltEntry:
    """One entry as written: relative POSIX path, kind, size, SHA-256 of files."""

    path: str
    kind: str
    size: int
    sha256: str = ""
    executable: bool = False
    target: str = ""


@dataclass(frozen=True, slots=True)
class BuiltFileSet:
    """A file set on disk under :attr:`root` (local path), named by the server as
    ``server_root``."""

    recipe: Recipe
    root: Path
    server_root: str
    entries: tuple[BuiltEntry, ...]

    def entry(self, path: str) -> BuiltEntry:
        """The entry at relative ``path`` (KeyError when absent)."""
        for e in self.entries:
            if e.path == path:
                return e
        raise KeyError(path)

    def local(self, path: str) -> Path:
        return self.root / path

    def server_path(self, path: str = "") -> str:
        """The server's name for relative ``path`` (the set's root for ``""``)."""
        return f"{self.server_root.rstrip('/')}/{path}" if path else self.server_root

    @property
    def files(self) -> tuple[BuiltEntry, ...]:
        return tuple(e for e in self.entries if e.kind == "file")

    @property
    def empty_dirs(self) -> tuple[BuiltEntry, ...]:
        return tuple(e for e in self.entries if e.kind == "dir")

    @property
    def total_size(self) -> int:
        return sum(e.size for e in self.files)

    def dir_mapping(self, dest: str) -> dict[str, str]:
        """``{dest: <set root>}``: one mapping that sends the whole tree."""
        return {dest: self.server_root}

    def file_mappings(self, dest: str, *, include: Callable[[BuiltEntry], bool] | None = None
                      ) -> dict[str, str]:
        """One mapping per file, symlink and empty dir: ``{dest/rel: server path}``."""
        keep = include or (lambda e: True)
        return {f"{dest.rstrip('/')}/{e.path}": self.server_path(e.path)
                for e in self.entries if keep(e)}


def _content(recipe: str, entry: Entry) -> bytes:
    seed = hashlib.sha256(f"{recipe}\0{entry.path}\0{entry.seed}".encode()).digest()
    return random.Random(seed).randbytes(entry.size)


def build(recipe: Recipe, root: Path, *, server_root: str | None = None) -> BuiltFileSet:
    """Write ``recipe`` under ``root`` (created) and describe what was written.

    Raises:
        OSError: the file system refused (e.g. symlinks unsupported).
    """
    root.mkdir(parents=True, exist_ok=True)
    built: list[BuiltEntry] = []
    for entry in sorted(recipe.entries, key=lambda e: e.kind == "symlink"):
        path = root / unicodedata.normalize("NFC", entry.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if entry.kind == "dir":
            path.mkdir(exist_ok=True)
            built.append(BuiltEntry(entry.path, "dir", 0))
            continue
        if entry.kind == "symlink":
            os.symlink(entry.target, path)
            built.append(BuiltEntry(entry.path, "symlink", 0, target=entry.target))
            continue
        data = _content(recipe.name, entry)
        path.write_bytes(data)
        if entry.executable:
            path.chmod(0o755)
        if entry.mtime is not None:
            os.utime(path, (entry.mtime, entry.mtime))
        built.append(BuiltEntry(entry.path, "file", len(data), hashlib.sha256(data).hexdigest(),
                                entry.executable))
    order = {e.path: i for i, e in enumerate(recipe.entries)}
    built.sort(key=lambda b: order[b.path])
    return BuiltFileSet(recipe, root, server_root or str(root), tuple(built))
