"""The decision table: every rule the judge holds a server to, as data.

Each :class:`~.conditions.Rule` carries the vendor sentence it rests on (verbatim, with the
``shared/jetstream-docs`` file it is in) and its provenance: DOC (the vendor states it: a
mismatch may FAIL) or OURS (our reading: INFO). Provenance is also per asserted field: a DOC
rule lists in ``documents`` exactly what the sentence supports, everything else it predicts is
OURS. ``docs/semantics.md`` lists every rule (``tests/unit/test_oracle_table.py`` keeps the two
in step). The evaluator is :mod:`.expected`; it holds no rule of its own.
"""

from __future__ import annotations

from jetstream_qa.conformance_core.oracle.conditions import Effect, Rule, Slot, Stage, when
from jetstream_qa.conformance_core.oracle.types import (
    Content,
    FileResult,
    MtimeRule,
    PathKind,
    Provenance,
    Quote,
    WriteMethod,
)

__all__ = ["ALL_RULES", "RULES_BY_ID", "STAGES", "rule"]

DOC, OURS = Provenance.DOC, Provenance.OURS
_K = "vendor-constants-2.9.2.txt (S11 jetstream-api/2.9.2/api/python/jetstream.constants.html)"
_A = "api.md"


def _k(text: str) -> Quote:
    return Quote(_K, text)


def _a(text: str) -> Quote:
    return Quote(_A, text)


Q_READ = _k("Transfers with this flag will skip writing to disk at destination, and will only "
            "read at sender side.")
Q_NONE = _k("Disable both read and write flags.")
Q_WRITE = _k("Transfers with this flag will will skip reading from disk, and will only write "
             "at the destination.")
Q_READ_WRITE = _k("Enable both read and write flags. This is the default value.")
Q_MTIME = _k("Set the modification time on the destination to match the source.")
Q_NEWER = _k("Don\u2019t write the file if the destination file exists and is newer than the "
             "source.")
Q_SAME_SIZE = _k("Overwrite files only if the existing file is same or zero (0) size.")
Q_NEVER = _k("Use partfiles, and never overwrite existing files.")
Q_NEVER_LEFT = _k("Instead of overwriting, the partfile will be left in place.")
Q_ALWAYS = _k("Use partfiles, and overwrite existing files.")
Q_VERSIONED = _k("The original file will be backed up with a .jetbak extension.")
Q_FOLLOW = _k("Follow the symlink and copy the file contents.")
Q_IGNORE = _k("Ignore (do not copy) symbolic links.")
Q_EMPTY_DIR = _a("`isEmptyDir` (the transfer creates an empty directory)")
Q_EXEC = _a("`executable` (file marked executable)")
Q_MOD_TIME = _a("`modificationTime` (content mtime, see Timestamps)")
Q_MICRO = _a("Unix time in UTC, **in microseconds**")
Q_FAILED = _a("Error description when it failed (see `status`).")
Q_STATUSES = _a("(`receiving` | `complete` | `error`)")
Q_MIN_CIPHER = _a("Minimum supported transfer cipher")

_IN_WAY = (PathKind.DIRECTORY, PathKind.SYMLINK, PathKind.OTHER)
_UNTOUCHED_DOC = frozenset({"decision", "target", "partfile", "jetbak"})

SOURCE_RULES = (
    Rule("symlink/ignore/not-copied", Stage.SOURCE, when(link=True, link_mode="ignore"),
         Effect(FileResult.IGNORED, "symlink-ignored", on_wire=False), DOC,
         documents=_UNTOUCHED_DOC, quotes=(Q_IGNORE,),
         note="Nothing of the link reaches the destination: the path keeps its pre-state."),
    Rule("symlink/follow/dangling-not-sent", Stage.SOURCE, when(link=True, dangling=True),
         Effect(FileResult.IGNORED, "dangling-symlink", on_wire=False), OURS,
         quotes=(Q_FOLLOW,),
         note="A dangling link has no contents to copy; the vendor does not say whether it "
              "is skipped or fails the manifest. Ours: not sent, the rest goes on."),
    Rule("symlink/follow/copies-target", Stage.SOURCE, when(link=True, link_mode="follow"),
         None, DOC, documents=frozenset({"content"}), quotes=(Q_FOLLOW,),
         note="The entry becomes the link's target, under the link's path; the rules below "
              "then apply to it."),
)

ENTRY_RULES = (
    Rule("empty-dir/no-write/not-created", Stage.ENTRY, when(empty_dir=True, write=False),
         Effect(FileResult.NOT_WRITTEN, "no-write-flag", on_wire=False), DOC,
         documents=_UNTOUCHED_DOC, quotes=(Q_READ, Q_NONE)),
    Rule("empty-dir/file-in-the-way", Stage.ENTRY,
         when(empty_dir=True, pre=(PathKind.FILE, *_IN_WAY[1:])),
         Effect(FileResult.ERROR, "{pre}-in-the-way", on_wire=False), OURS,
         note="A file is never deleted to make room for a directory."),
    Rule("empty-dir/created", Stage.ENTRY, when(empty_dir=True, pre=PathKind.ABSENT),
         Effect(FileResult.WRITTEN, "created", WriteMethod.MKDIR, target=Slot.DIRECTORY,
                on_wire=False), DOC,
         documents=frozenset({"decision", "target.kind"}), quotes=(Q_EMPTY_DIR,)),
    Rule("empty-dir/existing-reused", Stage.ENTRY, when(empty_dir=True,
                                                        pre=PathKind.DIRECTORY),
         Effect(FileResult.WRITTEN, "exists", WriteMethod.MKDIR, target=Slot.DIRECTORY,
                on_wire=False), OURS,
         note="An existing directory is reused, not an error."),
    Rule("flags/no-write/nothing-written", Stage.ENTRY, when(write=False),
         Effect(FileResult.NOT_WRITTEN, "no-write-flag"), DOC, documents=_UNTOUCHED_DOC,
         quotes=(Q_READ, Q_NONE),
         note="Without WRITE nothing appears at the destination, not even a partfile; the data "
              "still crosses the wire (READ: the source's bytes)."),
    *(Rule(f"in-the-way/{kind}", Stage.ENTRY, when(pre=kind),
           Effect(FileResult.ERROR, "{pre}-in-the-way"), OURS,
           note=f"A {kind} at the target is never removed or written through: the entry "
                "fails, the others go on.") for kind in _IN_WAY),
    Rule("flags/only-newer/newer-destination-skipped", Stage.ENTRY,
         when(only_newer=True, pre=PathKind.FILE, age="newer"),
         Effect(FileResult.SKIPPED, "destination-newer"), DOC, documents=_UNTOUCHED_DOC,
         quotes=(Q_NEWER,)),
    Rule("flags/only-newer/equal-mtime-is-not-newer", Stage.ENTRY,
         when(only_newer=True, pre=PathKind.FILE, age="equal"), None, OURS,
         drops=frozenset({"decision", "target", "partfile", "jetbak", "appears",
                          "left-in-place"}),
         note="'Newer' is read as strictly greater: a copy with the same mtime is written "
              "(the overwrite mode decides how), so a re-run repairs it. Whether it is "
              "written at all is ours."),
    Rule("overwrite/in-place-same-size/absent-created", Stage.ENTRY,
         when(mode="in_place_same_size", pre=PathKind.ABSENT),
         Effect(FileResult.WRITTEN, "in-place", WriteMethod.IN_PLACE, target=Slot.WRITTEN), DOC,
         documents=frozenset({"decision", "appears"}), quotes=(Q_WRITE, Q_SAME_SIZE),
         note="Nothing exists to overwrite, so WRITE writes the file (DOC: it appears); that it "
              "is created in place at NAME without a partfile is ours."),
    Rule("overwrite/in-place-same-size/same-size-in-place", Stage.ENTRY,
         when(mode="in_place_same_size", pre=PathKind.FILE, size="same"),
         Effect(FileResult.WRITTEN, "in-place", WriteMethod.IN_PLACE, target=Slot.WRITTEN), DOC,
         documents=frozenset({"decision", "target", "appears"}), quotes=(Q_SAME_SIZE,)),
    Rule("overwrite/in-place-same-size/empty-in-place", Stage.ENTRY,
         when(mode="in_place_same_size", pre=PathKind.FILE, size="zero"),
         Effect(FileResult.WRITTEN, "in-place", WriteMethod.IN_PLACE, target=Slot.WRITTEN), DOC,
         documents=frozenset({"decision", "target", "appears"}), quotes=(Q_SAME_SIZE,)),
    Rule("overwrite/in-place-same-size/other-size-left", Stage.ENTRY,
         when(mode="in_place_same_size", pre=PathKind.FILE, size="other"),
         Effect(FileResult.SKIPPED, "size-differs"), DOC,
         documents=frozenset({"target"}), quotes=(Q_SAME_SIZE,),
         note="The existing file is not overwritten (DOC); calling it a skip rather than an "
              "error, and the transfer status that follows, are ours."),
    Rule("overwrite/never/absent-created", Stage.ENTRY,
         when(mode="never", pre=PathKind.ABSENT),
         Effect(FileResult.WRITTEN, "created", WriteMethod.PARTFILE_RENAME,
                target=Slot.WRITTEN), DOC,
         documents=frozenset({"decision", "appears"}), quotes=(Q_WRITE, Q_NEVER),
         note="Nothing exists to overwrite, so the file is written (DOC: it appears); that the "
              "partfile is renamed to NAME rather than left is ours."),
    Rule("overwrite/never/existing-partfile-left", Stage.ENTRY,
         when(mode="never", pre=PathKind.FILE),
         Effect(FileResult.WRITTEN, "exists-partfile-kept", WriteMethod.PARTFILE_KEPT,
                partfile=Slot.WRITTEN), DOC,
         documents=frozenset({"decision", "target", "left-in-place"}),
         quotes=(Q_NEVER, Q_NEVER_LEFT),
         note="NAME is untouched and a partfile stays beside it (DOC); its name NAME.jetpart "
              "and content are ours."),
    Rule("overwrite/always/absent-created", Stage.ENTRY,
         when(mode="always", pre=PathKind.ABSENT),
         Effect(FileResult.WRITTEN, "created", WriteMethod.PARTFILE_RENAME,
                target=Slot.WRITTEN), DOC,
         documents=frozenset({"decision", "target", "appears"}), quotes=(Q_WRITE, Q_ALWAYS)),
    Rule("overwrite/always/existing-replaced", Stage.ENTRY,
         when(mode="always", pre=PathKind.FILE),
         Effect(FileResult.WRITTEN, "replaced", WriteMethod.PARTFILE_RENAME,
                target=Slot.WRITTEN), DOC,
         documents=frozenset({"decision", "target", "appears"}), quotes=(Q_ALWAYS,)),
    Rule("overwrite/versioned/absent-created", Stage.ENTRY,
         when(mode="versioned", pre=PathKind.ABSENT),
         Effect(FileResult.WRITTEN, "created", WriteMethod.PARTFILE_RENAME,
                target=Slot.WRITTEN), DOC,
         documents=frozenset({"decision", "target", "appears"}), quotes=(Q_WRITE, Q_VERSIONED),
         note="No original, so no backup (a .jetbak appearing anyway is ours to judge)."),
    Rule("overwrite/versioned/existing-replaced-original-kept", Stage.ENTRY,
         when(mode="versioned", pre=PathKind.FILE),
         Effect(FileResult.WRITTEN, "replaced-original-kept", WriteMethod.PARTFILE_RENAME,
                target=Slot.WRITTEN, jetbak=Slot.ORIGINAL), DOC,
         documents=frozenset({"decision", "target", "appears", "jetbak.kind",
                              "jetbak.content", "jetbak.size"}),
         quotes=(Q_VERSIONED, Q_ALWAYS),
         note="NAME.jetbak holds the original's bytes (DOC); its mtime (kept by our rename) "
              "and replacing an older NAME.jetbak are ours."),
)

CONTENT_RULES = (
    Rule("content/read/source-bytes", Stage.CONTENT, when(read=True),
         Effect(content=Content.SOURCE), DOC,
         documents=frozenset({"content", "size", "executable"}),
         quotes=(Q_READ_WRITE, Q_EXEC),
         note="A written file holds the source's bytes, its size and its executable mark."),
    Rule("content/no-read/synthetic-bytes", Stage.CONTENT, when(read=False),
         Effect(content=Content.SYNTHETIC), DOC,
         documents=frozenset({"size", "not-source", "executable"}),
         quotes=(Q_WRITE, Q_EXEC),
         note="The sender does not read the disk, so the written bytes are not the source's "
              "(DOC) and the file has the source's size; which bytes it sends is ours "
              "(docs/semantics.md, synthetic content)."),
)

MTIME_RULES = (
    Rule("mtime/write-mtime/untouched-file-open", Stage.MTIME,
         when(write_mtime=True, target="untouched", pre=PathKind.FILE), None, OURS,
         drops=frozenset({"target.mtime"}), quotes=(Q_READ, Q_MTIME),
         note="Contradictory text: READ/skip rules say nothing is written at the destination, "
              "WRITE_MTIME says the destination's mtime is set. Ours: an untouched file keeps "
              "its mtime; another server's choice is INFO."),
    Rule("mtime/write-mtime/source-time", Stage.MTIME, when(write_mtime=True),
         Effect(mtime=MtimeRule.SOURCE), DOC, documents=frozenset({"mtime"}),
         quotes=(Q_MTIME, Q_MOD_TIME, Q_MICRO),
         note="Equal to the source's modificationTime (microseconds) within the destination "
              "file system's measured timestamp granularity."),
    Rule("mtime/no-write-mtime/time-of-writing", Stage.MTIME, when(write_mtime=False),
         Effect(mtime=MtimeRule.NOW), OURS,
         note="Without WRITE_MTIME a written file carries the time it was written."),
)

STATUS_RULES = (
    Rule("status/valid-combination/accepted-and-finishes", Stage.STATUS, when(),
         Effect(status="accepted, then a final status within the run's deadline"), DOC,
         documents=frozenset({"status.final"}), quotes=(Q_NONE, Q_READ, Q_WRITE, Q_STATUSES),
         note="Every documented flag set and overwrite mode is a valid transfer setting; "
              "NONE and READ are documented modes in which data flows."),
    Rule("status/documented-success/not-error", Stage.STATUS,
         when(batch="all-documented-success"),
         Effect(status="not 'error'"), DOC, documents=frozenset({"status.not-error"}),
         quotes=(Q_STATUSES, Q_FAILED, Q_NONE, Q_READ),
         note="When every entry does what a DOC rule says (written, not written without "
              "WRITE, link ignored), the transfer did not fail."),
    Rule("status/entry-error/ends-error", Stage.STATUS, when(entry_error=True),
         Effect(status="error"), OURS,
         note="A failed entry ends the transfer 'error' once the others are written."),
    Rule("status/otherwise/complete", Stage.STATUS, when(entry_error=False),
         Effect(status="complete"), OURS,
         note="Skipped, not-written and ignored entries leave it 'complete' (the exact "
              "string of the sender's Transfer status is not documented)."),
)

NAME_RULES = (
    Rule("names/partfile/name-jetpart", Stage.NAMES, when(), Effect(reason=".jetpart"), OURS,
         note="The partfile of NAME is NAME.jetpart in the same folder."),
    Rule("names/jetbak/name-jetbak", Stage.NAMES, when(), Effect(reason=".jetbak"), DOC,
         documents=frozenset({"jetbak.name"}), quotes=(Q_VERSIONED,)),
    Rule("names/synthetic/pattern", Stage.NAMES, when(), Effect(reason="synthetic"), OURS,
         note="Byte i = P[i % 65521], P = SHA-256(b'jetstream-qa synthetic %d' % k) for "
              "k = 0, 1, ... concatenated, cut to 65521 bytes."),
    Rule("names/cipher/never-below-a-minimum", Stage.NAMES, when(), Effect(reason="max"), DOC,
         documents=frozenset({"cipher"}), quotes=(Q_MIN_CIPHER,),
         note="Data crosses at the strongest of the request and the two servers' minimums; "
              "the cipher never changes what is stored (ours)."),
)

STAGES: dict[Stage, tuple[Rule, ...]] = {
    Stage.SOURCE: SOURCE_RULES, Stage.ENTRY: ENTRY_RULES, Stage.CONTENT: CONTENT_RULES,
    Stage.MTIME: MTIME_RULES, Stage.STATUS: STATUS_RULES, Stage.NAMES: NAME_RULES,
}
ALL_RULES: tuple[Rule, ...] = tuple(r for rules in STAGES.values() for r in rules)
RULES_BY_ID: dict[str, Rule] = {r.rule_id: r for r in ALL_RULES}
if len(RULES_BY_ID) != len(ALL_RULES):  # pragma: no cover - a table typo
    raise RuntimeError("duplicate rule ids in the oracle table")


def rule(rule_id: str) -> Rule:
    """The rule named ``rule_id``. Raises KeyError for an unknown id."""
    return RULES_BY_ID[rule_id]
