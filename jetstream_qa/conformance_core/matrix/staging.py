"""What the flag matrix puts on disk: source entries and destination pre-states.

Each pre-state is tried with two source entries: ``<pre>.dat``, a regular file, and
``<pre>.lnk``, a symbolic link to a regular file (so the symlink mode matters). Sources are
deterministic bytes with a fixed mtime in the past; originals at the destination differ in
content, and their size and mtime follow the pre-state's name. Everything here is described
in the judge's own vocabulary (:mod:`jetstream_qa.conformance_core.oracle`).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from jetstream_qa.conformance_core.matrix.planning import PRE_STATES
from jetstream_qa.conformance_core.oracle import (
    DestPreState,
    PathKind,
    SourceEntry,
    SourceSymlink,
)

__all__ = ["DAY_US", "SRC_MTIME_US", "Entry", "entries", "set_mtime", "stage_pre_state"]

SRC_MTIME_US = 1_577_836_800_123_456
"""Source files' mtime: 2020-01-01T00:00:00.123456Z (a microsecond part on purpose)."""
DAY_US = 86_400 * 1_000_000
"""How much older/newer an original is than its source (far beyond any clock skew)."""

_KIND = {"absent": PathKind.ABSENT, "directory": PathKind.DIRECTORY}


def _bytes(label: str, size: int) -> bytes:
    seed = hashlib.sha256(label.encode()).digest()
    blocks = (seed + hashlib.sha256(seed + bytes([i % 256])).digest()
              for i in range(size // 64 + 1))
    return b"".join(blocks)[:size]


@dataclass(frozen=True, slots=True)
class Entry:
    """One destination name of a pre-state: ``<pre>.dat`` or ``<pre>.lnk``."""

    pre_state: str
    name: str
    is_link: bool
    src_size: int

    @property
    def source_bytes(self) -> bytes:
        """The source file's content (the link target's, for a link)."""
        return _bytes(f"source:{self.name}", self.src_size)

    @property
    def original_size(self) -> int:
        """Size of the file planted at the destination before the transfer."""
        if self.pre_state == "empty":
            return 0
        if self.pre_state.startswith("other_size"):
            return self.src_size + (77 if self.pre_state.endswith("older") else -77)
        return self.src_size

    @property
    def original_mtime_us(self) -> int:
        """A day older or newer than the source, as the pre-state's name says."""
        return SRC_MTIME_US + (DAY_US if self.pre_state.endswith("newer") else -DAY_US)

    @property
    def original_bytes(self) -> bytes:
        """The planted file's content (never equal to the source's)."""
        return _bytes(f"original:{self.name}", self.original_size)

    def pre(self) -> DestPreState:
        """The pre-state as the oracle sees it."""
        kind = _KIND.get(self.pre_state, PathKind.FILE)
        if kind is not PathKind.FILE:
            return DestPreState(kind)
        return DestPreState(kind, self.original_size, self.original_mtime_us,
                            f"original:{self.name}")

    def source(self) -> SourceEntry | SourceSymlink:
        """The source as the oracle sees it."""
        entry = SourceEntry(self.name, self.src_size, SRC_MTIME_US)
        return SourceSymlink(self.name, entry) if self.is_link else entry


def entries(pre_state: str) -> tuple[Entry, Entry]:
    """The two entries of ``pre_state``; sizes differ per pre-state and from 256-multiples."""
    base = 1000 + 300 * PRE_STATES.index(pre_state)
    return (Entry(pre_state, f"{pre_state}.dat", False, base),
            Entry(pre_state, f"{pre_state}.lnk", True, base + 111))


def set_mtime(path: Path, mtime_us: int) -> None:
    """Set ``path``'s atime and mtime (not following a final symlink)."""
    os.utime(path, ns=(mtime_us * 1000, mtime_us * 1000), follow_symlinks=False)


def stage_pre_state(directory: Path, entry: Entry) -> None:
    """Put ``entry``'s pre-state at ``directory / entry.name``."""
    path = directory / entry.name
    if entry.pre_state == "absent":
        return
    if entry.pre_state == "directory":
        path.mkdir()
        (path / "keep.txt").write_bytes(b"a directory in the way\n")
        return
    path.write_bytes(entry.original_bytes)
    path.chmod(0o644)
    set_mtime(path, entry.original_mtime_us)


def stage_sources(source_dir: Path) -> None:
    """Write every pre-state's source file and link target, with the fixed mtime."""
    targets = source_dir / "link-targets"
    targets.mkdir(parents=True, exist_ok=True)
    for pre_state in PRE_STATES:
        for entry in entries(pre_state):
            real = targets / entry.name if entry.is_link else source_dir / entry.name
            real.write_bytes(entry.source_bytes)
            real.chmod(0o644)
            set_mtime(real, SRC_MTIME_US)
            if entry.is_link:
                (source_dir / entry.name).symlink_to(Path("link-targets") / entry.name)
