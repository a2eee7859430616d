"""Where the load goes: a remote sender/receiver pair, or the embedded reference pair.

:class:`Target` is plain data (it crosses from the Locust master to its workers in a custom
message, see :meth:`Target.to_message`). :func:`start_embedded` starts the embedded pair as
``jetstream-qa serve`` subprocesses (through :mod:`jetstream_qa.refserver.embedded`, imported
lazily so that importing this module never imports the server), optionally with an
impairment relay (``jetstream-qa relay``) in front of the receiver's UDP port, and returns the
target plus a function that stops everything again.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jetstream_qa.errors import ConfigurationError, TransportError
from jetstream_qa.loadrun.settings import Address, LoadSettings
from jetstream_qa.redaction import register

__all__ = ["Target", "remote_target", "start_embedded"]


@dataclass(frozen=True, slots=True)
class Target:
    """Sender and receiver API addresses, credentials, and where data goes.

    ``data_host``/``data_port`` is the receiver's UDP address as the sender must reach it
    (the relay's, when impaired); None means "ask the receiver's getServerInfo". The
    ``*_root`` fields are known only for the embedded pair (used for spot checks and for
    placing source files where the sender may read them).
    """

    sender: Address
    receiver: Address
    user: str
    password: str = field(repr=False)
    data_host: str | None = None
    data_port: int | None = None
    source_root: str | None = None
    receiver_root: str | None = None
    embedded: bool = False
    pair_root: str | None = None

    def __post_init__(self) -> None:
        register(self.password)  # scrubbed from every output (jetstream_qa/redaction.py)

    def to_message(self, *, include_password: bool) -> dict[str, Any]:
        """Plain data for the master -> worker message. The password travels only for the
        embedded pair (generated for this run, loopback only)."""
        return {"sender": [self.sender.host, self.sender.port],
                "receiver": [self.receiver.host, self.receiver.port],
                "user": self.user, "password": self.password if include_password else None,
                "dataHost": self.data_host, "dataPort": self.data_port,
                "sourceRoot": self.source_root, "receiverRoot": self.receiver_root,
                "embedded": self.embedded, "pairRoot": self.pair_root}

    @classmethod
    def from_message(cls, data: Mapping[str, Any], *, password: str) -> Target:
        """Rebuild from :meth:`to_message`; ``password`` is used when none travelled."""
        return cls(Address(*data["sender"]), Address(*data["receiver"]), str(data["user"]),
                   data.get("password") or password, data.get("dataHost"),
                   data.get("dataPort"), data.get("sourceRoot"), data.get("receiverRoot"),
                   bool(data.get("embedded")), data.get("pairRoot"))

    def public(self) -> dict[str, Any]:
        """Secret-free description for reports."""
        return {"sender": str(self.sender), "receiver": str(self.receiver),
                "user": self.user, "embedded": self.embedded, "pairRoot": self.pair_root,
                "data": f"{self.data_host}:{self.data_port}" if self.data_host else None}


def remote_target(settings: LoadSettings) -> Target:
    """The target named by ``--host`` / ``--js-receiver``.

    Raises:
        ConfigurationError: no ``--host`` was given.
    """
    if settings.sender is None:
        raise ConfigurationError("no --host given: use start_embedded() instead")
    return Target(settings.sender, settings.receiver or settings.sender, settings.user,
                  settings.password, source_root=settings.source_dir)


def start_embedded(settings: LoadSettings) -> tuple[Target, Callable[[], None]]:
    """Start the embedded pair (and the relay when impaired).

    The pair generates its own users; the load runs as its ordinary user. Source files go
    under the pair's temporary root, which ``stop()`` removes with everything else (unless
    ``--js-keep``: then the servers stop and the directory stays, named in the report).

    Returns:
        The target and a ``stop()`` that ends the subprocesses and removes their roots.

    Raises:
        TransportError: a server or the relay did not come up in time.
    """
    from jetstream_qa.refserver.embedded import EmbeddedPair  # lazy: keep the server out

    pair = EmbeddedPair()
    stoppers: list[Callable[[], object]] = [pair.stop]
    if settings.keep:  # stop the servers, keep their directory for inspection
        stoppers = [lambda: pair.receiver.stop(cleanup=False),
                    lambda: pair.sender.stop(cleanup=False)]
    try:
        pair.start()
        data_host, data_port = pair.receiver.recv_host, pair.receiver.recv_port
        if settings.impaired:
            relay, data_port = _start_relay(settings, data_host, data_port)
            stoppers.append(relay)
        sources = pair.root / "sources"
        sources.mkdir()
        target = Target(Address(pair.sender.host, pair.sender.api_port),
                        Address(pair.receiver.host, pair.receiver.api_port),
                        pair.user.name, pair.user.password, data_host, data_port,
                        source_root=str(sources),
                        receiver_root=str(pair.receiver.storage_root), embedded=True,
                        pair_root=str(pair.root) if settings.keep else None)
    except BaseException:
        _run_all(stoppers)
        raise
    return target, lambda: _run_all(stoppers)


def _run_all(stoppers: list[Callable[[], object]]) -> None:
    for stop in reversed(stoppers):
        with contextlib.suppress(Exception):
            stop()


def _start_relay(settings: LoadSettings, host: str, port: int
                 ) -> tuple[Callable[[], object], int]:
    """``jetstream-qa relay --listen HOST:0 --forward HOST:PORT --loss L --delay MS``; waits
    (bounded) for its ``relay ready listen=HOST:PORT`` line."""
    cmd = [sys.executable, "-m", "jetstream_qa", "relay", "--listen", f"{host}:0",
           "--forward", f"{host}:{port}", "--loss", str(settings.loss),
           "--delay", str(settings.delay_ms), "--seed", str(settings.seed)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    assert proc.stdout is not None
    line = b""
    deadline = time.monotonic() + 15
    while not line.endswith(b"\n") and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 256)
            if not chunk:
                break
            line += chunk
    listen_port = _port_from(line.decode("utf-8", "replace"))
    if listen_port is None:
        stop()
        raise TransportError(f"impairment relay did not start: {line!r}")
    return stop, listen_port


def _port_from(line: str) -> int | None:
    match = re.search(r"listen=\S*:(\d+)", line)
    return int(match.group(1)) if match else None
