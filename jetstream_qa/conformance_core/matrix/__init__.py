"""The flag matrix: its plan (:mod:`.planning`), what it stages (:mod:`.staging`), the batch
runner (:mod:`.run`) and the per-entry judge (:mod:`.judge`), all judged by the decision table
of :mod:`jetstream_qa.conformance_core.oracle`."""

from jetstream_qa.conformance_core.matrix.planning import (
    PRE_STATES,
    PROFILES,
    Batch,
    MatrixCase,
    TransferGroup,
    batches,
    plan,
)

__all__ = ["PRE_STATES", "PROFILES", "Batch", "MatrixCase", "TransferGroup", "batches", "plan"]
