"""The judge's oracle: a decision table written from the vendor text, and its evaluator.

The reference server implements the same behaviour in its own code (``refserver/``); this
package never imports it, nor ``jetstream_qa.semantics``. Rules: :mod:`.rules`; evaluation:
:mod:`.expected`; vocabulary: :mod:`.types`; synthetic content: :mod:`.synthetic`.
"""

from jetstream_qa.conformance_core.oracle.conditions import Cond, Effect, Rule, Slot, Stage
from jetstream_qa.conformance_core.oracle.expected import (
    ExpectedStatus,
    expected_cipher,
    expected_outcome,
    expected_status,
    jetbak_name,
    partfile_name,
)
from jetstream_qa.conformance_core.oracle.rules import ALL_RULES, RULES_BY_ID, STAGES, rule
from jetstream_qa.conformance_core.oracle.synthetic import synthetic_bytes
from jetstream_qa.conformance_core.oracle.types import (
    Content,
    DestPreState,
    ExpectedOutcome,
    FileResult,
    FileState,
    MtimeRule,
    PathKind,
    Provenance,
    Quote,
    SourceEntry,
    SourceSymlink,
    WriteMethod,
)

__all__ = [
    "ALL_RULES", "RULES_BY_ID", "STAGES", "Cond", "Content", "DestPreState", "Effect",
    "ExpectedOutcome", "ExpectedStatus", "FileResult", "FileState", "MtimeRule",
    "PathKind", "Provenance", "Quote", "Rule", "Slot", "SourceEntry",
    "SourceSymlink", "Stage", "WriteMethod", "expected_cipher", "expected_outcome",
    "expected_status", "jetbak_name", "partfile_name", "rule", "synthetic_bytes",
]
