"""One load-test process's state, outside Locust: target, file sets, recorder, final report.

The Locust adapter holds exactly one :class:`LoadSession` per process. Master (or the single
local process) starts the target, merges worker deltas into :attr:`LoadSession.recorder`, and
at the end cross-checks the run against the sender's own counters
(``send.getTransfers``: ``bytesSent``, ``blocksSent``, ``blocksRetransmitted`` ... of exactly
the transfers this run created), writes reports/load.json and evaluates the thresholds.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from jetstream_qa import __version__
from jetstream_qa.binding import Binding, Operations, binding_for
from jetstream_qa.errors import JetStreamQAError, ProtocolError, TransportError
from jetstream_qa.loadrun.clients import connect_api, resolve_client_kind
from jetstream_qa.loadrun.filesets import FileSet, Progress, load_recipe
from jetstream_qa.loadrun.ledger import TransferLedger
from jetstream_qa.loadrun.settings import LoadSettings
from jetstream_qa.loadrun.target import Target, remote_target, start_embedded
from jetstream_qa.loadstats import (
    CheckResult,
    LoadRecorder,
    RunMetrics,
    build_load_report,
    evaluate_checks,
)

__all__ = ["COUNTER_FIELDS", "LoadSession", "sum_counters"]

COUNTER_FIELDS: Final = ("bytesSent", "bytesRecv", "blocksSent", "blocksAcked",
                         "blocksRetransmitted", "packetsSent", "packetsRecv", "totalBytes")


def sum_counters(transfers: Iterable[Mapping[str, Any]], ids: set[str]) -> dict[str, Any]:
    """Add up :data:`COUNTER_FIELDS` over the transfers whose id is in ``ids``; also count
    them by status (``transfers``, ``complete``) and sum ``totalBytes`` of complete ones
    (``completeBytes``)."""
    out: dict[str, Any] = {name: 0 for name in COUNTER_FIELDS}
    out.update(transfers=0, complete=0, completeBytes=0)
    for item in transfers:
        if str(item.get("transferId")) not in ids:
            continue
        out["transfers"] += 1
        for name in COUNTER_FIELDS:
            out[name] += int(item.get(name) or 0)
        if item.get("status") == "complete":
            out["complete"] += 1
            out["completeBytes"] += int(item.get("totalBytes") or 0)
    return out


class LoadSession:
    """Per-process state of a load test (see the module docstring)."""

    def __init__(self, settings: LoadSettings) -> None:
        self.settings = settings
        self.recorder = LoadRecorder(window_s=settings.window_s)
        self.client_kind = resolve_client_kind(settings.client)
        self.target: Target | None = None
        self.run_id = secrets.token_hex(4)
        self.started: float | None = None
        self.ended: float | None = None
        self.stopping: float | None = None
        """When the users were told to stop (the measured window ends before it)."""
        self.prepare_s: float | None = None
        """Seconds spent preparing file sets at test start (outside the window)."""
        self.gevent_check: str | None = None
        self.workers: set[str] = set()
        """Ids of the workers whose reports were merged (master only)."""
        self.stopped_workers: dict[str, float] = {}
        """Master: worker id -> when it stopped, from its final report."""
        self._stop_pair: Callable[[], None] | None = None
        self._filesets: dict[str, FileSet] = {}
        self._source_dir: Path | None = None
        self._data_address: tuple[str, int, str | None] | None = None
        self._ledger: TransferLedger | None = None
        self._binding: Binding | None = None

    @property
    def binding(self) -> Binding:
        """The binding of this process's client (vendor: the ``--js-binding`` file, default
        ``$JETSTREAM_BINDING``, if set)."""
        if self._binding is None:
            import importlib
            constants = importlib.import_module(
                "jetstream.constants" if self.client_kind == "vendor" else
                "jetstream_qa.constants")
            path = self.settings.binding
            self._binding = binding_for(self.client_kind, constants,
                                        Path(path) if path else None)
        return self._binding

    # --- target -------------------------------------------------------------------------
    def start_target(self) -> Target:
        """Master/local: start the embedded pair (no ``--host``) or use the named servers."""
        if self.target is None:
            if self.settings.embedded:
                self.target, self._stop_pair = start_embedded(self.settings)
            else:
                self.target = remote_target(self.settings)
        return self.target

    def adopt_target(self, data: Mapping[str, Any]) -> None:
        """Worker: take the target (and run id) the master sent."""
        self.target = Target.from_message(data["target"], password=self.settings.password)
        if str(data["runId"]) != self.run_id:
            self.run_id = str(data["runId"])
            self._ledger = None  # before any transfer: users wait for the target

    def target_message(self) -> dict[str, Any]:
        """Master: what workers need to reach the target."""
        assert self.target is not None
        return {"target": self.target.to_message(include_password=self.target.embedded),
                "runId": self.run_id}

    def connect(self) -> Any:
        """A connected, authenticated API object on the sender."""
        if self.target is None:
            raise JetStreamQAError("no load target yet (the master has not sent one)")
        return connect_api(self.binding, self.target.sender.host, self.target.sender.port,
                           timeout=self.settings.timeout, user=self.target.user,
                           password=self.target.password)

    def call_once(self, operation: str) -> Any:
        """``operation`` (a binding operation name) on a fresh :meth:`connect`, disconnected
        after; raises what connecting or the call raises."""
        api = self.connect()
        try:
            return Operations(self.binding, api).call(operation)
        finally:
            api.disconnect()

    def data_address(self, api: Any) -> tuple[str, int, str | None]:
        """The receiver's UDP host, port and public key, as the sender must address it: the
        target's data address when it names one (the relay's, when impaired), else the
        receiver's Server Information (``receiver.recvPort``, ``publicKey``), asked through
        the binding (on ``api`` when the sender is also the receiver)."""
        if self._data_address is None:
            assert self.target is not None
            receiver = self.target.receiver
            info = Operations(self.binding, api).call("get_server_info") \
                if receiver == self.target.sender else \
                _receiver_info(self, receiver.host, receiver.port)
            port = self.target.data_port or int(info.get("receiver", {}).get("recvPort")
                                                 or receiver.port)
            self._data_address = (self.target.data_host or receiver.host, port,
                                  info.get("publicKey"))
        return self._data_address

    # --- file sets ----------------------------------------------------------------------
    def fileset(self, recipe: str, *, progress: Progress | None = None) -> FileSet:
        """The file set of ``recipe`` in this process: prepared at test start (or on first
        use), from the file-set cache when it holds this recipe, seed and scale."""
        found = self._filesets.get(recipe)
        if found is None:
            cache = self.settings.fileset_cache
            found = FileSet.prepare(load_recipe(recipe), self._sources(),
                                    cache=Path(cache) if cache else None,
                                    scale=self.settings.scale, seed=self.settings.seed,
                                    progress=progress)
            self._filesets[recipe] = found
        return found

    def _sources(self) -> Path:
        if self._source_dir is None:
            base = (self.target.source_root if self.target else None) or \
                self.settings.source_dir or tempfile.gettempdir()
            self._source_dir = Path(base) / f"jsqa-src-{os.getpid()}-{secrets.token_hex(3)}"
            self._source_dir.mkdir(parents=True)
        return self._source_dir

    def dest_path(self, user_index: int, seq: int) -> str:
        """A fresh ``destinationPath`` for one transfer of one user (it names the transfer
        in :attr:`ledger`)."""
        return f"{self.ledger.prefix}u{user_index}/t{seq}"

    @property
    def ledger(self) -> TransferLedger:
        """This process's transfers of this run (prefix ``DEST/RUN/pPID/``)."""
        if self._ledger is None:
            self._ledger = TransferLedger(
                f"{self.settings.dest_path}/{self.run_id}/p{os.getpid()}/")
        return self._ledger

    # --- end of run ---------------------------------------------------------------------
    def probe(self) -> str | None:
        """Is the target still answering? Connects, authenticates and calls
        ``getServerInfo`` within ``--js-timeout``; returns None when it answered (a refusal
        such as a wrong password is an answer), else what went wrong: no connection, a
        timeout, a closed connection or a protocol error (garbage)."""
        if self.target is None:
            return "no target was ever reached"
        try:
            self.call_once("get_server_info")
        except (TransportError, ProtocolError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"
        except self.binding.refusal_classes:
            return None  # refused (a wrong password...): the server answered
        except JetStreamQAError as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def server_counters(self) -> dict[str, Any]:
        """Summed sender counters of this run's transfers (``{"error": ...}`` if unreachable)."""
        if not self.recorder.transfer_ids:
            return {}
        unanswered = _unanswered(self.binding)
        try:
            transfers = self.call_once("get_transfers")
        except unanswered as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}
        return sum_counters(transfers, self.recorder.transfer_ids)

    def finish(self, *, locust_version: str, extra_env: Mapping[str, Any] | None = None,
               extra_settings: Mapping[str, Any] | None = None,
               problems: list[str] | None = None, reachable: bool = True,
               warmup_s: float | None = None) -> tuple[dict[str, Any], list[CheckResult]]:
        """Build and write reports/load.json, evaluate the thresholds.

        Args:
            problems: keyword-only; what makes the run FAIL whatever the thresholds say
                (no transfer completed, the target stopped answering).
            reachable: keyword-only; False skips asking the target for its counters and
                fingerprint (each would wait another ``--js-timeout``).
            warmup_s: keyword-only; the resolved warm-up (default ``--js-warmup`` or 0).

        Returns:
            The report and the check results (failed ones have ``passed`` False).
        """
        assert self.started is not None
        ended = max(self.ended if self.ended is not None else self.started, self.started)
        counters = self.server_counters() if reachable else {"error": "target not answering"}
        warmup = warmup_s if warmup_s is not None else (self.settings.warmup_s or 0.0)
        metrics = RunMetrics(self.recorder, started=self.started, ended=ended,
                             stop=self.stopping, warmup_s=warmup,
                             detect_transient=self.settings.warmup_s is None,
                             server_counters=counters)
        results = evaluate_checks(self.settings.checks, metrics)
        env = self._environment(locust_version, extra_env or {}, reachable=reachable)
        report = build_load_report(
            metrics, environment=env,
            settings={**self.settings.public(), **(extra_settings or {}),
                      "warmupS": warmup, "filesetPrepareS": self.prepare_s},
            checks=[r.to_dict() for r in results], problems=problems)
        path = Path(self.settings.report)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        tmp.replace(path)
        return report, results

    def _environment(self, locust_version: str, extra: Mapping[str, Any], *,
                     reachable: bool = True) -> dict[str, Any]:
        env: dict[str, Any] = {"toolkitVersion": __version__, "python": platform.python_version(),
                               "locust": locust_version, "clientKind": self.client_kind,
                               "clientGevent": self.gevent_check, "runId": self.run_id,
                               "hostName": platform.node()}
        if self.target is not None:
            env.update(self.target.public())
            env.update(_server_fingerprint(self) if reachable
                       else {"serverError": "target not answering at the end of the run"})
        if self._data_address is not None:  # as resolved by this process's users
            env["data"] = f"{self._data_address[0]}:{self._data_address[1]}"
        env.update(extra)
        return env

    def close(self) -> None:
        """Remove generated files (kept with ``--js-keep``) and stop the embedded pair (safe to
        call twice)."""
        if self.settings.keep:
            self._filesets.clear()
            self._source_dir = None
        for fileset in self._filesets.values():
            fileset.remove()
        self._filesets.clear()
        if self._source_dir is not None:
            shutil.rmtree(self._source_dir, ignore_errors=True)
            self._source_dir = None
        stop, self._stop_pair = self._stop_pair, None
        if stop is not None:
            stop()


def _receiver_info(session: LoadSession, host: str, port: int) -> dict[str, Any]:
    """The receiver's Server Information through this process's client and binding (no
    login needed)."""
    api = connect_api(session.binding, host, port, timeout=session.settings.timeout,
                      user=None, password=None)
    try:
        return dict(Operations(session.binding, api).call("get_server_info"))
    finally:
        api.disconnect()


def _unanswered(binding: Binding) -> tuple[type[BaseException], ...]:
    """What a call through ``binding`` may raise instead of its answer: our errors, the
    client's socket errors, the client's refusal classes."""
    return (JetStreamQAError, OSError, *binding.refusal_classes)


def _server_fingerprint(session: LoadSession) -> dict[str, Any]:
    unanswered = _unanswered(session.binding)
    try:
        info = session.call_once("get_server_info")
    except unanswered as exc:
        return {"serverError": f"{type(exc).__name__}: {exc}"}
    return {"serverVersion": info.get("version"), "apiVersion": info.get("apiVersion"),
            "serverId": info.get("serverId"), "revision": info.get("revision"),
            "minCipher": info.get("minCipher"), "host": info.get("hostName")}
