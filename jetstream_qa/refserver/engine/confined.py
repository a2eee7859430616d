"""File operations that cannot leave a root: an ``openat``-style walk with no symlink following.

Theory of operation
-------------------
Every file the receiver creates or changes (targets, ``.jetpart`` partfiles, ``.jetbak``
backups, ``.jetplan`` records, checkpoint files) is reached through :class:`ConfinedRoot`:
the root directory is opened once, and each component below it is opened relative to its
parent's descriptor with ``O_DIRECTORY | O_NOFOLLOW`` (``os.open(..., dir_fd=)``); a missing
directory is made with ``mkdir(dir_fd=)`` and then opened the same way. The last component
is opened, renamed or unlinked relative to its parent's descriptor, also without following
(``O_NOFOLLOW``, ``rename``/``unlink`` never follow). So a symlink planted anywhere below the
root, at any time, can at worst make one operation fail (``ELOOP``/``ENOTDIR``): it never
redirects a write outside the root.

A symlink that leads to a directory *inside* the root is still honoured for parent
directories (``docs/semantics.md``, "Paths and the sandbox"): the walk resolves it with
``realpath``, checks the result is below the root, and walks the resolved components again
from the root, each opened without following. A link swapped in after that check makes the
``O_NOFOLLOW`` open fail, and the walk starts over (at most :data:`MAX_HOPS` times).
"""

from __future__ import annotations

import errno
import os
import stat
from collections import OrderedDict

__all__ = ["MAX_HOPS", "ConfinedRoot", "Escape", "open_below", "refuse_link"]

MAX_HOPS = 40
"""Symlinks resolved (or swapped) during one walk before it gives up, like the kernel's 40."""
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class Escape(OSError):
    """A walk met a symlink leading outside the root, or too many links (``ELOOP``)."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.ELOOP, message)


def refuse_link(name: str, dir_fd: int, what: str) -> None:
    """Raise :class:`Escape` when ``name`` (in ``dir_fd``) is a symlink or anything other
    than a regular file; nothing there is fine."""
    try:
        st = os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise Escape(f"{what} {name!r} is a symbolic link; refused (links are never followed)")
    if not stat.S_ISREG(st.st_mode):
        raise Escape(f"{what} {name!r} is not a regular file; refused")


def open_below(dir_fd: int, name: str, flags: int, mode: int = 0o644, *, what: str) -> int:
    """``os.open(name, flags, dir_fd=dir_fd)`` that never follows a symlink and only ever
    returns a regular file (``O_NOFOLLOW | O_NONBLOCK``, then ``fstat``: a FIFO cannot
    block it, a device or directory is refused).

    Raises:
        Escape: ``name`` is a symbolic link or not a regular file (the message names
            ``what`` and ``name``). OSError: anything else the file system refuses.
    """
    try:
        fd = os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode,
                     dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Escape(f"{what} {name!r} is a symbolic link; refused (links are never "
                         "followed)") from None
        if exc.errno == errno.ENXIO:
            raise Escape(f"{what} {name!r} is not a regular file; refused") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise Escape(f"{what} {name!r} is not a regular file; refused")
    return fd


class ConfinedRoot:
    """Directory descriptors below one root, reached without following symlinks.

    Args:
        root: an existing directory, given as its real path (no symlink in it).
        cache: how many walked directories to keep open (least recently used dropped);
            0 walks from the root every time.

    A cached descriptor keeps naming the directory it was walked to: a link swapped in for
    that directory's path later is not seen by the files written there afterwards, which
    still land in the (real) directory first walked. Call :meth:`close` when done.
    """

    def __init__(self, root: str, *, cache: int = 0) -> None:
        self.root = root
        self._cache_size = cache
        self._cache: OrderedDict[tuple[str, ...], int] = OrderedDict()

    def parent(self, parts: tuple[str, ...], *, create: bool) -> int:
        """A new descriptor of the directory holding ``parts[-1]`` (the caller closes it)."""
        return self.directory(parts[:-1], create=create)

    def directory(self, parts: tuple[str, ...], *, create: bool) -> int:
        """A new descriptor of directory ``root/parts`` (the caller closes it).

        Raises:
            Escape: a symlink on the way leads outside the root, or links loop.
            NotADirectoryError: a component is a file; FileNotFoundError: one is missing
                and ``create`` is false; OSError: anything else the file system refuses.
        """
        cached = self._cache.get(parts)
        if cached is not None:
            self._cache.move_to_end(parts)
            return os.dup(cached)
        fd = self._walk(parts, create)
        if self._cache_size:
            while len(self._cache) >= self._cache_size:
                os.close(self._cache.popitem(last=False)[1])
            self._cache[parts] = os.dup(fd)
        return fd

    def close(self) -> None:
        """Close the cached descriptors."""
        while self._cache:
            os.close(self._cache.popitem()[1])

    def _open_root(self, create: bool) -> int:
        try:
            return os.open(self.root, _DIR_FLAGS)
        except FileNotFoundError:
            if not create:
                raise
        os.makedirs(self.root, exist_ok=True)  # the root is trusted: the sandbox itself
        return os.open(self.root, _DIR_FLAGS)

    def _walk(self, parts: tuple[str, ...], create: bool) -> int:
        for _ in range(MAX_HOPS):
            fd = self._open_root(create)
            try:
                for depth, name in enumerate(parts):
                    nxt = self._step(fd, name, create)
                    if nxt is None:  # a symlink: resolve it inside the root, walk again
                        parts = self._resolved(parts, depth)
                        break
                    os.close(fd)
                    fd = nxt
                else:
                    result, fd = fd, -1
                    return result
            finally:
                if fd >= 0:
                    os.close(fd)
        raise Escape(f"too many symbolic links below the root on the way to "
                     f"{'/'.join(parts)!r}")

    @staticmethod
    def _step(fd: int, name: str, create: bool) -> int | None:
        """Open directory ``name`` in ``fd`` (made first when missing and ``create``);
        None when it is a symlink."""
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                raise
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            if stat.S_ISLNK(os.lstat(name, dir_fd=fd).st_mode):
                return None
            raise
        try:
            os.mkdir(name, 0o755, dir_fd=fd)
        except FileExistsError:
            pass  # made by someone else meanwhile: open it (still without following)
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return None
            raise

    def _resolved(self, parts: tuple[str, ...], depth: int) -> tuple[str, ...]:
        """``parts`` with the link at ``parts[:depth+1]`` replaced by where it leads, as
        components below the root. Raises Escape when it leads outside."""
        link = os.path.join(self.root, *parts[:depth + 1])
        real = os.path.realpath(link)
        if real != self.root and not real.startswith(self.root + os.sep):
            raise Escape(f"{'/'.join(parts[:depth + 1])!r} is a symbolic link leading "
                         "outside the root; refused")
        inside = os.path.relpath(real, self.root)
        head = () if inside == "." else tuple(inside.split(os.sep))
        return head + parts[depth + 1:]
