"""Running the flag matrix in batches: staging, one transfer per batch, judging each case.

Theory of operation
-------------------
``test_flags_matrix.py`` has one pytest case per :class:`~jetstream_qa.matrix.MatrixCase`, but
the transfers run once per module in :class:`MatrixRun`: it stages the source files once on
the sender, prepares every batch's destination directory (one sub-directory per transfer
group, one pair of names per pre-state), creates one manifest per (symlink mode, set of
pre-states) and one transfer per :class:`~jetstream_qa.matrix.Batch`, waits for all of them,
then each case reads its two entries and judges them against
:func:`jetstream_qa.semantics.expected_outcome` with :mod:`jetstream_qa.matrix_judge`.

Each pre-state is tried with two source entries: ``<pre>.dat``, a regular file, and
``<pre>.lnk``, a symbolic link to a regular file (so the symlink mode matters). Sources are
deterministic bytes with a fixed mtime in the past; originals at the destination differ in
content, and their size and mtime follow the pre-state's name.

Only the documented API is used (``createManifest``, ``createDestination``, ``createTransfer``,
``waitForTransfer``, ``cancelTransfer``, ``getServerInfo``); the oracle is
:mod:`jetstream_qa.semantics`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jetstream_qa import expect
from jetstream_qa import semantics as sem
from jetstream_qa.constants import MinCipher, OverwriteMode, TransferFlag
from jetstream_qa.errors import JetStreamQAError, RequestTimeout, TransportError
from jetstream_qa.matrix import PRE_STATES, Batch, MatrixCase
from jetstream_qa.matrix_judge import Mismatch, References, digest_of, judge, observe

__all__ = ["ISOLATED", "MatrixRun", "Verdict"]

SRC_MTIME_US = 1_577_836_800_123_456
"""Source files' mtime: 2020-01-01T00:00:00.123456Z (a microsecond part on purpose)."""
DAY_US = 86_400 * 1_000_000
ISOLATED = ("directory",)
"""Pre-states whose entry fails by design ride alone (see :func:`jetstream_qa.matrix.batches`)."""

_KIND = {"absent": sem.PreKind.ABSENT, "directory": sem.PreKind.DIRECTORY}


def _bytes(label: str, size: int) -> bytes:
    seed = hashlib.sha256(label.encode()).digest()
    blocks = (seed + hashlib.sha256(seed + bytes([i % 256])).digest()
              for i in range(size // 64 + 1))
    return b"".join(blocks)[:size]


@dataclass(frozen=True, slots=True)
class Entry:
    """One destination name of a pre-state: ``<pre>.dat`` or ``<pre>.lnk``."""

    pre_state: str
    name: str
    is_link: bool
    src_size: int

    @property
    def source_bytes(self) -> bytes:
        return _bytes(f"source:{self.name}", self.src_size)

    @property
    def original_size(self) -> int:
        if self.pre_state == "empty":
            return 0
        if self.pre_state.startswith("other_size"):
            return self.src_size + (77 if self.pre_state.endswith("older") else -77)
        return self.src_size

    @property
    def original_mtime_us(self) -> int:
        return SRC_MTIME_US + (DAY_US if self.pre_state.endswith("newer") else -DAY_US)

    @property
    def original_bytes(self) -> bytes:
        return _bytes(f"original:{self.name}", self.original_size)

    def pre(self) -> sem.DestPreState:
        kind = _KIND.get(self.pre_state, sem.PreKind.FILE)
        if kind is not sem.PreKind.FILE:
            return sem.DestPreState(kind)
        return sem.DestPreState(kind, self.original_size, self.original_mtime_us,
                                f"original:{self.name}")

    def source(self) -> sem.SourceEntry | sem.SourceSymlink:
        entry = sem.SourceEntry(self.name, self.src_size, SRC_MTIME_US)
        return sem.SourceSymlink(self.name, entry) if self.is_link else entry


def entries(pre_state: str) -> tuple[Entry, Entry]:
    """The two entries of ``pre_state``; sizes differ per pre-state and from 256-multiples."""
    base = 1000 + 300 * PRE_STATES.index(pre_state)
    return (Entry(pre_state, f"{pre_state}.dat", False, base),
            Entry(pre_state, f"{pre_state}.lnk", True, base + 111))


def _set_mtime(path: Path, mtime_us: int) -> None:
    os.utime(path, ns=(mtime_us * 1000, mtime_us * 1000), follow_symlinks=False)


def stage_pre_state(directory: Path, entry: Entry) -> None:
    """Put ``entry``'s pre-state at ``directory / entry.name``."""
    path = directory / entry.name
    if entry.pre_state == "absent":
        return
    if entry.pre_state == "directory":
        path.mkdir()
        (path / "keep.txt").write_bytes(b"a directory in the way\n")
        return
    path.write_bytes(entry.original_bytes)
    path.chmod(0o644)
    _set_mtime(path, entry.original_mtime_us)


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
class Verdict:
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

    # --- staging ------------------------------------------------------------------------
    def stage_sources(self) -> None:
        """Write every pre-state's source file and link target, with the fixed mtime."""
        targets = self.source_dir / "link-targets"
        targets.mkdir(parents=True, exist_ok=True)
        for pre_state in PRE_STATES:
            for entry in entries(pre_state):
                real = targets / entry.name if entry.is_link else self.source_dir / entry.name
                real.write_bytes(entry.source_bytes)
                real.chmod(0o644)
                _set_mtime(real, SRC_MTIME_US)
                if entry.is_link:
                    link = self.source_dir / entry.name
                    link.symlink_to(Path("link-targets") / entry.name)

    def _manifest(self, symlink: int, pre_states: tuple[str, ...]) -> str:
        key = (symlink, pre_states)
        if key not in self._manifests:
            mappings = {e.name: f"{self.source_server.rstrip('/')}/{e.name}"
                        for p in pre_states for e in entries(p)}
            mode = (self.constants.symlink_follow if symlink == 1
                    else self.constants.symlink_ignore)
            made = self.api.send.createManifest(mappings=mappings, symlinkMode=mode)
            done = self.api.send.waitForManifest(made["manifestId"], timeout=self.timeout)
            if done.get("status") != "complete":
                raise expect.fail("a manifest of readable sources completes", "complete",
                                  f"status {done.get('status')!r}, errorMessage "
                                  f"{done.get('errorMessage')!r}")
            self._manifests[key] = made["manifestId"]
        return self._manifests[key]

    # --- running ------------------------------------------------------------------------
    def _flags_value(self, flags: int) -> int:
        names = {TransferFlag.READ: "READ", TransferFlag.WRITE: "WRITE",
                 TransferFlag.WRITE_MTIME: "WRITE_MTIME",
                 TransferFlag.WRITE_ONLY_NEWER: "WRITE_ONLY_NEWER"}
        return sum(self.constants.transfer_flags[n] for bit, n in names.items() if flags & bit)

    def _start(self, destination_id: str, batch: Batch) -> BatchRun:
        g = batch.group
        local = self.dest_local / g.key
        local.mkdir(parents=True, exist_ok=True)
        for pre_state in batch.pre_states:
            for entry in entries(pre_state):
                stage_pre_state(local, entry)
        run = BatchRun(batch, local)
        params = {"destinationPath": f"{self.dest_path}/{g.key}",
                  "transferFlags": self._flags_value(g.flags),
                  "overwriteMode": self.constants.overwrite[OverwriteMode(g.overwrite).name],
                  "minCipher": self.constants.min_ciphers[MinCipher(g.cipher).name]}
        run.calls.append(f"send.createTransfer({destination_id!r}, <manifest {g.symlink} "
                         f"{'/'.join(batch.pre_states)}>, {params})")
        start = time.time_ns() // 1000
        try:
            made = self.api.send.createTransfer(
                destination_id, self._manifest(g.symlink, batch.pre_states), **params)
        except TransportError:
            raise
        except JetStreamQAError as exc:
            run.error = f"transfer not created: {type(exc).__name__}: {exc.message}"
            return run
        except TypeError as exc:
            # The vendor signatures of createManifest/createTransfer are not public: a client
            # without symlinkMode, overwriteMode or minCipher cannot run this combination.
            run.not_applicable = f"the client does not take these parameters: {exc}"
            return run
        run.transfer = made
        run.window_us = (start - 2_000_000, 0)
        return run

    def run(self, batches: Iterable[Batch]) -> None:
        """Create every batch's transfer, then wait for all of them (bounded)."""
        host, port = self.data_address
        dest = self.api.send.createDestination(host, destinationPort=port)
        started = [self._start(dest["destinationId"], b) for b in batches]
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
        run.transfer = final
        run.window_us = (run.window_us[0], time.time_ns() // 1000 + 2_000_000)
        run.calls.append(f"send.waitForTransfer({tid}) -> status {final.get('status')!r}, "
                         f"errorMessage {final.get('errorMessage')!r}")

    # --- judging ------------------------------------------------------------------------
    def judge(self, case: MatrixCase) -> Verdict:
        """The verdict material of ``case`` (its two entries in its batch's transfer).

        Raises:
            KeyError: the case's batch was never run (a harness bug).
        """
        run = self.runs[(case.group, case.pre_state)]
        if run.not_applicable:
            return Verdict((), (), "", "", tuple(run.calls), run.not_applicable)
        cipher = sem.effective_cipher(case.cipher, *self.ciphers)
        documented: list[Mismatch] = []
        ours: list[str] = []
        expected, actual = [], []
        results = self._file_results(run)
        for entry in entries(case.pre_state):
            outcome = sem.expected_outcome(flags=case.flags, overwrite_mode=case.overwrite,
                                           cipher=cipher, symlink_mode=case.symlink,
                                           source=entry.source(), pre=entry.pre())
            found = self._judge_entry(run, entry, outcome)
            documented += [m for m in found if m.documented]
            ours += [str(m) for m in found if not m.documented]
            reported = results.get(entry.name)
            if reported is not None and outcome.result is not sem.FileResult.IGNORED \
                    and reported != outcome.result.value:
                ours.append(f"{entry.name} fileResults outcome: expected "
                            f"{outcome.result.value!r}, got {reported!r}")
            expected.append(f"{entry.name}: {outcome.result.value} ({outcome.reason}), "
                            f"target {outcome.target.kind} {outcome.target.content}")
            actual.append(f"{entry.name}: {observe(run.dest_local / entry.name).describe()}")
        ours += self._status_notes(run, case)
        if run.error:
            # A valid combination must be accepted and must finish (Transfer structure page).
            documented.insert(0, Mismatch("transfer", "status", "accepted and finished",
                                          run.error, True))
            actual.insert(0, run.error)
        return Verdict(tuple(documented), tuple(ours), "; ".join(expected),
                       "; ".join(actual), tuple(run.calls))

    def _judge_entry(self, run: BatchRun, entry: Entry, outcome: sem.Outcome) -> list[Mismatch]:
        hashes = {sem.Content.SOURCE: digest_of(entry.source_bytes),
                  sem.Content.SYNTHETIC: digest_of(sem.synthetic_bytes(0, entry.src_size)),
                  sem.Content.ORIGINAL: digest_of(entry.original_bytes)}
        pre = entry.pre()
        refs = References(hashes, SRC_MTIME_US,
                          pre.mtime_us if pre.kind is sem.PreKind.FILE else None,
                          run.window_us)
        target = run.dest_local / entry.name
        siblings = [p.name for p in run.dest_local.iterdir() if p.name.startswith(entry.name)]
        return judge(outcome, name=entry.name,
                     overwrite=run.batch.group.overwrite, pre_kind=pre.kind,
                     target=observe(target),
                     partfile=observe(Path(sem.partfile_name(str(target)))),
                     jetbak=observe(Path(sem.jetbak_name(str(target)))), refs=refs,
                     siblings=siblings)

    @staticmethod
    def _file_results(run: BatchRun) -> dict[str, str]:
        results = (run.transfer or {}).get("fileResults") or []
        return {str(r.get("destPath", "")).rsplit("/", 1)[-1]: str(r.get("outcome"))
                for r in results if isinstance(r, dict)}

    def _status_notes(self, run: BatchRun, case: MatrixCase) -> list[str]:
        if run.transfer is None:
            return []
        cipher = sem.effective_cipher(case.cipher, *self.ciphers)
        outcomes = [sem.expected_outcome(flags=case.flags, overwrite_mode=case.overwrite,
                                         cipher=cipher, symlink_mode=case.symlink,
                                         source=e.source(), pre=e.pre()).result
                    for p in run.batch.pre_states for e in entries(p)]
        want = sem.transfer_status(outcomes)
        got = run.transfer.get("status")
        if got == want:
            return []
        return [f"transfer status (ours, docs/semantics.md choice 7): expected {want!r}, got "
                f"{got!r} (errorMessage {run.transfer.get('errorMessage')!r})"]
