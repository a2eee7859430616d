"""Reference servers as subprocesses: :class:`EmbeddedServer` (one) and :class:`EmbeddedPair`.

Each server runs ``sys.executable -m jetstream_qa serve`` on ephemeral loopback ports with
its own temporary storage and state roots, and three generated users with random passwords
(passed through a 0600 password file, never on the command line): an ordinary user, a second
ordinary user (for ownership checks) and a superuser. ``start()`` waits (with a deadline) for
the ``ready`` line; ``stop()`` sends SIGTERM, then SIGKILL after a deadline, and removes the
temporary root. Both classes are context managers and are used by the project's pytest
fixtures, the Locust user, and ``jetstream-qa pair``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jetstream_qa.errors import TransportError, UsageError

__all__ = ["EmbeddedPair", "EmbeddedServer", "ServerUser", "generate_users"]

_READY = re.compile(r"^jetstream-qa serve ready api=(?P<api>\S+) recv=(?P<recv>\S+) "
                    r"serverId=(?P<sid>\S+)$", re.M)


@dataclass(frozen=True, slots=True)
class ServerUser:
    """A generated login; ``repr`` hides the password."""

    name: str
    password: str
    superuser: bool = False

    def __repr__(self) -> str:
        return f"ServerUser(name={self.name!r}, superuser={self.superuser})"


def generate_users() -> tuple[ServerUser, ServerUser, ServerUser]:
    """(user, other user, superuser), each with a fresh random password."""
    return (ServerUser("qa-user", secrets.token_urlsafe(18)),
            ServerUser("qa-other", secrets.token_urlsafe(18)),
            ServerUser("qa-admin", secrets.token_urlsafe(18), superuser=True))


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


class EmbeddedServer:
    """One reference server in a subprocess; see the module docstring.

    Args (keyword-only): ``name`` (used in paths and logs), ``users`` (default: generated),
    ``min_cipher``, ``faults``, ``extra_args`` (more ``serve`` options), ``host``,
    ``root`` (default: a new temporary directory, removed on stop), ``ready_timeout`` (s).
    """

    def __init__(self, *, name: str = "server", users: Sequence[ServerUser] | None = None,
                 min_cipher: int = 0, faults: Sequence[str] = (),
                 extra_args: Sequence[str] = (), host: str = "127.0.0.1",
                 root: Path | None = None, ready_timeout: float = 30.0) -> None:
        self.name = name
        self.users = tuple(users) if users is not None else generate_users()
        self.min_cipher = min_cipher
        self.faults = tuple(faults)
        self.extra_args = tuple(extra_args)
        self.host = host
        self.ready_timeout = ready_timeout
        self._own_root = root is None
        self.root = Path(root) if root is not None else Path(
            tempfile.mkdtemp(prefix=f"jsqa-{name}-"))
        self.storage_root = self.root / "storage"
        self.state_dir = self.root / "state"
        self.log_file = self.root / "server.log"
        self._stdout_file = self.root / "stdout.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.api_port = 0
        self.recv_port = 0
        self.recv_host = host
        self.server_id = ""

    # --- users ----------------------------------------------------------------------------
    @property
    def user(self) -> ServerUser:
        """The first ordinary user."""
        return next(u for u in self.users if not u.superuser)

    @property
    def other_user(self) -> ServerUser:
        """A second ordinary user (ownership checks)."""
        return [u for u in self.users if not u.superuser][1]

    @property
    def superuser(self) -> ServerUser:
        return next(u for u in self.users if u.superuser)

    # --- lifecycle ------------------------------------------------------------------------
    def command(self) -> list[str]:
        """The ``serve`` command line (no passwords in it)."""
        cmd = [sys.executable, "-m", "jetstream_qa", "serve",
               "--api-host", self.host, "--api-port", "0",
               "--recv-host", self.host, "--recv-port", "0",
               "--storage-root", str(self.storage_root), "--state-dir", str(self.state_dir),
               "--password-file", str(self.root / "passwords"),
               "--min-cipher", str(self.min_cipher), "--server-name", self.name]
        for u in self.users:
            if u.superuser:
                cmd += ["--superuser", u.name]
        if self.faults:
            cmd += ["--fault", ",".join(self.faults)]
        return cmd + list(self.extra_args)

    def launch(self) -> None:
        """Start the process without waiting (see :meth:`wait_ready`)."""
        if self.proc is not None:
            raise UsageError(f"{self.name} already started")
        self.root.mkdir(parents=True, exist_ok=True)
        _write_private(self.root / "passwords",
                       "".join(f"{u.name}:{u.password}\n" for u in self.users))
        with open(self._stdout_file, "wb") as out, open(self.log_file, "ab") as err:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL, cwd=self.root)

    def wait_ready(self) -> None:
        """Poll for the ready line until ``ready_timeout``.

        Raises:
            TransportError: the process exited or did not get ready in time (the message
                carries the end of its log).
        """
        assert self.proc is not None
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            match = _READY.search(self._stdout_file.read_text(encoding="utf-8", errors="replace"))
            if match:
                (_, self.api_port) = _split(match["api"])
                self.recv_host, self.recv_port = _split(match["recv"])
                self.server_id = match["sid"]
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        code = self.proc.poll()
        tail = self.log_tail()
        self.stop()
        raise TransportError(f"embedded {self.name} did not start "
                             f"({'exit ' + str(code) if code is not None else 'timeout'}): "
                             f"{tail}", details={"exitStatus": code})

    def start(self) -> EmbeddedServer:
        """Launch and wait until ready; returns self."""
        self.launch()
        self.wait_ready()
        return self

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, *, timeout: float = 10.0, cleanup: bool = True) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit status."""
        code = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout)
            code = self.proc.returncode
            self.proc = None
        if cleanup and self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)
        return code

    def kill(self) -> None:
        """SIGKILL the process (a crash), keeping the roots; :meth:`start` runs it again."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def restart(self) -> EmbeddedServer:
        """Stop (keeping the roots) and start again: same state dir, new serverId."""
        self.stop(cleanup=False)
        return self.start()

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- facts ----------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Addresses and roots as JSON-ready data (no passwords)."""
        return {"name": self.name, "host": self.host, "apiPort": self.api_port,
                "recvHost": self.recv_host, "recvPort": self.recv_port,
                "storageRoot": str(self.storage_root), "stateDir": str(self.state_dir),
                "serverId": self.server_id, "log": str(self.log_file)}


class EmbeddedPair:
    """A sending and a receiving reference server sharing the same generated users.

    Keyword arguments as :class:`EmbeddedServer`; ``sender_args``/``receiver_args`` add
    options to one side only (e.g. a fault on the receiver).
    """

    def __init__(self, *, min_cipher: int = 0, faults: Sequence[str] = (),
                 extra_args: Sequence[str] = (), sender_args: Sequence[str] = (),
                 receiver_args: Sequence[str] = (), ready_timeout: float = 30.0) -> None:
        self.users = generate_users()
        self.root = Path(tempfile.mkdtemp(prefix="jsqa-pair-"))
        common: dict[str, Any] = {"users": self.users, "min_cipher": min_cipher,
                                  "faults": faults, "ready_timeout": ready_timeout}
        self.sender = EmbeddedServer(name="sender", root=self.root / "sender",
                                     extra_args=[*extra_args, *sender_args], **common)
        self.receiver = EmbeddedServer(name="receiver", root=self.root / "receiver",
                                       extra_args=[*extra_args, *receiver_args], **common)

    @property
    def user(self) -> ServerUser:
        return self.sender.user

    @property
    def other_user(self) -> ServerUser:
        return self.sender.other_user

    @property
    def superuser(self) -> ServerUser:
        return self.sender.superuser

    def start(self) -> EmbeddedPair:
        """Launch both servers, then wait for both (in parallel)."""
        try:
            self.sender.launch()
            self.receiver.launch()
            self.sender.wait_ready()
            self.receiver.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop both servers and remove the temporary root."""
        self.receiver.stop()
        self.sender.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> EmbeddedPair:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def write_credentials(self, path: Path | None = None) -> Path:
        """Write addresses and logins as JSON (mode 0600); returns the path."""
        path = path or self.root / "credentials.json"
        data = {"sender": self.sender.describe(), "receiver": self.receiver.describe(),
                "users": [{"name": u.name, "password": u.password, "superuser": u.superuser}
                          for u in self.users]}
        _write_private(path, json.dumps(data, indent=2) + "\n")
        return path
