"""The ``NAME.jetplan`` sidecar: an in-place decision that survives a receiver restart.

Partfile modes leave the target alone until the transfer finishes, so a resumed receiver
decides them again from the same target. An in-place write changes the target as it goes:
before its first byte, the receiver records the entry and what it found at the target in
``NAME.jetplan`` (JSON), a resumed transfer decides from that record, and finishing removes
it. OURS (``docs/semantics.md``): the vendor does not say how it resumes in-place writes.
"""

from __future__ import annotations

import json
import os

from jetstream_qa.errors import UsageError
from jetstream_qa.refserver.engine.decide import PLANFILE_SUFFIX, Entry, Existing, Found

__all__ = ["plan_record", "recorded_existing", "remove_plan", "write_plan"]


def plan_record(entry: Entry, flags: int, mode: int, existing: Existing) -> dict[str, object]:
    """The JSON record of one in-place decision (format version 1)."""
    return {"v": 1, "destPath": entry.dest_path, "size": entry.size, "mtimeUs": entry.mtime_us,
            "flags": flags, "overwriteMode": mode,
            "pre": {"kind": str(existing.found), "size": existing.size,
                    "mtimeUs": existing.mtime_us}}


def write_plan(target: str, record: dict[str, object]) -> None:
    """Write ``record`` as ``target``'s plan file. Raises OSError."""
    with open(target + PLANFILE_SUFFIX, "w", encoding="utf-8") as fh:
        json.dump(record, fh)


def recorded_existing(target: str, entry: Entry, flags: int, mode: int) -> Existing | None:
    """What an earlier run recorded at ``target`` for this very entry and transfer settings;
    None when there is no plan file, it is unreadable, or it is for something else."""
    try:
        with open(target + PLANFILE_SUFFIX, encoding="utf-8") as fh:
            record = json.load(fh)
        pre = record["pre"]
        recorded = Existing(Found(pre["kind"]), int(pre["size"]), int(pre["mtimeUs"]))
    except (OSError, ValueError, KeyError, TypeError, UsageError):
        return None
    if record != plan_record(entry, flags, mode, recorded):
        return None
    return recorded


def remove_plan(target: str) -> None:
    """Remove ``target``'s plan file if there is one."""
    try:
        os.unlink(target + PLANFILE_SUFFIX)
    except FileNotFoundError:
        pass
