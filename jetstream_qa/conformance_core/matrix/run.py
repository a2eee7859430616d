"""Running the flag matrix in batches: staging, one transfer per batch, judging each case.

Theory of operation
-------------------
``conformance/test_flags_matrix.py`` has one pytest case per
:class:`~jetstream_qa.conformance_core.matrix.planning.MatrixCase`, but the transfers run once per
module in :class:`MatrixRun`: it stages the source files once on the sender, prepares every
batch's destination directory (one sub-directory per transfer group, one pair of names per
pre-state, :mod:`.staging`), creates one manifest per (symlink mode, set of pre-states) and
one transfer per :class:`~.planning.Batch`, waits for all of them, then each case reads its two
entries and judges them against the judge's own decision table
(:func:`jetstream_qa.conformance_core.oracle.expected_outcome`) with :mod:`.judge`.

Every call goes through the binding (:class:`jetstream_qa.binding.Operations`):
``createManifest`` (symbolic-link mode bound), ``getManifest`` polled until complete,
``createDestination``, ``createTransfer`` (flags, overwrite mode and minimum cipher), the
client's blocking wait when bound else ``getTransfer`` polled, and cancellation only when the
binding has it (an optional capability). A parameter or constant the matrix needs that the
binding cannot name (checked before any call) makes the cases NOT_APPLICABLE naming the
binding-file key. An answer that is not the documented structure is the server's fault: the
batch's cases FAIL with the answer, typed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jetstream_qa.conformance_core.matrix.judge import (
    Mismatch,
    Observed,
    References,
    digest_of,
    judge,
    measure_mtime_granularity,
    observe,
    tolerance_for,
    typed,
)
from jetstream_qa.conformance_core.matrix.planning import Batch, MatrixCase
from jetstream_qa.conformance_core.matrix.staging import SRC_MTIME_US, Entry, entries
from jetstream_qa.conformance_core.matrix.staging import stage_pre_state as _stage_pre
from jetstream_qa.conformance_core.matrix.staging import stage_sources as _stage_sources
from jetstream_qa.conformance_core.oracle import (
    Content,
    ExpectedOutcome,
    PathKind,
    expected_cipher,
    expected_outcome,
    expected_status,
    jetbak_name,
    partfile_name,
    synthetic_bytes,
)
from jetstream_qa.constants import MinCipher, OverwriteMode, TransferFlag
from jetstream_qa.errors import BindingMissing, JetStreamQAError, ProtocolError, TransportError

__all__ = ["ISOLATED", "MatrixFindings", "MatrixRun"]

DEFAULT_RECV_PORT = 8886
"""UDP receive port default (server primer S20): no binding needed to aim at it."""
ISOLATED = ("directory",)
"""Pre-states whose entry fails by design ride alone (see :func:`.planning.batches`)."""
_FLAG_NAMES = {TransferFlag.READ: "READ", TransferFlag.WRITE: "WRITE",
               TransferFlag.WRITE_MTIME: "WRITE_MTIME",
               TransferFlag.WRITE_ONLY_NEWER: "WRITE_ONLY_NEWER"}


def _structure(answer: Any, what: str, key: str) -> dict[str, Any]:
    """``answer`` if it is a dict holding ``key``; else the server answered garbage."""
    if isinstance(answer, dict) and key in answer:
        return answer
    raise _Garbage(f"{what} answered {typed(answer)}, not a structure with {key!r}")


class _Garbage(Exception):
    """The server's answer is not the documented structure (caught per batch)."""


class _Refused(Exception):
    """The client refused a batch's call (caught per batch: its cases FAIL with the text)."""


@dataclass
class BatchRun:
    """What happened to one batch: its transfer (final structure) or why there is none."""

    batch: Batch
    dest_local: Path
    transfer: dict[str, Any] | None = None
    error: str = ""
    calls: list[str] = field(default_factory=list)
    window_us: tuple[int, int] = (0, 0)
    not_applicable: str = ""


@dataclass(frozen=True, slots=True)
class MatrixFindings:
    """A case's judgement: documented mismatches (FAIL), ours (INFO), and the evidence."""

    documented: tuple[Mismatch, ...]
    ours: tuple[str, ...]
    expected: str
    actual: str
    calls: tuple[str, ...]
    not_applicable: str = ""


class MatrixRun:
    """Stages, runs and judges batches (see the module docstring).

    Args:
        ops: the binding's operations over a connected, authenticated sender API object.
        constants: the plugin's ``ServerConstants`` (values of the client in use).
        data_address: the receiver's UDP data address (``host``, ``port``).
        source_dir, source_server: local staging dir on the sender and its server name.
        dest_local, dest_path: local view of the destination dir and its
            ``destinationPath``.
        ciphers: ``(sender minCipher, receiver minCipher)`` from ``getServerInfo``.
        timeout: seconds each wait may take.
    """

    def __init__(self, *, ops: Any, constants: Any, data_address: tuple[str, int],
                 source_dir: Path, source_server: str, dest_local: Path, dest_path: str,
                 ciphers: tuple[int, int], timeout: float) -> None:
        self.ops, self.constants = ops, constants
        self.data_address = data_address
        self.source_dir, self.source_server = source_dir, source_server
        self.dest_local, self.dest_path = dest_local, dest_path
        self.ciphers = ciphers
        self.timeout = timeout
        self.runs: dict[tuple[Any, str], BatchRun] = {}
        self._manifests: dict[tuple[int, tuple[str, ...]], str] = {}
        self.granularity_ns = 1

    # --- staging ------------------------------------------------------------------------
    def stage_sources(self) -> None:
        """Write every source file and link target; measure the destination's mtime grain."""
        _stage_sources(self.source_dir)
        self.dest_local.mkdir(parents=True, exist_ok=True)
        self.granularity_ns = measure_mtime_granularity(self.dest_local)

    def _manifest(self, symlink: int, pre_states: tuple[str, ...], calls: list[str]) -> str:
        key = (symlink, pre_states)
        if key not in self._manifests:
            mappings = {e.name: f"{self.source_server.rstrip('/')}/{e.name}"
                        for p in pre_states for e in entries(p)}
            mode = "follow" if symlink == 1 else "ignore"
            calls.append(f"createManifest(<{len(mappings)} mappings>, symlink {mode})")
            value = self.ops.binding.constant(f"symlink_{mode}", operation="create_manifest")
            made = _structure(self._refusable(lambda: self.ops.call(
                "create_manifest", mappings=mappings, symlink=value)),
                "createManifest", "manifestId")
            done = _structure(self.ops.wait_manifest(made["manifestId"], timeout=self.timeout),
                              "getManifest", "status")
            if done.get("status") != "complete":
                raise _Garbage(f"a manifest of readable sources ended status "
                               f"{typed(done.get('status'))}, errorMessage "
                               f"{typed(done.get('errorMessage'))} (Manifest page: "
                               "pending -> complete)")
            self._manifests[key] = made["manifestId"]
        return self._manifests[key]

    # --- running ------------------------------------------------------------------------
    def _params(self, batch: Batch) -> dict[str, Any]:
        g = batch.group
        flags = sum(self.constants.transfer_flags[n] for bit, n in _FLAG_NAMES.items()
                    if g.flags & bit)
        return {"destination_path": f"{self.dest_path}/{g.key}", "flags": flags,
                "overwrite": self.constants.overwrite[OverwriteMode(g.overwrite).name],
                "min_cipher": self.constants.min_ciphers[MinCipher(g.cipher).name]}

    def _start(self, destination_id: str, batch: Batch, not_applicable: str) -> BatchRun:
        local = self.dest_local / batch.group.key
        local.mkdir(parents=True, exist_ok=True)
        for pre_state in batch.pre_states:
            for entry in entries(pre_state):
                _stage_pre(local, entry)
        run = BatchRun(batch, local, not_applicable=not_applicable)
        if not_applicable:
            return run
        params = self._params(batch)
        start = time.time_ns() // 1000
        try:
            manifest = self._manifest(batch.group.symlink, batch.pre_states, run.calls)
            run.calls.append(f"createTransfer({destination_id!r}, {manifest!r}, {params})")
            run.transfer = _structure(self._refusable(lambda: self.ops.call(
                "create_transfer", destination_id=destination_id, manifest_id=manifest,
                **params)), "createTransfer", "transferId")
        except _Garbage as exc:
            run.error = f"the server answered garbage: {exc}"
        except _Refused as exc:
            run.error = f"transfer not created: {exc}"
        run.window_us = (start - self._slack_us(), 0)
        return run

    def _slack_us(self) -> int:
        """How far a "now" mtime may sit outside the run: the file system's timestamp
        granularity plus the coarse kernel clock's resolution (both measured)."""
        coarse = getattr(time, "CLOCK_REALTIME_COARSE", time.CLOCK_REALTIME)
        return (self.granularity_ns + int(time.clock_getres(coarse) * 1e9)) // 1000 + 1

    def _refusable(self, call: Any) -> Any:
        """``call()``; a refusal in the client's own terms (its exception classes, or
        ours from the bundled client) becomes :class:`_Refused` with its text."""
        try:
            return call()
        except (TransportError, ProtocolError, BindingMissing):
            raise
        except (JetStreamQAError, *self.ops.binding.refusal_classes) as exc:
            raise _Refused(f"{type(exc).__name__}: {exc}") from exc

    def _not_applicable(self) -> str:
        """Why the binding cannot make the matrix's calls ('' when it can): asked before any
        call, naming the binding-file key (BindingMissing's text)."""
        binding, api = self.ops.binding, self.ops.api
        try:
            for mode in ("follow", "ignore"):
                binding.constant(f"symlink_{mode}", operation="create_manifest")
            binding.keyword(api, "create_manifest", "symlink")
            for param in ("destination_path", "flags", "overwrite", "min_cipher"):
                binding.keyword(api, "create_transfer", param)
        except BindingMissing as exc:
            return str(exc)
        return ""

    def run(self, batches: Iterable[Batch]) -> None:
        """Create every batch's transfer, then wait for all of them (bounded)."""
        host, port = self.data_address
        blocked = self._not_applicable()
        dest = None if blocked else self.ops.call(
            "create_destination", address=host, port=None if port == DEFAULT_RECV_PORT else port)
        dest_id = dest.get("destinationId") if isinstance(dest, dict) else None
        if dest_id is None and not blocked:
            garbage = f"the server answered garbage: createDestination -> {typed(dest)}"
            started = [BatchRun(b, self.dest_local / b.group.key, error=garbage)
                       for b in batches]
        else:
            started = [self._start(str(dest_id), b, blocked) for b in batches]
        deadline = time.monotonic() + self.timeout + 0.5 * len(started)
        for run in started:
            if run.transfer is not None:
                self._wait(run, deadline)
            for case in run.batch.cases():
                self.runs[(case.group, case.pre_state)] = run

    def _wait(self, run: BatchRun, deadline: float) -> None:
        assert run.transfer is not None
        tid = run.transfer["transferId"]
        remaining = max(1.0, deadline - time.monotonic())
        final = self.ops.wait_transfer(tid, timeout=remaining)
        if not isinstance(final, dict):
            run.error = f"the transfer wait answered {typed(final)}, not a Transfer"
            final = {}
        elif self.ops.status(final) not in self.ops.final_statuses:
            run.error = (f"transfer {tid} did not finish within the run's deadline (status "
                         f"{typed(final.get('status'))})")
            if self.ops.has("cancel_transfer"):
                with contextlib.suppress(JetStreamQAError, *self.ops.binding.refusal_classes):
                    self.ops.cancel_transfer(tid)
        run.transfer = final
        run.window_us = (run.window_us[0], time.time_ns() // 1000 + self._slack_us())
        run.calls.append(f"wait for transfer {tid} -> status {typed(final.get('status'))}, "
                         f"errorMessage {typed(final.get('errorMessage'))}")

    # --- judging ------------------------------------------------------------------------
    def outcome(self, case: MatrixCase, entry: Entry) -> ExpectedOutcome:
        """The oracle's expectation for ``entry`` of ``case``."""
        return expected_outcome(flags=case.flags, overwrite_mode=case.overwrite,
                                cipher=expected_cipher(case.cipher, *self.ciphers),
                                symlink_mode=case.symlink, source=entry.source(),
                                pre=entry.pre())

    def judge(self, case: MatrixCase) -> MatrixFindings:
        """The verdict material of ``case`` (its two entries in its batch's transfer).

        Raises:
            KeyError: the case's batch was never run (a harness bug).
        """
        run = self.runs[(case.group, case.pre_state)]
        if run.not_applicable:
            return MatrixFindings((), (), "", "", tuple(run.calls), run.not_applicable)
        documented: list[Mismatch] = []
        ours: list[str] = []
        expected, actual = [], []
        results = self._file_results(run)
        for entry in entries(case.pre_state):
            outcome = self.outcome(case, entry)
            for m in self._judge_entry(run, entry, outcome):
                (documented.append(m) if m.documented else ours.append(str(m)))
            reported = results.get(entry.name)
            if reported is not None and reported != outcome.result.value:
                ours.append(f"{entry.name} fileResults outcome: expected "
                            f"{typed(outcome.result.value)}, got {typed(reported)}")
            expected.append(f"{entry.name}: {outcome.result.value} ({outcome.reason}), "
                            f"target {outcome.target.kind} {outcome.target.content} "
                            f"[rules: {', '.join(outcome.rules)}]"
                            + "".join(f" (note {n})" for n in outcome.notes))
            actual.append(f"{entry.name}: {observe(run.dest_local / entry.name).describe()}")
        found, notes = self._status(run, case)
        documented[:0] = found
        ours += notes
        actual[:0] = [m.actual for m in found]
        return MatrixFindings(tuple(documented), tuple(ours), "; ".join(expected),
                              "; ".join(actual), tuple(run.calls))

    def _refs(self, run: BatchRun, entry: Entry) -> References:
        pre = entry.pre()
        hashes = {Content.SOURCE: digest_of(entry.source_bytes),
                  Content.SYNTHETIC: digest_of(synthetic_bytes(0, entry.src_size)),
                  Content.ORIGINAL: digest_of(entry.original_bytes)}
        origin = (f"destination file-system timestamp granularity measured at "
                  f"{self.granularity_ns} ns; the vendor's modificationTime is in µs")
        return References(hashes, SRC_MTIME_US,
                          pre.mtime_us if pre.kind is PathKind.FILE else None, run.window_us,
                          tolerance_for(self.granularity_ns), origin)

    def _judge_entry(self, run: BatchRun, entry: Entry,
                     outcome: ExpectedOutcome) -> list[Mismatch]:
        target = run.dest_local / entry.name
        siblings: dict[str, Observed] = {p.name: observe(p) for p in run.dest_local.iterdir()
                                         if p.name.startswith(entry.name)}
        return judge(outcome, name=entry.name, target=observe(target),
                     partfile=observe(Path(partfile_name(str(target)))),
                     jetbak=observe(Path(jetbak_name(str(target)))),
                     refs=self._refs(run, entry), siblings=siblings)

    @staticmethod
    def _file_results(run: BatchRun) -> dict[str, str]:
        results = (run.transfer or {}).get("fileResults") or []
        if not isinstance(results, list):
            return {}
        return {str(r.get("destPath", "")).rsplit("/", 1)[-1]: str(r.get("outcome"))
                for r in results if isinstance(r, dict)}

    def _status(self, run: BatchRun, case: MatrixCase) -> tuple[list[Mismatch], list[str]]:
        """DOC: a valid combination is accepted and finishes, and a batch whose entries all
        succeed by DOC rules does not end 'error'; OURS: the exact status."""
        if run.error:
            return [Mismatch("transfer", "status", "accepted, then a final status (rule "
                             "status/valid-combination/accepted-and-finishes)", run.error,
                             True)], []
        if run.transfer is None:
            return [], []
        want = expected_status(self.outcome(case, e) for p in run.batch.pre_states
                               for e in entries(p))
        got = self.ops.status(run.transfer)
        message = run.transfer.get("errorMessage")
        seen = f"{typed(got)} (errorMessage {typed(message)})"
        if not isinstance(got, str):
            return [Mismatch("transfer", "status", "a status string", seen, True)], []
        if want.must_not_error and got == "error":
            return [Mismatch("transfer", "status", f"not {typed('error')}: every entry "
                             "succeeds by DOC rules (rule status/documented-success/"
                             "not-error)", seen, True)], []
        if got != want.exact:
            return [], [f"transfer status (ours, {', '.join(want.rules)}): expected "
                        f"{typed(want.exact)}, got {seen}"]
        return [], []
