"""Linux durability calls that ``os`` lacks, through ctypes (which releases the GIL).

``syncfs(2)`` makes a whole file system durable in one call; ``sync_file_range(2)`` with
``SYNC_FILE_RANGE_WRITE`` starts writeback of a file without waiting, and with
``SYNC_FILE_RANGE_WAIT_BEFORE | WRITE | WAIT_AFTER`` (:data:`SYNC_FILE_RANGE_SETTLE`) returns
once a range's pages are on the device (not a durability promise: no metadata, no device
cache flush). Both are looked up in libc once; where they do not exist the callers fall back
(per-file fsync, no early writeback).
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

__all__ = ["SYNC_FILE_RANGE_SETTLE", "SYNC_FILE_RANGE_WRITE", "sync_file_range", "syncfs"]

SYNC_FILE_RANGE_WAIT_BEFORE = 1
SYNC_FILE_RANGE_WRITE = 2
SYNC_FILE_RANGE_WAIT_AFTER = 4
SYNC_FILE_RANGE_SETTLE = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | \
    SYNC_FILE_RANGE_WAIT_AFTER
"""Wait for writeback already under way, write what is still dirty, wait for that too."""
_found: dict[str, Any] = {}


def _libc(name: str) -> Any:
    if name not in _found:
        _found[name] = getattr(ctypes.CDLL(None, use_errno=True), name, None)
    return _found[name]


def syncfs(path: str) -> bool:
    """``syncfs(2)`` the file system holding ``path``; False where it is unavailable."""
    func = _libc("syncfs")
    if func is None:
        return False
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return bool(func(fd) == 0)
    finally:
        os.close(fd)


def sync_file_range() -> Any:
    """libc ``sync_file_range`` with its argument types set, or None where it is missing."""
    func = _libc("sync_file_range")
    if func is not None and func.restype is not ctypes.c_int:
        func.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
        func.restype = ctypes.c_int
    return func
