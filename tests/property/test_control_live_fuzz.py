"""A live reference server fed 10,000 hostile frames over sockets keeps answering.

Per connection (``ROUNDS`` of them): a valid hello, ``BAD_REQUESTS`` well-framed but invalid
requests (unknown commands, unknown or ill-typed parameters: each must get its own `error`
and the connection stays open), then one malformed frame (random or mutated bytes, checked
locally to be a protocol error: it must get `error` with id null, code ProtocolError, then
EOF). Every 100 rounds, and at the end, a separate long-lived session must still answer
getServerInfo, and the server process must still be running.
"""

from __future__ import annotations

import json
import random
import socket
import struct

from jetstream_qa.errors import ProtocolError
from jetstream_qa.wire.control import (
    RESPONSE_LIMITS,
    ClientHello,
    ConnState,
    ControlConnection,
    ErrorResponse,
    FrameDecoder,
    Request,
    Role,
    decode_message,
    encode_message,
)

ROUNDS = 2_000
BAD_REQUESTS = 4
_BAD = [
    ("noSuchCommand", {}), ("send.getTransfer", {"transferId": "x"}),
    ("send.getTransfer", {}), ("getServerInfo", {"bogus": 1}),
    ("send.createManifest", {"mappings": {"a": 1}}), ("auth", {"user": 1, "password": 2}),
    ("send.createTransfer", {"destinationId": None, "manifestId": []}),
    ("getRequestResult", {"requestId": -5}),
]


def _is_fatal(payload: bytes) -> bool:
    """True when a server in READY state must refuse this frame as a protocol error."""
    conn = ControlConnection(Role.SERVER)
    conn.receive_data(encode_message(ClientHello(40)))
    conn.send(conn_hello())
    try:
        conn.receive_data(struct.pack(">I", len(payload)) + payload)
    except ProtocolError:
        return True
    return conn.state is ConnState.CLOSED


def conn_hello():  # type: ignore[no-untyped-def]
    from jetstream_qa.wire.control import ServerHello

    return ServerHello(40, "x", "v")


def _malformed(rng: random.Random) -> bytes:
    """A frame (header + payload) a server must refuse; header always matches the payload
    except for the deliberately oversized or zero headers."""
    while True:
        kind = rng.randrange(5)
        if kind == 0:
            return struct.pack(">I", rng.choice([0, (1 << 20) + 1, 0xFFFFFFFF]))
        if kind == 1:
            payload = bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
        elif kind == 2:
            base = json.dumps({"type": "request", "id": 1, "command": "getServerInfo",
                               "params": {}}).encode()
            cut = rng.randrange(1, len(base))
            payload = base[:cut] + bytes([rng.randrange(256)]) + base[cut + 1:]
        elif kind == 3:
            payload = rng.choice([b"[]", b"null", b'{"type":"hello","role":"client",'
                                  b'"apiVersion":40}', b'{"type":"response","id":1,"result":1}',
                                  b'{"a":NaN}', b'{"a":1,"a":2}', b"\xff\xfe"])
        else:
            depth = rng.randint(33, 60)
            payload = b'{"type":"request","id":1,"command":"x","params":{"a":' + \
                b"[" * depth + b"]" * depth + b"}}"
        if _is_fatal(payload):
            return struct.pack(">I", len(payload)) + payload


def _read_all(sock: socket.socket) -> list:
    decoder, out = FrameDecoder(RESPONSE_LIMITS), []
    while chunk := sock.recv(65536):
        out.extend(decode_message(p, RESPONSE_LIMITS) for p in decoder.feed(chunk))
    return out


def _round(host: str, port: int, rng: random.Random) -> None:
    with socket.create_connection((host, port), timeout=10) as sock:
        client = ControlConnection(Role.CLIENT)
        frames = [client.send(ClientHello(40, "fuzz"))]
        ids = list(range(1, BAD_REQUESTS + 1))
        for rid in ids:
            command, params = rng.choice(_BAD)
            frames.append(encode_message(Request(rid, command, params)))
        frames.append(_malformed(rng))
        sock.sendall(frames[0])
        hello = decode_message(next(FrameDecoder(RESPONSE_LIMITS).feed(sock.recv(65536))),
                               RESPONSE_LIMITS)
        assert getattr(hello, "server_id", None), hello
        sock.sendall(b"".join(frames[1:-1]))
        answers = []
        decoder = FrameDecoder(RESPONSE_LIMITS)
        while len(answers) < BAD_REQUESTS:  # answered before the fatal frame is sent
            chunk = sock.recv(65536)
            assert chunk, "server closed on a well-framed invalid request"
            answers.extend(decode_message(p, RESPONSE_LIMITS) for p in decoder.feed(chunk))
        assert sorted(a.id for a in answers) == ids
        wrong = [a for a in answers  # a refusal, never a crash (ServerError) nor a close
                 if not isinstance(a, ErrorResponse) or a.code in ("ServerError",
                                                                   "ProtocolError")]
        assert not wrong, wrong
        sock.sendall(frames[-1])
        tail = _read_all(sock)
        assert len(tail) == 1 and isinstance(tail[0], ErrorResponse), tail
        assert tail[0].id is None and tail[0].code == "ProtocolError"


def test_live_server_survives_10k_hostile_frames(make_server, connect) -> None:
    server = make_server(name="fuzz-target")
    watcher = connect(server, server.user)
    rng = random.Random(7)
    for i in range(ROUNDS):
        _round(server.host, server.api_port, rng)
        if i % 100 == 0:
            assert watcher.call("getServerInfo")["serverId"] == server.server_id
    assert ROUNDS * (BAD_REQUESTS + 1) >= 10_000
    assert watcher.call("getServerInfo")["serverId"] == server.server_id
    assert server.proc is not None and server.proc.poll() is None
