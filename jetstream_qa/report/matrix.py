"""The conformance matrix view: flag set x overwrite mode x cipher x symlink mode.

One table per symlink mode; rows are the flag sets, columns are overwrite mode x minimum
cipher; a cell aggregates every destination pre-state of that combination and shows the most
severe verdict (FAIL > INCONCLUSIVE > NON_STRICT > INFO > PASS > NOT_APPLICABLE).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jetstream_qa.constants import MinCipher, OverwriteMode, SymlinkMode
from jetstream_qa.report.model import parse_verdict

__all__ = ["MatrixCell", "MatrixTable", "build_matrix", "flag_label"]

_RW = {0: "NONE", 1: "READ", 2: "WRITE", 3: "READ_WRITE"}


def flag_label(flags: int) -> str:
    """``READ_WRITE+MTIME+ONLY_NEWER`` style name of a transfer flag set."""
    parts = [_RW[flags & 3]]
    if flags & 4:
        parts.append("MTIME")
    if flags & 8:
        parts.append("ONLY_NEWER")
    return "+".join(parts)


def _enum_label(enum_type: Any, value: int) -> str:
    try:
        return str(enum_type(value).name)
    except ValueError:
        return str(value)


@dataclass(frozen=True, slots=True)
class MatrixCell:
    """One combination; ``verdict`` is ``""`` when no case covers it."""

    key: str
    verdict: str
    title: str
    count: int


@dataclass(frozen=True, slots=True)
class MatrixTable:
    """One symlink mode's table."""

    symlink: str
    column_groups: tuple[tuple[str, int], ...]
    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[MatrixCell, ...]], ...]


def build_matrix(cases: Iterable[Mapping[str, Any]]) -> list[MatrixTable]:
    """Aggregate the review document's case rows (``matrix = [f, o, c, s, preState]``)."""
    cells: dict[tuple[int, int, int, int], list[tuple[str, str, str]]] = {}
    for case in cases:
        m = case.get("matrix")
        if not m:
            continue
        f, o, c, s, pre = m
        cells.setdefault((s, f, o, c), []).append((case["verdict"], pre, case["id"]))
    if not cells:
        return []
    axis = [sorted({k[i] for k in cells}) for i in range(4)]
    symlinks, flag_sets, overwrites, ciphers = axis
    cols = [(o, c) for o in overwrites for c in ciphers]
    tables = []
    for s in symlinks:
        rows = []
        for f in flag_sets:
            row = []
            for o, c in cols:
                entries = cells.get((s, f, o, c), [])
                label = " | ".join(
                    (flag_label(f), _enum_label(OverwriteMode, o), _enum_label(MinCipher, c),
                     _enum_label(SymlinkMode, s))
                )
                row.append(_cell(f"{s}-{f}-{o}-{c}", label, entries))
            rows.append((flag_label(f), tuple(row)))
        tables.append(
            MatrixTable(
                symlink=_enum_label(SymlinkMode, s),
                column_groups=tuple(
                    (_enum_label(OverwriteMode, o), len(ciphers)) for o in overwrites
                ),
                columns=tuple(_enum_label(MinCipher, c) for _, c in cols),
                rows=tuple(rows),
            )
        )
    return tables


def _cell(key: str, label: str, entries: list[tuple[str, str, str]]) -> MatrixCell:
    if not entries:
        return MatrixCell(key, "", f"{label}: not run", 0)
    worst = max(entries, key=lambda e: parse_verdict(e[0], where="matrix").severity)[0]
    tally: dict[str, int] = {}
    for verdict, _, _ in entries:
        tally[verdict] = tally.get(verdict, 0) + 1
    bad = [f"{pre or '-'}: {v}" for v, pre, _ in entries if v not in ("PASS", "NOT_APPLICABLE")]
    summary = ", ".join(f"{n} {v}" for v, n in sorted(tally.items()))
    title = f"{label}: {summary}" + (f" ({'; '.join(bad[:6])})" if bad else "")
    return MatrixCell(key, worst, title, len(entries))
