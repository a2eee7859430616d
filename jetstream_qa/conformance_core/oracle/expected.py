"""The pure evaluator of the decision table: settings + entry + pre-state -> expectation.

Theory of operation
-------------------
:func:`expected_outcome` derives the *facts* of one entry (``conditions`` module docstring),
then walks the stages of :mod:`.rules` in order: SOURCE (a source symlink: ignored, dangling,
or followed to its target), ENTRY (what the receiver does: the first terminal rule wins,
qualifiers on the way drop DOC fields), then, for a written file, CONTENT and MTIME. The
:class:`~.types.ExpectedOutcome` it returns lists the rule ids that applied and the fields a
mismatch of which may FAIL. Every decision is in the table; this module only composes.
:func:`expected_status` does the same for the transfer's status over all its entries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from jetstream_qa.conformance_core.oracle.conditions import Effect, Rule, Slot, Stage
from jetstream_qa.conformance_core.oracle.rules import STAGES
from jetstream_qa.conformance_core.oracle.types import (
    ABSENT_STATE,
    Content,
    DestPreState,
    ExpectedOutcome,
    FileResult,
    FileState,
    MtimeRule,
    PathKind,
    Provenance,
    SourceEntry,
    SourceSymlink,
)
from jetstream_qa.constants import MinCipher, OverwriteMode, SymlinkMode, TransferFlag
from jetstream_qa.errors import UsageError

__all__ = ["ExpectedStatus", "expected_cipher", "expected_outcome", "expected_status",
           "jetbak_name", "partfile_name"]

SLOTS = ("target", "partfile", "jetbak")
FIELDS = ("kind", "content", "size", "mtime", "executable")
_WRITTEN_FIELDS = ("content", "size", "mtime", "executable")


def partfile_name(dest_path: str) -> str:
    """OURS (``names/partfile/name-jetpart``): ``dest_path + '.jetpart'``."""
    return dest_path + ".jetpart"


def jetbak_name(dest_path: str) -> str:
    """DOC (``names/jetbak/name-jetbak``): the original is kept as ``dest_path + '.jetbak'``."""
    return dest_path + ".jetbak"


def expected_cipher(requested: int, sender_min: int, receiver_min: int) -> MinCipher:
    """DOC (``names/cipher/never-below-a-minimum``): the strongest of the three levels.

    Raises:
        UsageError: a value is not a MIN_CIPHER level.
    """
    try:
        return max(MinCipher(v) for v in (requested, sender_min, receiver_min))
    except ValueError as exc:
        raise UsageError(f"not a MIN_CIPHER level: {exc}") from None


def _first(stage: Stage, facts: dict[str, object]) -> tuple[list[Rule], Rule | None]:
    """Qualifiers that match before the first matching terminal rule, and that rule."""
    passed: list[Rule] = []
    for row in STAGES[stage]:
        if row.cond.matches(facts):
            if row.effect is None:
                passed.append(row)
            else:
                return passed, row
    return passed, None


def _settings(flags: int, overwrite_mode: int, cipher: int,
              symlink_mode: int) -> tuple[TransferFlag, OverwriteMode, MinCipher, SymlinkMode]:
    if isinstance(flags, bool) or not isinstance(flags, int) or not 0 <= flags <= 15:
        raise UsageError(f"transfer flags {flags!r} outside 0..15")
    try:
        return (TransferFlag(flags), OverwriteMode(overwrite_mode), MinCipher(cipher),
                SymlinkMode(symlink_mode))
    except ValueError as exc:
        raise UsageError(f"invalid transfer setting: {exc}") from None


def _relation(a: int, b: int, names: tuple[str, str, str]) -> str:
    return names[0] if a > b else names[1] if a == b else names[2]


def _facts(flag: TransferFlag, mode: OverwriteMode, links: SymlinkMode,
           source: SourceEntry | SourceSymlink, pre: DestPreState) -> dict[str, object]:
    facts: dict[str, object] = {
        "link": isinstance(source, SourceSymlink), "link_mode": links.name.lower(),
        "dangling": isinstance(source, SourceSymlink) and source.target is None,
        "read": bool(flag & TransferFlag.READ), "write": bool(flag & TransferFlag.WRITE),
        "write_mtime": bool(flag & TransferFlag.WRITE_MTIME),
        "only_newer": bool(flag & TransferFlag.WRITE_ONLY_NEWER),
        "mode": mode.name.lower(), "pre": pre.kind}
    entry = source.target if isinstance(source, SourceSymlink) else source
    if entry is not None:
        facts["empty_dir"] = entry.is_empty_dir
        if pre.kind is PathKind.FILE:
            facts["size"] = "same" if pre.size == entry.size else (
                "zero" if pre.size == 0 else "other")
            facts["age"] = _relation(pre.mtime_us, entry.mtime_us, ("newer", "equal", "older"))
    return facts


def _untouched(pre: DestPreState) -> FileState:
    if pre.kind is PathKind.ABSENT:
        return ABSENT_STATE
    if pre.kind is PathKind.FILE:
        return FileState(PathKind.FILE, Content.ORIGINAL, pre.size, MtimeRule.ORIGINAL, None)
    return FileState(pre.kind, Content.NONE, None, MtimeRule.ORIGINAL, None)


@dataclass(frozen=True, slots=True)
class _Written:
    state: FileState
    rules: tuple[Rule, ...]
    documented: frozenset[str]


def _written(facts: dict[str, object], entry: SourceEntry) -> _Written:
    """The state a written file takes, from the CONTENT and MTIME stages."""
    _, content = _first(Stage.CONTENT, facts)
    _, mtime = _first(Stage.MTIME, facts)
    assert content is not None and mtime is not None and content.effect and mtime.effect
    docs = frozenset().union(*(r.documents for r in (content, mtime)
                               if r.provenance is Provenance.DOC))
    state = FileState(PathKind.FILE, content.effect.content or Content.NONE, entry.size,
                      mtime.effect.mtime or MtimeRule.NONE, entry.executable)
    return _Written(state, (content, mtime), docs)


def _slot(slot: Slot, pre: DestPreState, written: FileState, dir_mtime: MtimeRule) -> FileState:
    if slot is Slot.ABSENT:
        return ABSENT_STATE
    if slot is Slot.WRITTEN:
        return written
    if slot is Slot.DIRECTORY:
        return FileState(PathKind.DIRECTORY, Content.NONE, None, dir_mtime, None)
    if slot is Slot.ORIGINAL:
        return FileState(PathKind.FILE, Content.ORIGINAL, pre.size, MtimeRule.ORIGINAL, None)
    return _untouched(pre)


def _documented(decision: Rule, effect: Effect, qualifiers: list[Rule],
                written: _Written | None) -> frozenset[str]:
    claims = set(decision.documents) if decision.provenance is Provenance.DOC else set()
    out = {c for c in claims if c not in SLOTS}
    slots = {"target": effect.target, "partfile": effect.partfile, "jetbak": effect.jetbak}
    for name, slot in slots.items():
        if name not in claims:
            continue
        out.update(f"{name}.{f}" for f in FIELDS)
        if slot is Slot.WRITTEN:
            attr_docs = written.documented if written else frozenset()
            out.difference_update(f"{name}.{f}" for f in _WRITTEN_FIELDS if f not in attr_docs)
    if written and "not-source" in written.documented and (
            {"appears", "target", "partfile"} & claims):
        out.add("not-source")
    for q in qualifiers:
        for dropped in q.drops:
            out.discard(dropped)
            out.difference_update({f"{dropped}.{f}" for f in FIELDS})
    return frozenset(out)


def expected_outcome(*, flags: int, overwrite_mode: int, cipher: int, symlink_mode: int,
                     source: SourceEntry | SourceSymlink,
                     pre: DestPreState) -> ExpectedOutcome:
    """What one entry should leave at the destination, by the table of :mod:`.rules`.

    Args:
        flags: TRANSFER_FLAG bits (0..15).
        overwrite_mode: an OverwriteMode value (2..5).
        cipher: the transfer's effective MIN_CIPHER level; recorded, never changes storage.
        symlink_mode: a SymlinkMode value; matters only when ``source`` is a SourceSymlink.
        source: the entry, or a symbolic link at the source.
        pre: the destination path's state before the transfer.

    Returns:
        The expectation, with the ids of the rules that applied and its DOC fields.

    Raises:
        UsageError: a flag set, mode or cipher out of range.
    """
    flag, mode, level, links = _settings(flags, overwrite_mode, cipher, symlink_mode)
    facts = _facts(flag, mode, links, source, pre)
    qualifiers, decision = (_first(Stage.SOURCE, facts) if facts["link"] else ([], None))
    entry = source.target if isinstance(source, SourceSymlink) else source
    if decision is None:
        more, decision = _first(Stage.ENTRY, facts)
        qualifiers += more
    assert decision is not None and decision.effect is not None, facts  # the table is total
    effect = decision.effect
    written = _written(facts, entry) if entry is not None else None
    target_fact = "written" if effect.target is Slot.WRITTEN else (
        "directory" if effect.target is Slot.DIRECTORY else "untouched")
    mtime_qualifiers, _ = _first(Stage.MTIME, {**facts, "target": target_fact})
    qualifiers += mtime_qualifiers
    writes = Slot.WRITTEN in (effect.target, effect.partfile)
    used = [*qualifiers[:len(qualifiers) - len(mtime_qualifiers)], decision,
            *(written.rules if writes and written else ()), *mtime_qualifiers]
    dir_mtime = (MtimeRule.SOURCE if facts["write_mtime"] else
                 MtimeRule.NOW if pre.kind is PathKind.ABSENT else MtimeRule.ORIGINAL)
    file_state = written.state if written else ABSENT_STATE
    on_wire = Content.NONE if not effect.on_wire else (
        Content.SOURCE if facts["read"] else Content.SYNTHETIC)
    name = source.dest_path
    return ExpectedOutcome(
        result=effect.result or FileResult.ERROR,
        reason=effect.reason.replace("{pre}", str(pre.kind)), method=effect.method,
        target=_slot(effect.target, pre, file_state, dir_mtime),
        partfile=partfile_name(name) if effect.partfile is Slot.WRITTEN else None,
        partfile_state=file_state if effect.partfile is Slot.WRITTEN else None,
        jetbak=jetbak_name(name) if effect.jetbak is Slot.ORIGINAL else None,
        jetbak_state=_slot(effect.jetbak, pre, file_state, dir_mtime)
        if effect.jetbak is Slot.ORIGINAL else None,
        on_wire=on_wire, wants_data=writes, cipher=level,
        rules=tuple(r.rule_id for r in used),
        documented=_documented(decision, effect, qualifiers, written if writes else None),
        notes=tuple(f"{r.rule_id}: {r.note}" for r in qualifiers if r.note and r.drops))


@dataclass(frozen=True, slots=True)
class ExpectedStatus:
    """The transfer-level expectation over all its entries.

    ``must_finish`` and ``must_not_error`` are DOC (a mismatch FAILs); ``exact`` is OURS.
    """

    must_finish: bool
    must_not_error: bool
    exact: str
    rules: tuple[str, ...]


def expected_status(outcomes: Iterable[ExpectedOutcome]) -> ExpectedStatus:
    """The STATUS stage of the table for a transfer carrying ``outcomes``."""
    items = list(outcomes)
    success = (FileResult.WRITTEN, FileResult.NOT_WRITTEN, FileResult.IGNORED)
    facts = {
        "batch": "all-documented-success" if items and all(
            o.result in success and o.decision_documented for o in items) else "some-open",
        "entry_error": any(o.result is FileResult.ERROR for o in items)}
    rows = [r for r in STAGES[Stage.STATUS] if r.cond.matches(facts)]
    docs = set().union(*(r.documents for r in rows if r.provenance is Provenance.DOC))
    exact = next(r.effect.status for r in rows
                 if r.provenance is Provenance.OURS and r.effect is not None)
    return ExpectedStatus("status.final" in docs, "status.not-error" in docs, exact,
                          tuple(r.rule_id for r in rows))
