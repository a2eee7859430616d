"""Receive-side path checks: every target stays inside the receiver's sandbox root.

Where files land (Sandboxing / "where do transfers go" pages): ``/<sandbox>/<destinationPath>/
<target path>``; the sandbox is the storage root and absolute paths count from it. A path
holding ``..`` or a NUL byte, an over-long name, or a symlink below the root that leads
outside it is refused (:class:`~jetstream_qa.errors.InvalidArgument`) before anything is
written. :class:`PathChecker` also reports what sits at each target (:class:`Existing`), and
:meth:`PathChecker.sidecar_problem` fails an entry whose sidecar (``NAME.jetpart``,
``NAME.jetplan``, ``NAME.jetbak``) is a symlink or not a regular file: sidecars are never
followed, replaced or written through (OURS, ``docs/semantics.md``). These checks are the
early, readable answer; the writes themselves are confined by ``confined.py`` whatever
changes after them.
"""

from __future__ import annotations

import os
import stat

from jetstream_qa.errors import InvalidArgument
from jetstream_qa.refserver.engine.decide import (
    BACKUP_SUFFIX,
    PARTFILE_SUFFIX,
    PLANFILE_SUFFIX,
    Decision,
    Existing,
    Found,
    Method,
)

__all__ = ["MAX_NAME_BYTES", "MAX_PATH_BYTES", "PathChecker", "climb", "split_path"]

MAX_NAME_BYTES = 255 - len(PLANFILE_SUFFIX)
"""NAME_MAX minus room for our ``.jetpart``/``.jetbak``/``.jetplan`` sidecars."""
MAX_PATH_BYTES = 4000
"""Longest relative path accepted (PATH_MAX 4096 minus room for the root)."""


def split_path(path: str, what: str, *, allow_empty: bool) -> tuple[str, ...]:
    """Split a transfer path into safe components (absolute paths count from the root).

    Raises:
        InvalidArgument: not a string, a NUL byte, a ``..`` component, no component (unless
            ``allow_empty``), not encodable, or an over-long name or path.
    """
    if not isinstance(path, str):
        raise InvalidArgument(f"{what} must be a string", details={"path": repr(path)})
    if "\x00" in path:
        raise InvalidArgument(f"{what} contains a NUL byte", details={"path": repr(path)})
    parts = tuple(p for p in path.split("/") if p not in ("", "."))
    if ".." in parts:
        raise InvalidArgument(f"{what} {path!r} contains '..'", details={"path": path})
    if not parts and not allow_empty:
        raise InvalidArgument(f"{what} {path!r} names no file", details={"path": path})
    try:
        sizes = [len(os.fsencode(p)) for p in parts]
    except UnicodeEncodeError:
        raise InvalidArgument(f"{what} is not encodable", details={"path": repr(path)}) from None
    if any(n > MAX_NAME_BYTES for n in sizes) or sum(sizes) + len(sizes) > MAX_PATH_BYTES:
        raise InvalidArgument(f"{what} has an over-long name", details={"path": path[:200]})
    return parts


def climb(root: str, destination_path: str) -> str:
    """Fault write-outside-root: ``root/destination_path`` with '..' resolved, not refused."""
    return os.path.normpath(os.path.join(root, destination_path.lstrip("/")))


class PathChecker:
    """lstat walk below the root with a cache of directories already proven safe."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.safe_dirs: set[tuple[str, ...]] = {()}

    def inside(self, path: str) -> bool:
        """True when ``path`` resolves to the root or below it."""
        real = os.path.realpath(path)
        return real == self.root or real.startswith(self.root + os.sep)

    def existing(self, parts: tuple[str, ...]) -> tuple[Existing, str | None]:
        """What is at the target, and a per-entry problem (a parent that is not a directory).

        Raises:
            InvalidArgument: a symlink on the way (or the target itself) leads outside.
        """
        for depth in range(1, len(parts)):
            prefix = parts[:depth]
            if prefix in self.safe_dirs:
                continue
            path = os.path.join(self.root, *prefix)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                return Existing(), None
            except NotADirectoryError:
                return Existing(), "parent-not-a-directory"
            if stat.S_ISLNK(st.st_mode):
                if not self.inside(path):
                    raise InvalidArgument("a symlink in the destination leads outside the root",
                                          details={"path": "/".join(prefix)})
                if not os.path.isdir(path):
                    return Existing(), "parent-not-a-directory"
            elif not stat.S_ISDIR(st.st_mode):
                return Existing(), "parent-not-a-directory"
            self.safe_dirs.add(prefix)
        return self._final(parts), None

    def sidecar_problem(self, parts: tuple[str, ...], decision: Decision) -> str | None:
        """A per-entry error when a sidecar the decision will use is a symlink or not a
        regular file: the partfile (partfile methods), the plan file (in place), the backup
        (OVERWRITE_VERSIONED). None when all are absent or regular files."""
        uses = {Method.IN_PLACE: PLANFILE_SUFFIX, Method.PARTFILE_RENAMED: PARTFILE_SUFFIX,
                Method.PARTFILE_KEPT: PARTFILE_SUFFIX}
        suffixes = [uses[decision.method]] if decision.method in uses else []
        if decision.keep_backup:
            suffixes.append(BACKUP_SUFFIX)
        for suffix in suffixes:
            name = parts[-1] + suffix
            try:
                st = os.lstat(os.path.join(self.root, *parts[:-1], name))
            except (FileNotFoundError, NotADirectoryError):
                continue
            if stat.S_ISLNK(st.st_mode):
                return f"sidecar-refused: {name} is a symbolic link (never followed)"
            if not stat.S_ISREG(st.st_mode):
                return f"sidecar-refused: {name} is not a regular file"
        return None

    def _final(self, parts: tuple[str, ...]) -> Existing:
        path = os.path.join(self.root, *parts)
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return Existing()
        if stat.S_ISLNK(st.st_mode):
            if not self.inside(path):
                raise InvalidArgument("the target is a symlink leading outside the root",
                                      details={"path": "/".join(parts)})
            return Existing(Found.SYMLINK)
        if stat.S_ISDIR(st.st_mode):
            return Existing(Found.DIRECTORY)
        if stat.S_ISREG(st.st_mode):
            return Existing(Found.FILE, st.st_size, st.st_mtime_ns // 1000)
        return Existing(Found.OTHER)
