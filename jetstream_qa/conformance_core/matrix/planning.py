"""The flag matrix: every transfer-flag x overwrite x cipher x symlink x pre-state case.

Theory of operation
-------------------
A *case* is one point of the product

    16 transfer-flag sets x 4 overwrite modes x 4 minimum ciphers x 2 symlink modes
    x 7 destination pre-states  =  3,584 cases

(vendor ``jetstream.constants`` page, 2.9.2: "Transfer flags", "Overwrite Mode", "Min Cipher",
"Symbolic Links"; the pre-states are the situations a destination can be in when a file
arrives). The first four coordinates are properties of a *transfer*; the pre-state is a
property of one *file* at the destination. So one transfer can judge many cases at once:
a :class:`Batch` is one transfer (one :class:`TransferGroup`) carrying one file per pre-state.
The cost unit of a run is therefore the transfer, not the case.

Profiles:

- ``full``: the whole product, 512 transfers of 7 pre-states each.
- ``quick``: a pairwise (2-way) covering array of the four transfer coordinates, computed by
  a deterministic greedy algorithm (:func:`pairwise`), each row crossed with *every* pre-state.
  Every pair of values of any two of the five coordinates appears in at least one case
  (``tests/unit/test_matrix.py`` proves it), at about one eighth of the transfers.

This module is pure: no files, no sockets, no pytest.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar

from jetstream_qa.constants import MinCipher, OverwriteMode, SymlinkMode, TransferFlag
from jetstream_qa.errors import ConfigurationError, UsageError

__all__ = [
    "PRE_STATES",
    "PROFILES",
    "Batch",
    "MatrixCase",
    "TransferGroup",
    "batches",
    "cipher_token",
    "covered_pairs",
    "flags_token",
    "full_product",
    "missing_pairs",
    "overwrite_token",
    "pairwise",
    "plan",
    "quick_plan",
    "symlink_token",
]

T = TypeVar("T", bound=Hashable)

PRE_STATES: Final[tuple[str, ...]] = (
    "absent",
    "same_size_older",
    "same_size_newer",
    "other_size_older",
    "other_size_newer",
    "empty",
    "directory",
)
"""Destination pre-states, in report order. "older"/"newer" compare the existing file's mtime
with the source file's; "other_size" differs from the source size; "empty" is a 0-byte file;
"directory" is a directory standing where the file should land."""

PROFILES: Final[tuple[str, ...]] = ("quick", "full")

_FLAG_SETS: Final = tuple(range(16))
_OVERWRITES: Final = tuple(int(m) for m in OverwriteMode)
_CIPHERS: Final = tuple(int(c) for c in MinCipher)
_SYMLINKS: Final = tuple(int(s) for s in SymlinkMode)
_RW_NAMES: Final = {0: "none", 1: "read", 2: "write", 3: "read_write"}


def flags_token(flags: int) -> str:
    """Readable id token of a flag set: ``read_write``, ``none+write_mtime+write_only_newer``."""
    parts = [_RW_NAMES[flags & 3]]
    if flags & TransferFlag.WRITE_MTIME:
        parts.append("write_mtime")
    if flags & TransferFlag.WRITE_ONLY_NEWER:
        parts.append("write_only_newer")
    return "+".join(parts)


def overwrite_token(mode: int) -> str:
    """``in_place_same_size``, ``never``, ``always`` or ``versioned``."""
    return OverwriteMode(mode).name.lower()


def cipher_token(cipher: int) -> str:
    """``none``, ``unencrypted``, ``encrypted_128`` or ``encrypted_256``."""
    return MinCipher(cipher).name.lower()


def symlink_token(mode: int) -> str:
    """``follow`` or ``ignore`` (symlink mode values are ours, ``docs/semantics.md``)."""
    return SymlinkMode(mode).name.lower()


def _check(name: str, value: int, allowed: Sequence[int]) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise UsageError(f"matrix {name} {value!r} is not one of {list(allowed)}",
                         details={"field": name, "value": repr(value)})


@dataclass(frozen=True, slots=True, order=True)
class TransferGroup:
    """The transfer coordinates shared by every case of one batch."""

    flags: int
    overwrite: int
    cipher: int
    symlink: int

    def __post_init__(self) -> None:
        _check("flags", self.flags, _FLAG_SETS)
        _check("overwrite", self.overwrite, _OVERWRITES)
        _check("cipher", self.cipher, _CIPHERS)
        _check("symlink", self.symlink, _SYMLINKS)

    @property
    def key(self) -> str:
        """``<flags>-<overwrite>-<cipher>-<symlink>``: unique, usable as a directory name."""
        return "-".join((flags_token(self.flags), overwrite_token(self.overwrite),
                         cipher_token(self.cipher), symlink_token(self.symlink)))


@dataclass(frozen=True, slots=True, order=True)
class MatrixCase:
    """One point of the matrix: a transfer group and a destination pre-state."""

    flags: int
    overwrite: int
    cipher: int
    symlink: int
    pre_state: str

    def __post_init__(self) -> None:
        TransferGroup(self.flags, self.overwrite, self.cipher, self.symlink)
        if self.pre_state not in PRE_STATES:
            raise UsageError(f"matrix pre-state {self.pre_state!r} is not one of "
                             f"{list(PRE_STATES)}", details={"field": "pre_state"})

    @property
    def group(self) -> TransferGroup:
        """The transfer this case rides in."""
        return TransferGroup(self.flags, self.overwrite, self.cipher, self.symlink)

    @property
    def slug(self) -> str:
        """``<flags>-<overwrite>-<cipher>-<symlink>-<prestate>`` (unique per case)."""
        return f"{self.group.key}-{self.pre_state}"

    @property
    def case_id(self) -> str:
        """``flags/matrix/<flags>-<overwrite>-<cipher>-<symlink>-<prestate>``."""
        return f"flags/matrix/{self.slug}"

    def coordinates(self) -> dict[str, int | str]:
        """The report's ``matrix`` object: ``{flags, overwrite, cipher, symlink, preState}``."""
        return {"flags": self.flags, "overwrite": self.overwrite, "cipher": self.cipher,
                "symlink": self.symlink, "preState": self.pre_state}


@dataclass(frozen=True, slots=True)
class Batch:
    """One transfer: a group and the pre-states (one destination file each) it carries."""

    group: TransferGroup
    pre_states: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.pre_states or len(set(self.pre_states)) != len(self.pre_states):
            raise UsageError("a batch carries each pre-state once, and at least one",
                             details={"pre_states": list(self.pre_states)})
        for state in self.pre_states:
            if state not in PRE_STATES:
                raise UsageError(f"unknown pre-state {state!r}", details={"field": "pre_state"})

    def cases(self) -> tuple[MatrixCase, ...]:
        """The cases this transfer judges, in pre-state order."""
        g = self.group
        return tuple(MatrixCase(g.flags, g.overwrite, g.cipher, g.symlink, s)
                     for s in self.pre_states)


def full_product() -> tuple[MatrixCase, ...]:
    """Every case, ordered by group then pre-state (3,584 cases)."""
    return tuple(MatrixCase(f, o, c, s, p) for f, o, c, s, p in itertools.product(
        _FLAG_SETS, _OVERWRITES, _CIPHERS, _SYMLINKS, PRE_STATES))


def _row_pairs(row: Sequence[T]) -> Iterable[tuple[int, T, int, T]]:
    for i, j in itertools.combinations(range(len(row)), 2):
        yield (i, row[i], j, row[j])


def covered_pairs(rows: Iterable[Sequence[T]]) -> set[tuple[int, T, int, T]]:
    """Every ``(i, value_i, j, value_j)`` with ``i < j`` that some row of ``rows`` holds."""
    out: set[tuple[int, T, int, T]] = set()
    for row in rows:
        out.update(_row_pairs(row))
    return out


def missing_pairs(rows: Iterable[Sequence[T]],
                  parameters: Sequence[Sequence[T]]) -> set[tuple[int, T, int, T]]:
    """The pairs of parameter values that no row covers (empty for a covering array)."""
    wanted = {(i, a, j, b)
              for i, j in itertools.combinations(range(len(parameters)), 2)
              for a in parameters[i] for b in parameters[j]}
    return wanted - covered_pairs(rows)


def pairwise(parameters: Sequence[Sequence[T]]) -> list[tuple[T, ...]]:
    """A 2-way covering array of ``parameters``, built greedily and deterministically.

    Each step adds, among all rows of the full product, the first one (in product order) that
    covers the most still-uncovered pairs, until none is left. The result depends only on
    ``parameters`` and their order.

    Args:
        parameters: the value lists, one per parameter; at most 100,000 product rows.

    Returns:
        Rows (tuples, one value per parameter) such that every pair of values of any two
        parameters occurs in at least one row. Fewer than two parameters: the plain product.

    Raises:
        UsageError: a parameter has no values or repeats one, or the product is too large.
    """
    for values in parameters:
        if not values or len(set(values)) != len(values):
            raise UsageError("each pairwise parameter needs distinct values, at least one")
    size = 1
    for values in parameters:
        size *= len(values)
    if size > 100_000:
        raise UsageError(f"pairwise: product of {size} rows is too large to search")
    candidates = list(itertools.product(*parameters))
    if len(parameters) < 2:
        return candidates
    uncovered = missing_pairs((), parameters)
    rows: list[tuple[T, ...]] = []
    while uncovered:
        best, best_gain = candidates[0], -1
        for row in candidates:
            gain = sum(1 for p in _row_pairs(row) if p in uncovered)
            if gain > best_gain:
                best, best_gain = row, gain
        rows.append(best)
        uncovered.difference_update(_row_pairs(best))
    return rows


def quick_plan() -> tuple[MatrixCase, ...]:
    """The ``quick`` profile: pairwise over the transfer coordinates x every pre-state.

    Because every chosen transfer carries all seven pre-states, pairs between the pre-state
    and any other coordinate are covered too, so the cases form a 2-way covering array of all
    five coordinates.
    """
    groups = pairwise([_FLAG_SETS, _OVERWRITES, _CIPHERS, _SYMLINKS])
    return tuple(MatrixCase(f, o, c, s, p) for f, o, c, s in sorted(groups) for p in PRE_STATES)


def plan(profile: str) -> tuple[MatrixCase, ...]:
    """The cases of ``profile`` (``quick`` or ``full``).

    Raises:
        ConfigurationError: an unknown profile (the message names it and the known ones).
    """
    if profile == "full":
        return full_product()
    if profile == "quick":
        return quick_plan()
    raise ConfigurationError(f"invalid matrix profile {profile!r}: expected one of "
                             f"{', '.join(PROFILES)}", details={"value": profile})


def batches(cases: Iterable[MatrixCase], *,
            isolate: Collection[str] = ()) -> tuple[Batch, ...]:
    """Group ``cases`` into transfers: one :class:`Batch` per distinct transfer group.

    Groups keep the order in which they first appear; pre-states keep :data:`PRE_STATES`
    order. A case listed twice is carried once.

    Args:
        isolate: pre-states that ride in a transfer of their own when the group WRITEs
            (e.g. ``("directory",)``: an entry expected to fail must not be able to take
            its siblings down with it on a server that aborts a transfer on a failed entry).
    """
    by_group: dict[TransferGroup, set[str]] = {}
    for case in cases:
        by_group.setdefault(case.group, set()).add(case.pre_state)
    out: list[Batch] = []
    for group, states in by_group.items():
        ordered = tuple(p for p in PRE_STATES if p in states)
        alone = tuple(p for p in ordered if p in isolate) if group.flags & TransferFlag.WRITE \
            else ()
        rest = tuple(p for p in ordered if p not in alone)
        out.extend(Batch(group, part) for part in (rest, alone) if part)
    return tuple(out)
