"""The typed values a conformance setting holds, each parsing and checking its own text.

:class:`Secret` (a password that never shows itself: settings objects appear in tracebacks and
reports), :class:`HostPort` (a server address) and :class:`StorageRoot` (where the suite
stages files for a server). :mod:`jetstream_qa.conformance_core.settings` reads them from
flags, environment and ini; the targets and fixtures hand them on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from jetstream_qa.constants import DEFAULT_API_PORT
from jetstream_qa.redaction import register

__all__ = ["HostPort", "Secret", "StorageRoot"]


@dataclass(frozen=True, slots=True)
class Secret:
    """A password that never shows itself in ``repr``, ``str`` or f-strings."""

    _value: str = field(repr=False)

    def __post_init__(self) -> None:
        register(self._value)  # every output scrubs it from now on (jetstream_qa/redaction.py)

    def reveal(self) -> str:
        """The secret itself; call only where it is handed to the server."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class HostPort:
    """A server address: ``HOST[:PORT]``, IPv6 literals in brackets (``[::1]:8886``)."""

    host: str
    port: int = DEFAULT_API_PORT

    def __post_init__(self) -> None:
        if not self.host or any(c.isspace() for c in self.host):
            raise ValueError(f"bad host {self.host!r}")
        if isinstance(self.port, bool) or not 1 <= self.port <= 65535:
            raise ValueError(f"port {self.port!r} out of range 1..65535")

    @classmethod
    def parse(cls, text: str, *, default_port: int | None = DEFAULT_API_PORT) -> HostPort:
        """Parse ``HOST``, ``HOST:PORT``, ``[V6]`` or ``[V6]:PORT``.

        Raises:
            ValueError: empty host, bad port, or a port missing when ``default_port`` is None.
        """
        text = text.strip()
        host, port_text = text, ""
        if text.startswith("["):
            close = text.find("]")
            if close < 0:
                raise ValueError("unclosed '[' in IPv6 address")
            host, rest = text[1:close], text[close + 1:]
            if rest and not rest.startswith(":"):
                raise ValueError("expected ':PORT' after ']'")
            port_text = rest[1:]
        elif text.count(":") == 1:
            host, port_text = text.split(":")
        if not port_text:
            if default_port is None:
                raise ValueError("a port is required (HOST:PORT)")
            return cls(host, default_port)
        if not port_text.isdigit():
            raise ValueError(f"port {port_text!r} is not a number")
        return cls(host, int(port_text))

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class StorageRoot:
    """Where the suite stages files for one server: a local directory and, when the server
    names the same directory differently (a mount), the server's name for it.

    Written ``LOCAL`` or ``LOCAL=SERVERPATH`` (``/mnt/stage-a=/data/qa``).
    """

    local: Path
    server: str

    @classmethod
    def parse(cls, text: str) -> StorageRoot:
        """Parse ``LOCAL[=SERVERPATH]``; both must be absolute.

        Raises:
            ValueError: a relative path or an empty part.
        """
        local_text, _, server_text = text.partition("=")
        local = Path(local_text).expanduser()
        server = server_text or str(local)
        if not local.is_absolute() or not server.startswith("/"):
            raise ValueError("expected absolute paths LOCAL[=SERVERPATH]")
        return cls(local, server.rstrip("/") or "/")

    def server_path(self, local_path: Path) -> str:
        """The server's name for ``local_path`` (which must lie under :attr:`local`)."""
        relative = Path(local_path).relative_to(self.local).as_posix()
        if relative == ".":
            return self.server
        return f"{self.server.rstrip('/')}/{relative}"
