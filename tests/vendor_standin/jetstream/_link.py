"""The stand-in's own minimal transport: jetstream-qa's reference control protocol
(``docs/protocol.md`` 2.1-2.2: 4-byte big-endian length + one UTF-8 JSON object; a hello
carrying ``apiVersion``; one request, one answer). Written from the protocol text, sharing no
code with jetstream-qa. Every socket operation has a timeout.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

from jetstream.errors import JetStreamError

_HEADER = struct.Struct(">I")
_MAX_FRAME = 64 << 20
_CODES = {"AuthenticationFailed": "ERR_AUTH", "PermissionDenied": "ERR_PERMISSION",
          "NotFound": "ERR_NOT_FOUND", "InvalidArgument": "ERR_INVALID",
          "NotReady": "ERR_NOT_READY", "Conflict": "ERR_CONFLICT", "Busy": "ERR_BUSY"}


class Link:
    """One control connection; one call at a time."""

    def __init__(self, host: str, port: int, timeout: float, api_version: int) -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._timeout = timeout
        self._next = 0
        try:
            self._send({"type": "hello", "role": "client", "apiVersion": api_version,
                        "agent": "jetstream-standin/2.9.2"})
            hello = self._recv(timeout)
        except BaseException:
            self.close()
            raise
        if hello.get("type") != "hello":
            self.close()
            raise ConnectionError(f"no server hello: {hello.get('type')!r}")
        if hello.get("apiVersion") != api_version:
            self.close()
            raise JetStreamError(f"API version mismatch: server {hello.get('apiVersion')!r}, "
                                 f"client {api_version}", "ERR_API_VERSION")
        self.hello = hello

    def call(self, command: str, params: dict[str, Any], wait: float | None = None) -> Any:
        """Send ``command`` and return its result; ``wait`` stretches the read timeout."""
        self._next += 1
        self._send({"type": "request", "id": self._next, "command": command,
                    "params": params})
        answer = self._recv(self._timeout + (wait or 0.0))
        if answer.get("type") == "error":
            code = str(answer.get("code"))
            if answer.get("id") is None:
                self.close()
            raise JetStreamError(str(answer.get("message")), _CODES.get(code, "ERR_SERVER"))
        if answer.get("type") != "response" or answer.get("id") != self._next:
            self.close()
            raise ConnectionError(f"unexpected answer to {command}: {answer.get('type')!r}")
        return answer.get("result")

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass

    def _send(self, obj: dict[str, Any]) -> None:
        data = json.dumps(obj).encode()
        self._sock.sendall(_HEADER.pack(len(data)) + data)

    def _recv(self, timeout: float) -> dict[str, Any]:
        self._sock.settimeout(timeout)
        (size,) = _HEADER.unpack(self._exactly(_HEADER.size))
        if not 0 < size <= _MAX_FRAME:
            self.close()
            raise ConnectionError(f"bad frame length {size}")
        obj = json.loads(self._exactly(size))
        if not isinstance(obj, dict):
            raise ConnectionError("frame is not an object")
        return obj

    def _exactly(self, count: int) -> bytes:
        chunks, need = [], count
        while need:
            chunk = self._sock.recv(need)
            if not chunk:
                raise ConnectionError("connection closed by the server")
            chunks.append(chunk)
            need -= len(chunk)
        return b"".join(chunks)
