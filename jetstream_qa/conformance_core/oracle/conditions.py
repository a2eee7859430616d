"""Conditions and effects of the decision table (the shapes :mod:`.rules` is written in).

A :class:`Cond` names, for some *facts* of an entry, the values it matches; a fact it does
not name matches anything. Facts are plain values the evaluator (:mod:`.expected`) derives
from the transfer settings, the source and the pre-state:

``link`` (the source is a symlink), ``link_mode`` (``follow``/``ignore``), ``dangling``,
``empty_dir``, ``read``, ``write``, ``write_mtime``, ``only_newer`` (flag bits),
``mode`` (overwrite mode name), ``pre`` (PathKind of the pre-state), ``size`` (pre-state size
against the source: ``same``/``zero``/``other``), ``age`` (pre-state mtime against the
source: ``newer``/``equal``/``older``), ``target`` (after the entry decision: ``written``,
``untouched``, ``directory``), ``batch`` (status stage: ``all-documented-success`` or
``some-open``), ``entry_error`` (status stage: an entry is expected to be an error).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from jetstream_qa.conformance_core.oracle.types import (
    Content,
    FileResult,
    MtimeRule,
    Provenance,
    Quote,
    WriteMethod,
)
from jetstream_qa.errors import UsageError

__all__ = ["FACTS", "Cond", "Effect", "Rule", "Slot", "Stage", "when"]

FACTS = frozenset({"link", "link_mode", "dangling", "empty_dir", "read", "write",
                   "write_mtime", "only_newer", "mode", "pre", "size", "age", "target",
                   "batch", "entry_error"})


class Stage(enum.StrEnum):
    """Where a rule is consulted. SOURCE, ENTRY, CONTENT, MTIME: first terminal match wins,
    qualifiers on the way apply. STATUS: every matching rule applies. NAMES: definitions
    used by name (partfile/backup names, synthetic bytes, cipher)."""

    SOURCE = "source"
    ENTRY = "entry"
    CONTENT = "content"
    MTIME = "mtime"
    STATUS = "status"
    NAMES = "names"


class Slot(enum.StrEnum):
    """What a path (target, partfile, backup) holds after an entry decision."""

    ABSENT = "absent"
    UNTOUCHED = "untouched"
    WRITTEN = "written"
    DIRECTORY = "directory"
    ORIGINAL = "original"
    """The pre-state's file, moved there (the ``.jetbak`` of VERSIONED)."""


@dataclass(frozen=True, slots=True)
class Cond:
    """Facts and the values each may take for the rule to match (sorted, hashable)."""

    facts: tuple[tuple[str, frozenset[object]], ...] = ()

    def __post_init__(self) -> None:
        for name, values in self.facts:
            if name not in FACTS:
                raise UsageError(f"unknown fact {name!r} in a rule condition")
            if not values:
                raise UsageError(f"fact {name!r} allows no value")

    def matches(self, facts: Mapping[str, object]) -> bool:
        """True when every named fact has one of the allowed values."""
        return all(facts.get(name) in values for name, values in self.facts)

    def describe(self) -> str:
        """``write=False, pre=file`` (``always`` when nothing is named)."""
        if not self.facts:
            return "always"
        parts = []
        for name, values in self.facts:
            shown = sorted(str(v) for v in values)
            parts.append(f"{name}={shown[0]}" if len(shown) == 1
                         else f"{name} in {{{', '.join(shown)}}}")
        return ", ".join(parts)


def when(**facts: object) -> Cond:
    """A :class:`Cond` from keywords; a tuple, set or frozenset value allows several."""
    items = []
    for name, value in sorted(facts.items()):
        values = frozenset(value) if isinstance(value, tuple | set | frozenset) \
            else frozenset({value})
        items.append((name, values))
    return Cond(tuple(items))


@dataclass(frozen=True, slots=True)
class Effect:
    """What a terminal rule decides. Entry rules set result..jetbak; CONTENT rules set
    ``content``; MTIME rules ``mtime``; STATUS rules ``status`` (a requirement text)."""

    result: FileResult | None = None
    reason: str = ""
    """May hold ``{pre}``, replaced by the pre-state's kind."""
    method: WriteMethod = WriteMethod.NONE
    target: Slot = Slot.UNTOUCHED
    partfile: Slot = Slot.ABSENT
    jetbak: Slot = Slot.ABSENT
    on_wire: bool = True
    """False when no data of the entry crosses the wire (a link not sent, a directory)."""
    content: Content | None = None
    mtime: MtimeRule | None = None
    status: str = ""


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the table.

    Args:
        rule_id: stable id (``flags/no-write/nothing-written``); docs and reports cite it.
        stage: where it is consulted.
        cond: when it matches.
        effect: what it decides; ``None`` makes it a *qualifier* (it applies and the search
            goes on).
        provenance: DOC when the vendor text states what the rule asserts (at least in part),
            OURS otherwise.
        documents: the asserted fields that are DOC (see ``ExpectedOutcome``); a slot name
            (``target``) stands for all its fields, ``decision`` for the result itself.
        drops: (qualifiers) fields that stop being DOC when it applies.
        quotes: the vendor sentences it rests on (DOC) or that leave it open (OURS).
        note: our reading, in one or two sentences.

    Raises:
        UsageError: a DOC rule without a quote or DOC fields, an OURS rule claiming DOC
            fields.
    """

    rule_id: str
    stage: Stage
    cond: Cond
    effect: Effect | None
    provenance: Provenance
    documents: frozenset[str] = frozenset()
    drops: frozenset[str] = frozenset()
    quotes: tuple[Quote, ...] = ()
    note: str = ""

    def __post_init__(self) -> None:
        if self.provenance is Provenance.DOC and not (self.quotes and self.documents):
            raise UsageError(f"DOC rule {self.rule_id} needs a vendor quote and DOC fields")
        if self.provenance is Provenance.OURS and self.documents:
            raise UsageError(f"OURS rule {self.rule_id} cannot make fields DOC")
        if self.effect is None and self.stage in (Stage.STATUS, Stage.NAMES):
            raise UsageError(f"{self.stage} rule {self.rule_id} needs an effect")
