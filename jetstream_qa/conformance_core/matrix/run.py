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

Only the documented API is used (``createManifest``, ``waitForManifest``,
``createDestination``, ``createTransfer``, ``waitForTransfer``, ``cancelTransfer``). A client
method that does not take a parameter the matrix needs (checked on its signature before any
call) makes the cases NOT_APPLICABLE, naming the parameter. An answer that is not the
documented structure is the server's fault: the batch's cases FAIL with the answer, typed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jetstream_qa.conformance_core.client_params import missing_parameters
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
from jetstream_qa.errors import JetStreamQAError, RequestTimeout, TransportError

__all__ = ["ISOLATED", "MatrixFindings", "MatrixRun"]

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
        api: a connected, authenticated API object of the sender.
        constants: the plugin's ``ServerConstants`` (values of the client in use).
        data_address: the receiver's UDP data address (``host``, ``port``).
        source_dir, source_server: local staging dir on the sender and its server name.
        dest_local, dest_path: local view of the destination dir and its
            ``destinationPath``.
        ciphers: ``(sender minCipher, receiver minCipher)`` from ``getServerInfo``.
        timeout: seconds each wait may take.
    """

    def __init__(self, *, api: Any, constants: Any, data_address: tuple[str, int],
                 source_dir: Path, source_server: str, dest_local: Path, dest_path: str,
                 ciphers: tuple[int, int], timeout: float) -> None:
        self.api, self.constants = api, constants
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
            mode = (self.constants.symlink_follow if symlink == 1
                    else self.constants.symlink_ignore)
            calls.append(f"send.createManifest(<{len(mappings)} mappings>, symlinkMode={mode})")
            made = _structure(self.api.send.createManifest(mappings=mappings, symlinkMode=mode),
                              "send.createManifest", "manifestId")
            done = _structure(self.api.send.waitForManifest(made["manifestId"],
                                                            timeout=self.timeout),
                              "send.waitForManifest", "status")
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
        return {"destinationPath": f"{self.dest_path}/{g.key}", "transferFlags": flags,
                "overwriteMode": self.constants.overwrite[OverwriteMode(g.overwrite).name],
                "minCipher": self.constants.min_ciphers[MinCipher(g.cipher).name]}

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
            run.calls.append(f"send.createTransfer({destination_id!r}, {manifest!r}, {params})")
            run.transfer = _structure(self.api.send.createTransfer(
                destination_id, manifest, **params), "send.createTransfer", "transferId")
        except TransportError:
            raise
        except _Garbage as exc:
            run.error = f"the server answered garbage: {exc}"
        except JetStreamQAError as exc:
            run.error = f"transfer not created: {type(exc).__name__}: {exc.message}"
        run.window_us = (start - self._slack_us(), 0)
        return run

    def _slack_us(self) -> int:
        """How far a "now" mtime may sit outside the run: the file system's timestamp
        granularity plus the coarse kernel clock's resolution (both measured)."""
        coarse = getattr(time, "CLOCK_REALTIME_COARSE", time.CLOCK_REALTIME)
        return (self.granularity_ns + int(time.clock_getres(coarse) * 1e9)) // 1000 + 1

    def _not_applicable(self, destination_id: str) -> str:
        manifest = missing_parameters(self.api.send.createManifest, mappings={},
                                      symlinkMode=0)
        transfer = missing_parameters(self.api.send.createTransfer, destination_id, "m",
                                      destinationPath="", transferFlags=0, overwriteMode=0,
                                      minCipher=0)
        if not (manifest or transfer):
            return ""
        return ("the client does not accept " + "; ".join(
            f"{m}({', '.join(p)})" for m, p in (("send.createManifest", manifest),
                                                 ("send.createTransfer", transfer)) if p))

    def run(self, batches: Iterable[Batch]) -> None:
        """Create every batch's transfer, then wait for all of them (bounded)."""
        host, port = self.data_address
        dest = self.api.send.createDestination(host, destinationPort=port)
        dest_id = dest.get("destinationId") if isinstance(dest, dict) else None
        if dest_id is None:
            garbage = f"the server answered garbage: send.createDestination -> {typed(dest)}"
            started = [BatchRun(b, self.dest_local / b.group.key, error=garbage)
                       for b in batches]
        else:
            blocked = self._not_applicable(str(dest_id))
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
        try:
            remaining = max(1.0, deadline - time.monotonic())
            final = self.api.send.waitForTransfer(tid, timeout=remaining)
        except RequestTimeout:
            run.error = f"transfer {tid} did not finish within the run's deadline"
            with contextlib.suppress(JetStreamQAError):
                self.api.send.cancelTransfer(tid)
            final = run.transfer
        if not isinstance(final, dict):
            run.error = f"send.waitForTransfer answered {typed(final)}, not a Transfer"
            final = {}
        run.transfer = final
        run.window_us = (run.window_us[0], time.time_ns() // 1000 + self._slack_us())
        run.calls.append(f"send.waitForTransfer({tid}) -> status {typed(final.get('status'))}, "
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
        got, message = run.transfer.get("status"), run.transfer.get("errorMessage")
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
