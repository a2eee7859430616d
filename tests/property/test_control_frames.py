"""wire.control under property tests: frames round-trip; hostile bytes raise only
ProtocolError (100,000 random and mutated inputs, seeded, a few seconds)."""

from __future__ import annotations

import json
import random
import struct
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from jetstream_qa.errors import ProtocolError
from jetstream_qa.wire.control import (
    REQUEST_LIMITS,
    RESPONSE_LIMITS,
    ClientHello,
    ControlConnection,
    ErrorResponse,
    FrameDecoder,
    Request,
    Response,
    Role,
    ServerHello,
    decode_message,
    encode_message,
)

_text = st.text(max_size=40)
_json: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | _text,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_text, inner, max_size=5),
    max_leaves=20)
_ids = st.integers(1, 2**53 - 1)
_commands = st.from_regex(r"[A-Za-z0-9]{1,20}(\.[A-Za-z0-9]{1,20}){0,2}", fullmatch=True)
_messages = st.one_of(
    st.builds(ClientHello, api_version=st.integers(0, 2**31 - 1), agent=st.text(max_size=256)),
    st.builds(ServerHello, api_version=st.integers(0, 2**31 - 1),
              server_id=st.text(min_size=1, max_size=128), version=st.text(max_size=64),
              auth_required=st.booleans()),
    st.builds(Request, id=_ids, command=_commands,
              params=st.dictionaries(_text, _json, max_size=6)),
    st.builds(Response, id=_ids, result=_json),
    st.builds(ErrorResponse, id=st.none() | _ids, code=st.text(min_size=1, max_size=64),
              message=_text, details=st.dictionaries(_text, _json, max_size=4)),
)


@settings(max_examples=300, deadline=None)
@given(messages=st.lists(_messages, min_size=1, max_size=5), cut=st.integers(1, 64))
def test_frames_round_trip_in_any_chunking(messages: list[Any], cut: int) -> None:
    """encode -> bytes split in arbitrary chunks -> FrameDecoder -> decode == original."""
    stream = b"".join(encode_message(m) for m in messages)
    decoder = FrameDecoder(RESPONSE_LIMITS)
    payloads = [p for i in range(0, len(stream), cut) for p in decoder.feed(stream[i:i + cut])]
    decoded = [decode_message(p, RESPONSE_LIMITS) for p in payloads]
    assert decoded == messages
    assert decoder.buffered == 0


def _valid_payloads() -> list[bytes]:
    msgs = [ClientHello(40, "fuzz"), Request(1, "send.createManifest", {"mappings": {"a": "/b"}}),
            Request(2, "getServerInfo", {}), Response(3, {"x": [1, 2.5, None, "é"]}),
            ErrorResponse(None, "ProtocolError", "m", {"k": 1}),
            ServerHello(40, "id", "2.9.2-ref", True)]
    return [encode_message(m)[4:] for m in msgs]


_SPECIALS = [b"NaN", b"Infinity", b"-Infinity", b"\xff", b"\xc3", b"{", b"}", b"[", b"]",
             b'"', b"\\", b"\x00", b":", b",", b'"type"', b'"request"', b'"id":', b"1e999",
             b'"params":', b"null", b"true", b"9007199254740993"]


def _mutate(rng: random.Random, payload: bytes) -> bytes:
    data = bytearray(payload)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            data[pos:pos] = rng.choice(_SPECIALS)
        elif op == 2:
            del data[pos:pos + rng.randint(1, 8)]
        elif op == 3:
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 6)))
        elif op == 4:
            data = data[:pos]
        else:
            data[pos:pos] = data[: rng.randint(0, len(data))]
    return bytes(data)


def _structured(rng: random.Random) -> bytes:
    """Valid JSON that breaks a rule: depth, duplicate keys, wrong types, huge ids."""
    kind = rng.randrange(5)
    if kind == 0:
        depth = rng.randint(30, 40)
        return b'{"type":"request","id":1,"command":"x","params":' + b"[" * depth + \
            b"]" * depth + b"}"
    if kind == 1:
        return b'{"type":"request","type":"hello","id":1}'
    if kind == 2:
        value = rng.choice([None, True, -1, 2**53, "1", [], {}, 1.5])
        return json.dumps({"type": "request", "id": value, "command": "getServerInfo",
                           "params": {}}).encode()
    if kind == 3:
        return json.dumps({"type": rng.choice(["hello", "bogus", 7, None]),
                           "role": rng.choice(["client", "server", "x", 1]),
                           "apiVersion": rng.choice([40, -1, "40", None, 2**40])}).encode()
    return json.dumps({"type": "request", "id": 1, "command": "a" * rng.randint(60, 70),
                       "params": rng.choice([{}, [], "x", None])}).encode()


def test_decoder_raises_only_protocol_error_on_100k_hostile_inputs() -> None:
    rng = random.Random(20261127)
    valid = _valid_payloads()
    outcomes = {"ok": 0, "protocol_error": 0}
    for i in range(100_000):
        choice = i % 4
        if choice == 0:
            payload = bytes(rng.randrange(256) for _ in range(rng.randint(0, 48)))
        elif choice == 3:
            payload = _structured(rng)
        else:
            payload = _mutate(rng, rng.choice(valid))
        try:
            decode_message(payload, REQUEST_LIMITS)
            outcomes["ok"] += 1
        except ProtocolError:
            outcomes["protocol_error"] += 1
        if i % 10 == 0:  # the stream path too: header + payload into a server connection
            conn = ControlConnection(Role.SERVER)
            try:
                conn.receive_data(struct.pack(">I", len(payload)) + payload)
            except ProtocolError:
                pass
    assert outcomes["protocol_error"] > 50_000  # the inputs really were hostile
    assert sum(outcomes.values()) == 100_000


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=300))
def test_stream_of_arbitrary_bytes_raises_only_protocol_error(data: bytes) -> None:
    conn = ControlConnection(Role.SERVER)
    try:
        conn.receive_data(data)
    except ProtocolError:
        pass
