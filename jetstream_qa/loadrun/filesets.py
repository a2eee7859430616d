"""File sets for load scenarios: recipes (fixtures/load/*.json) made into real files once per
process, removed afterwards.

A recipe is ``{"name", "description", "groups": [{"count", "minSize", "maxSize"}]}``; sizes are
drawn log-uniformly between ``minSize`` and ``maxSize`` from a seeded generator, then multiplied
by ``scale`` (``--js-scale``, so CI can shrink 1 GiB files to 10 MiB). Contents are seeded
pseudo-random bytes, so a destination file can be compared with its source byte for byte.

:meth:`FileSet.prepare` keeps generated sets in a cache directory keyed by recipe, seed and
scale, and links them into the run's source root: repeated runs and workers on one machine
with the same seed reuse one set instead of writing gigabytes again (generating is done
before the measured window either way). A set is published in the cache by an atomic
rename of a fully written directory, so a reader never sees half a set.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from jetstream_qa.errors import ConfigurationError

__all__ = ["RECIPE_DIR", "FileGroup", "FileSet", "FileSetRecipe", "Progress", "load_recipe"]

Progress = Callable[[str, int, int], None]
"""Called as ``progress(recipe, files_done, files_total)`` while a set is written."""

RECIPE_DIR: Final = Path(__file__).resolve().parents[2] / "fixtures" / "load"
_CHUNK: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class FileGroup:
    """``count`` files of ``min_size``..``max_size`` bytes."""

    count: int
    min_size: int
    max_size: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.min_size <= self.max_size:
            raise ValueError(f"bad file group: count={self.count}, "
                             f"sizes {self.min_size}..{self.max_size}")


@dataclass(frozen=True, slots=True)
class FileSetRecipe:
    """A named list of file groups."""

    name: str
    groups: tuple[FileGroup, ...]
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name or not self.groups:
            raise ValueError("a recipe needs a name and at least one group")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FileSetRecipe:
        """Build from the JSON form.

        Raises:
            ValueError: missing or ill-typed fields.
        """
        try:
            groups = tuple(FileGroup(int(g["count"]), int(g["minSize"]), int(g["maxSize"]))
                           for g in data["groups"])
            return cls(str(data["name"]), groups, str(data.get("description", "")))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed recipe: {exc}") from exc

    def sizes(self, *, scale: float = 1.0, seed: int = 1) -> list[int]:
        """The file sizes this recipe yields (deterministic for a seed)."""
        rng = random.Random(f"{self.name}/{seed}")
        sizes = []
        for group in self.groups:
            lo, hi = max(group.min_size, 1), max(group.max_size, 1)
            for _ in range(group.count):
                size = math.exp(rng.uniform(math.log(lo), math.log(hi))) if hi > lo else lo
                sizes.append(max(1, round(size * scale)) if group.max_size else 0)
        return sizes


def load_recipe(name: str, *, directory: Path = RECIPE_DIR) -> FileSetRecipe:
    """Read ``directory/NAME.json``.

    Raises:
        ConfigurationError: no such recipe, or it is malformed (names the file).
    """
    path = directory / f"{name}.json"
    try:
        return FileSetRecipe.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"invalid file-set recipe {str(path)!r}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class FileSet:
    """Files generated from a recipe under ``root``: absolute paths with their sizes."""

    recipe: str
    root: Path
    files: tuple[tuple[str, int], ...]
    origin: str = "generated"
    """``generated``, or ``reused from CACHE`` when :meth:`prepare` found it cached."""

    @classmethod
    def generate(cls, recipe: FileSetRecipe, root: Path, *, scale: float = 1.0,
                 seed: int = 1, progress: Progress | None = None) -> FileSet:
        """Write the recipe's files under ``root/recipe.name`` (created; must not exist).

        Raises:
            OSError: the files cannot be written.
        """
        base = root / recipe.name
        base.mkdir(parents=True)
        files = []
        sizes = recipe.sizes(scale=scale, seed=seed)
        for index, size in enumerate(sizes):
            path = base / _file_name(recipe, index)
            _write_random(path, size, random.Random(f"{recipe.name}/{seed}/{index}"))
            files.append((str(path), size))
            if progress is not None:
                progress(recipe.name, index + 1, len(sizes))
        return cls(recipe.name, base, tuple(files))

    @classmethod
    def prepare(cls, recipe: FileSetRecipe, root: Path, *, cache: Path | None,
                scale: float = 1.0, seed: int = 1, progress: Progress | None = None
                ) -> FileSet:
        """The recipe's files under ``root/recipe.name``: linked (hard links; copied across
        file systems) from ``cache`` when a set with this recipe, seed and scale is cached
        there, else generated into the cache first. ``cache`` None: generated in place.

        Raises:
            OSError: the files cannot be written.
        """
        if cache is None:
            return cls.generate(recipe, root, scale=scale, seed=seed, progress=progress)
        cached = cache / _cache_key(recipe, scale=scale, seed=seed)
        origin = f"reused from {cached}"
        if not cached.is_dir():
            origin = "generated"
            cache.mkdir(parents=True, exist_ok=True)
            scratch = cache / f".{cached.name}.{os.getpid()}.tmp"
            shutil.rmtree(scratch, ignore_errors=True)
            cls.generate(recipe, scratch, scale=scale, seed=seed, progress=progress)
            try:
                os.rename(scratch / recipe.name, cached)
            except OSError:  # another process published it first: use theirs
                if not cached.is_dir():
                    raise
            shutil.rmtree(scratch, ignore_errors=True)
        base = root / recipe.name
        base.mkdir(parents=True)
        files = []
        for index, size in enumerate(recipe.sizes(scale=scale, seed=seed)):
            name = _file_name(recipe, index)
            _link_or_copy(cached / name, base / name)
            files.append((str(base / name), size))
        return cls(recipe.name, base, tuple(files), origin)

    @property
    def total_bytes(self) -> int:
        """Sum of the file sizes."""
        return sum(size for _, size in self.files)

    def remove(self) -> None:
        """Delete the generated files (missing ones are ignored)."""
        shutil.rmtree(self.root, ignore_errors=True)


def _file_name(recipe: FileSetRecipe, index: int) -> str:
    return f"{recipe.name}-{index:05d}.bin"


def _cache_key(recipe: FileSetRecipe, *, scale: float, seed: int) -> str:
    """Directory name of a cached set: recipe name, seed, scale and a digest of the groups
    (an edited recipe never reuses an old set)."""
    groups = [(g.count, g.min_size, g.max_size) for g in recipe.groups]
    digest = hashlib.sha256(json.dumps([recipe.name, groups, seed, scale]).encode())
    return f"{recipe.name}-seed{seed}-scale{scale:g}-{digest.hexdigest()[:12]}"


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed
        shutil.copyfile(source, target)


def _write_random(path: Path, size: int, rng: random.Random) -> None:
    with path.open("wb") as out:
        left = size
        while left > 0:
            chunk = rng.randbytes(min(left, _CHUNK))
            out.write(chunk)
            left -= len(chunk)
