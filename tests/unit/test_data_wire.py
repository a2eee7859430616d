"""Data-plane datagram layouts (docs/protocol.md 5.2): round trips, limits, block math."""

from __future__ import annotations

import pytest

from jetstream_qa.errors import ProtocolError
from jetstream_qa.wire.data import (
    BLOCK_SIZE,
    DEFAULT_MAX_DATAGRAM,
    HEADER,
    Abort,
    Ack,
    DType,
    Fin,
    FinAck,
    Meta,
    MetaAck,
    Open,
    OpenAck,
    Reject,
    RejectCode,
    blocks_for,
    check_data,
    decode_body,
    dtype_of,
    encode_body,
    max_blocks_per_datagram,
    pack_header,
    unpack_header,
)

KEY = bytes(range(32))


def _open(**over: object) -> Open:
    fields: dict[str, object] = dict(
        transfer_id=42, total_bytes=858_703_405, cipher=3, flags=3, overwrite_mode=4,
        checkpoint_ms=1500, max_datagram=1400, meta_length=123, meta_digest=KEY,
        ephemeral=KEY[::-1], static=bytes(32), server_uid="uid-1", server_id="id-1",
        destination_path="dir/sub é")
    fields.update(over)
    return Open(**fields)  # type: ignore[arg-type]


BODIES = [
    _open(),
    OpenAck(KEY, KEY, 2, 64, 10, ((12, 20), (30, 31)), "uid", "id", b"c" * 16),
    Meta(0, b"\x78\x9c chunk"),
    MetaAck(4096, True),
    Ack(100, 77, 70, 1234, 64, ((101, 200), (300, 4_000_000))),
    Fin(17),
    FinAck(100, 50, b"x" * 50),
    Abort(1, "cancelled by the sender"),
    Reject(RejectCode.UNKNOWN_SESSION, "unknown session"),
]


@pytest.mark.parametrize("body", BODIES, ids=lambda b: type(b).__name__)
def test_body_round_trip_is_identity(body: object) -> None:
    raw = encode_body(body)  # type: ignore[arg-type]
    assert decode_body(dtype_of(body), raw) == body  # type: ignore[arg-type]


@pytest.mark.parametrize("body", BODIES, ids=lambda b: type(b).__name__)
def test_every_truncation_is_a_protocol_error(body: object) -> None:
    raw = encode_body(body)  # type: ignore[arg-type]
    kind = dtype_of(body)  # type: ignore[arg-type]
    for cut in range(len(raw)):
        try:
            decoded = decode_body(kind, raw[:cut])
        except ProtocolError:
            continue
        # variable-length tails (chunks, messages) may legitimately be shorter
        assert isinstance(decoded, Meta | FinAck | Abort | Reject)


def test_header_round_trip_and_size() -> None:
    raw = pack_header(DType.ACK, 2**64 - 1, 5)
    assert len(raw) == HEADER.size == 20
    h = unpack_header(raw)
    assert (h.dtype, h.session, h.seq) == (DType.ACK, 2**64 - 1, 5)


@pytest.mark.parametrize("raw", [b"", b"JQ", b"XX" + bytes(18), b"JQ\x02" + bytes(17),
                                 b"JQ\x01\x63" + bytes(16)])
def test_bad_headers_are_protocol_errors(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        unpack_header(raw)


def test_ack_ranges_must_be_ascending_and_above_cumulative() -> None:
    good = Ack(10, 1, 1, 0, 8, ((20, 30),))
    raw = bytearray(encode_body(good))
    raw[-16:] = (5).to_bytes(8, "big") + (8).to_bytes(8, "big")  # below cumulative 10
    with pytest.raises(ProtocolError):
        decode_body(DType.ACK, bytes(raw))
    with pytest.raises(ProtocolError):
        Ack(10, 1, 1, 0, 8, ((30, 40), (35, 50)))


def test_open_rejects_out_of_range_fields() -> None:
    with pytest.raises(ProtocolError):
        _open(cipher=4)
    with pytest.raises(ProtocolError):
        _open(max_datagram=100)
    with pytest.raises(ProtocolError):
        _open(ephemeral=b"short")


def test_open_trailing_bytes_are_refused() -> None:
    with pytest.raises(ProtocolError):
        decode_body(DType.OPEN, encode_body(_open()) + b"\0")


def test_block_math_matches_the_vendor_example() -> None:
    # Transfer structure page example: totalBytes 858,703,405 -> totalBlocks 3,354,311
    assert blocks_for(858_703_405) == 3_354_311
    assert blocks_for(0) == 0 and blocks_for(1) == 1 and blocks_for(256) == 1
    assert blocks_for(257) == 2


def test_max_blocks_per_datagram_leaves_room_for_header_prefix_and_tag() -> None:
    n = max_blocks_per_datagram(DEFAULT_MAX_DATAGRAM)
    assert 20 + 8 + n * BLOCK_SIZE + 16 <= DEFAULT_MAX_DATAGRAM
    assert 20 + 8 + (n + 1) * BLOCK_SIZE + 16 > DEFAULT_MAX_DATAGRAM
    assert max_blocks_per_datagram(1400) == 5


def test_check_data_allows_only_the_last_block_short() -> None:
    assert check_data(0, 512, 1000) == 2
    assert check_data(3, 232, 1000) == 1  # 768 + 232 = 1000: the short final block
    with pytest.raises(ProtocolError):
        check_data(0, 300, 1000)  # ragged in the middle
    with pytest.raises(ProtocolError):
        check_data(3, 256, 1000)  # past the end
    with pytest.raises(ProtocolError):
        check_data(0, 0, 1000)
