"""The ``NAME.jetplan`` sidecar: an in-place decision that survives a receiver restart.

Partfile modes leave the target alone until the transfer finishes, so a resumed receiver
decides them again from the same target. An in-place write changes the target as it goes:
before its first byte, the receiver records the entry and what it found at the target in
``NAME.jetplan`` (JSON), a resumed transfer decides from that record, and finishing removes
it. OURS (``docs/semantics.md``): the vendor does not say how it resumes in-place writes.

The record is reached relative to its directory's descriptor and never through a symlink
(``confined.py``): a link planted at ``NAME.jetplan`` fails the entry, it is not followed.
"""

from __future__ import annotations

import json
import os

from jetstream_qa.errors import UsageError
from jetstream_qa.refserver.engine.confined import open_below, refuse_link
from jetstream_qa.refserver.engine.decide import PLANFILE_SUFFIX, Entry, Existing, Found

__all__ = ["plan_record", "recorded_existing", "remove_plan", "write_plan"]


def plan_record(entry: Entry, flags: int, mode: int, existing: Existing) -> dict[str, object]:
    """The JSON record of one in-place decision (format version 1)."""
    return {"v": 1, "destPath": entry.dest_path, "size": entry.size, "mtimeUs": entry.mtime_us,
            "flags": flags, "overwriteMode": mode,
            "pre": {"kind": str(existing.found), "size": existing.size,
                    "mtimeUs": existing.mtime_us}}


def write_plan(dir_fd: int, name: str, record: dict[str, object]) -> None:
    """Write ``record`` as the plan file of ``name`` in directory ``dir_fd``.

    Raises:
        OSError: it cannot be written; ``confined.Escape`` when ``NAME.jetplan`` is a symlink
            or not a regular file (never followed).
    """
    plan = name + PLANFILE_SUFFIX
    refuse_link(plan, dir_fd, "plan file")
    fd = open_below(dir_fd, plan, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, what="plan file")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(record, fh)


def recorded_existing(dir_fd: int, name: str, entry: Entry, flags: int,
                      mode: int) -> Existing | None:
    """What an earlier run recorded for ``name`` (in ``dir_fd``) for this very entry and
    transfer settings; None when there is no plan file, it is unreadable, a symlink (never
    followed), or it is for something else."""
    try:
        fd = open_below(dir_fd, name + PLANFILE_SUFFIX, os.O_RDONLY, what="plan file")
        with os.fdopen(fd, encoding="utf-8") as fh:
            record = json.load(fh)
        pre = record["pre"]
        recorded = Existing(Found(pre["kind"]), int(pre["size"]), int(pre["mtimeUs"]))
    except (OSError, ValueError, KeyError, TypeError, UsageError):
        return None
    if record != plan_record(entry, flags, mode, recorded):
        return None
    return recorded


def remove_plan(dir_fd: int, name: str) -> None:
    """Remove the plan file of ``name`` if there is one (``unlink`` never follows a link)."""
    try:
        os.unlink(name + PLANFILE_SUFFIX, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
