"""A small hostile control server for the secret-leak matrix (reference wire protocol).

It speaks just enough of ``docs/protocol.md`` (hello, requests, errors) to be a target of the
conformance suites and of Locust, and misbehaves in the ways a real staging server can:

- ``echo_error``: a refused login's message and details repeat the password tried;
- ``echo_result``: results carry the session's password (``getServerInfo`` and every other
  command answer with it);
- ``echo_hello``: the hello's ``serverId`` and ``version`` carry the password it was given;
- ``refuse_after``: the first N logins succeed, every later one is refused (an account
  lockout that starts mid-run).

A :class:`~frame_server.FrameServer` (``tests/frame_server.py``): threads of the test
process, loopback only, every wait bounded; frames are decoded with the project's
``wire.control`` (this server tests what the client prints, not how it frames).
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Any

from frame_server import Channel, FrameServer

from jetstream_qa.constants import API_VERSION
from jetstream_qa.errors import ProtocolError
from jetstream_qa.wire.control import (
    ClientHello,
    ErrorResponse,
    Request,
    Response,
    ServerHello,
    decode_message,
    encode_message,
)


@dataclass(frozen=True, slots=True)
class Hostility:
    """What the server does wrong; ``password`` is the one secret it knows."""

    user: str
    password: str
    echo_error: bool = False
    echo_result: bool = False
    echo_hello: bool = False
    refuse_after: int | None = None


class HostileServer(FrameServer):
    """``with HostileServer(Hostility(...)) as server:`` listens on ``server.target``."""

    def __init__(self, hostility: Hostility) -> None:
        self.hostility = hostility
        self.logins = 0
        self.refused = 0
        """Logins refused by the lockout (``refuse_after``) only."""
        self._count_lock = threading.Lock()
        super().__init__(self._converse, name="leaky")

    def _converse(self, channel: Channel) -> None:
        session: dict[str, Any] = {"user": None}
        with contextlib.suppress(ProtocolError):
            while True:
                answer = self._answer(decode_message(channel.read_payload()), session)
                if answer is not None:
                    channel.send(encode_message(answer))

    def _answer(self, message: Any, session: dict[str, Any]) -> Any:
        h = self.hostility
        if isinstance(message, ClientHello):
            ident = f"hostile-{h.password}" if h.echo_hello else "hostile-server"
            return ServerHello(API_VERSION, ident, h.password[:64] if h.echo_hello else "2.9.2")
        if not isinstance(message, Request):
            return None
        if message.command in ("auth", "authAsync"):
            return self._auth(message, session)
        if message.command == "getServerInfo":
            return Response(message.id, self._server_info())
        if session["user"] is None:
            return ErrorResponse(message.id, "AuthenticationFailed", "log in first")
        if h.echo_result:
            return Response(message.id, {"echo": f"you are {session['user']}/{h.password}",
                                         "status": h.password})
        return ErrorResponse(message.id, "NotFound", f"{message.command} is not served here")

    def _auth(self, request: Request, session: dict[str, Any]) -> Any:
        h = self.hostility
        user, password = request.params.get("user"), request.params.get("password")
        with self._count_lock:
            locked = h.refuse_after is not None and self.logins >= h.refuse_after
            ok = not locked and user == h.user and password == h.password
            self.logins += ok
            self.refused += locked
        if ok:
            session["user"] = user
            return Response(request.id, None)
        if h.echo_error:
            return ErrorResponse(request.id, "AuthenticationFailed",
                                 f"login {user!r} with password {password!r} refused",
                                 {"passwordTried": password, "hint": f"expected {h.password}"})
        return ErrorResponse(request.id, "AuthenticationFailed", "account locked" if locked
                             else "invalid user name or password")

    def _server_info(self) -> dict[str, Any]:
        h = self.hostility
        info: dict[str, Any] = {"apiVersion": API_VERSION, "revision": 1, "authRequired": True,
                                "serverId": "hostile-server", "version": "2.9.2",
                                "serverUid": "hostile-uid"}
        if h.echo_hello:
            info.update(serverId=f"hostile-{h.password}", version=h.password[:64])
        if h.echo_result:
            info["motd"] = f"welcome, your password is {h.password}"
        return info
