"""Building a manifest from the real file system (runs in a worker thread).

Vendor "Manifest" and "Manifest Files" pages: ``createManifest(mappings)`` takes
``{destination path: source path}``; the manifest lists one File Mapping per file to send,
with ``srcPath``, ``destPath``, ``fileSize``, ``isEmptyDir``, ``executable`` and
``modificationTime`` (µs). Choices of the reference server (docs/protocol.md 4.2):

- a source directory is walked recursively (names sorted); it yields one entry per regular
  file and one ``isEmptyDir`` entry (``fileType`` 2, size 0) per directory with nothing to
  send; non-empty directories are implied by their files;
- ``totalFiles`` is the number of File Mappings, ``totalSize`` the sum of ``fileSize``;
- SYMLINK_FOLLOW copies what a link points to (files and directories; a broken link or a
  directory loop makes the manifest fail); SYMLINK_IGNORE leaves links out entirely;
- a missing or unreadable source, or any other kind of file (fifo, socket, device), fails
  the whole manifest with an ``errorMessage`` naming the path.

Source confinement (``refserver/sandbox.py``; OURS, ``docs/semantics.md`` "Sandboxes"):
every path is read inside the caller's :class:`~jetstream_qa.refserver.sandbox.SourceArea`
(its sandbox, or anywhere but the server's state directory). A source given outside it is
refused when the manifest is created; under SYMLINK_FOLLOW a link whose target (resolved)
lies outside is not followed: the manifest fails with an ``errorMessage`` naming that link,
as for a broken link. SYMLINK_IGNORE leaves such links out like any other.
"""

from __future__ import annotations

import os
import posixpath
import stat
from dataclasses import dataclass

from jetstream_qa.constants import FileType, SymlinkMode
from jetstream_qa.errors import InvalidArgument
from jetstream_qa.refserver.faults import FaultSet
from jetstream_qa.refserver.sandbox import SourceArea
from jetstream_qa.refserver.state import FileEntry

__all__ = ["ManifestBuildError", "ManifestResult", "build_manifest", "check_mappings"]

_NO_FAULTS = FaultSet()
_ANYWHERE = SourceArea(None, ())


class ManifestBuildError(Exception):
    """The file system refused something; the message names the path."""


@dataclass(frozen=True, slots=True)
class ManifestResult:
    files: list[FileEntry]

    @property
    def total_files(self) -> int:
        return len(self.files)

    @property
    def total_size(self) -> int:
        return sum(f.file_size for f in self.files)


def _clean_dest(dest: str) -> str:
    """Normalise a destination path; refuse empty ones and any ``..`` component."""
    if not dest or "\x00" in dest:
        raise InvalidArgument(f"invalid destination path {dest!r}", details={"destPath": dest})
    parts = dest.replace("\\", "/").split("/")
    if ".." in parts:
        raise InvalidArgument(f"destination path {dest!r} escapes its root",
                              details={"destPath": dest})
    lead = "/" if dest.startswith("/") else ""
    clean = lead + "/".join(p for p in parts if p not in ("", "."))
    if clean in ("", "/"):
        raise InvalidArgument(f"invalid destination path {dest!r}", details={"destPath": dest})
    return clean


def check_mappings(mappings: dict[str, object]) -> dict[str, str]:
    """Validate ``{dest: src}`` synchronously (before the manifest is queued).

    Raises:
        InvalidArgument: empty mappings, a non-string or relative source, a destination
            that is empty or contains ``..``, or two mappings with the same destination.
    """
    if not mappings:
        raise InvalidArgument("mappings must name at least one file", details={"param":
                                                                                "mappings"})
    out: dict[str, str] = {}
    for dest, src in mappings.items():
        if not isinstance(src, str) or not src or "\x00" in src or not os.path.isabs(src):
            raise InvalidArgument(f"source for {dest!r} must be an absolute path",
                                  details={"destPath": dest})
        clean = _clean_dest(dest)
        if clean in out:
            raise InvalidArgument(f"two mappings target {clean!r}", details={"destPath": clean})
        out[clean] = src
    return out


class _Walker:
    def __init__(self, symlink_mode: SymlinkMode, faults: FaultSet, area: SourceArea) -> None:
        self.area = area
        self.mode = symlink_mode
        if faults.active("follow-symlinks-under-ignore"):
            self.mode = SymlinkMode.FOLLOW  # fault: SYMLINK_IGNORE follows links
        self._link_metadata = faults.active("follow-uses-lstat")
        self.files: list[FileEntry] = []
        self._active_dirs: set[tuple[int, int]] = set()

    def _shown(self, path: str) -> str:
        """``path`` as the user sees it (below their sandbox when they have one)."""
        return self.area.virtual(path)

    def _stat(self, path: str) -> os.stat_result | None:
        """Stat ``path`` per symlink mode; None means "leave it out"."""
        try:
            lst = os.lstat(path)
        except FileNotFoundError:
            raise ManifestBuildError(f"source not found: {self._shown(path)}") from None
        except OSError as exc:
            raise ManifestBuildError(f"cannot read {self._shown(path)}: {exc.strerror}") \
                from None
        if not stat.S_ISLNK(lst.st_mode):
            return lst
        if self.mode is SymlinkMode.IGNORE:
            return None
        if not self.area.allows(path):
            raise ManifestBuildError(f"symbolic link {self._shown(path)} leads outside "
                                     "the allowed source area; not followed")
        try:
            return os.stat(path)
        except FileNotFoundError:
            raise ManifestBuildError(f"broken symbolic link: {self._shown(path)}") from None
        except OSError as exc:
            raise ManifestBuildError(f"cannot follow symbolic link {self._shown(path)}: "
                                     f"{exc.strerror}") from None

    def add(self, src: str, dest: str) -> bool:
        """Add ``src`` (file or tree) as ``dest``; returns False when nothing was added."""
        st = self._stat(src)
        if st is None:
            return False
        if stat.S_ISDIR(st.st_mode):
            return self._add_dir(src, dest, st)
        if stat.S_ISREG(st.st_mode):
            if not os.access(src, os.R_OK):
                raise ManifestBuildError(
                    f"cannot read {self._shown(src)}: permission denied")
            if self._link_metadata:
                st = os.lstat(src)  # fault: a followed link's size and mtime are its own
            self.files.append(FileEntry(src, dest, st.st_size, False,
                                        bool(st.st_mode & 0o111), st.st_mtime_ns // 1000,
                                        FileType.REGULAR_FILE))
            return True
        raise ManifestBuildError(f"not a regular file or directory: {self._shown(src)}")

    def _add_dir(self, src: str, dest: str, st: os.stat_result) -> bool:
        key = (st.st_dev, st.st_ino)
        if key in self._active_dirs:
            raise ManifestBuildError(
                f"directory loop through symbolic link: {self._shown(src)}")
        self._active_dirs.add(key)
        try:
            try:
                names = sorted(os.listdir(src))
            except OSError as exc:
                raise ManifestBuildError(f"cannot read directory {self._shown(src)}: "
                                         f"{exc.strerror}") from None
            added = False
            for name in names:
                added |= self.add(os.path.join(src, name), posixpath.join(dest, name))
        finally:
            self._active_dirs.discard(key)
        if not added:
            self.files.append(FileEntry(src, dest, 0, True, False, st.st_mtime_ns // 1000,
                                        FileType.DIRECTORY))
        return True


def build_manifest(mappings: dict[str, str], symlink_mode: SymlinkMode, *,
                   faults: FaultSet = _NO_FAULTS,
                   area: SourceArea = _ANYWHERE) -> ManifestResult:
    """Walk every source of ``{dest: src}`` (already checked by :func:`check_mappings`);
    ``faults``: deliberate defects (``jetstream_qa.refserver.faults``), none by default;
    ``area``: where reading is allowed (sources are the user's paths inside it, and the
    files' ``src_path`` are file-system paths).

    Raises:
        ManifestBuildError: a source is missing, unreadable, outside the area, a broken link
            or a link leading outside the area (FOLLOW), part of a directory loop, or not a
            file/directory; the message names the path as the user sees it.
    """
    walker = _Walker(symlink_mode, faults, area)
    for dest, src in mappings.items():
        path = area.physical(src)
        if os.path.lexists(path) and not area.allows(path):
            raise ManifestBuildError(f"source {src} is outside the allowed source area")
        walker.add(path, dest)
    seen: set[str] = set()
    for entry in walker.files:
        if entry.dest_path in seen:
            raise ManifestBuildError(f"two sources map to destination {entry.dest_path}")
        seen.add(entry.dest_path)
    return ManifestResult(walker.files)
