"""Data-plane datagram layouts (docs/protocol.md 5.2): round trips, limits, block math."""

from __future__ import annotations

import pytest

from jetstream_qa.errors import ProtocolError
from jetstream_qa.wire import crypto
from jetstream_qa.wire.data import (
    BLOCK_SIZE,
    BODY_TYPES,
    DEFAULT_MAX_DATAGRAM,
    HEADER,
    UNPROTECTED,
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
    ack_range_limit,
    blocks_for,
    check_data,
    decode_body,
    dtype_of,
    encode_body,
    fin_ack_room,
    max_blocks_per_datagram,
    meta_room,
    open_ack_range_limit,
    open_body,
    pack_header,
    seal_datagram,
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


def test_every_body_type_is_in_the_one_table_under_its_own_type() -> None:
    # docs/protocol.md 5.2: every type but DATA has a body layout; DATA takes the fast path
    assert set(BODY_TYPES) == set(DType) - {DType.DATA}
    assert all(cls.dtype is dtype for dtype, cls in BODY_TYPES.items())
    assert {type(b) for b in BODIES} == set(BODY_TYPES.values())


def test_data_has_no_generic_body_decoder() -> None:
    with pytest.raises(ProtocolError, match="DATA"):
        decode_body(DType.DATA, bytes(16))


def _keys() -> crypto.KeySchedule:
    return crypto.KeySchedule(bytes(range(32)), bytes(range(1, 33)), bytes(32))


@pytest.mark.parametrize("body", BODIES, ids=lambda b: type(b).__name__)
@pytest.mark.parametrize("cipher", [0, 1, 3])
def test_sealed_datagram_opens_to_its_body(body: object, cipher: int) -> None:
    # 5.2: a tag follows every protected body unless the cipher is NONE; OPEN, OPEN_ACK and
    # REJECT travel in clear whatever the cipher
    tx = crypto.Protector(cipher, _keys().receiver_to_sender, crypto.RECEIVER_TO_SENDER)
    rx = crypto.Protector(cipher, _keys().receiver_to_sender, crypto.RECEIVER_TO_SENDER)
    raw = encode_body(body)  # type: ignore[arg-type]
    sealed = bytearray(seal_datagram(body, 7, 3, tx))  # type: ignore[arg-type]
    clear = dtype_of(body) in UNPROTECTED  # type: ignore[arg-type]
    assert len(sealed) == HEADER.size + len(raw) + (0 if clear or not cipher else 16)
    header = unpack_header(sealed)
    assert (header.dtype, header.session, header.seq) == (dtype_of(body), 7, 3)  # type: ignore[arg-type]
    n = len(sealed) - HEADER.size if clear else rx.open(sealed, len(sealed), HEADER.size, 3)
    assert decode_body(header.dtype, sealed[HEADER.size:HEADER.size + n]) == body


def test_without_keys_a_datagram_goes_in_clear() -> None:
    body = Fin(17)
    assert seal_datagram(body, 1, 0, None) == pack_header(DType.FIN, 1, 0) + encode_body(body)


def test_room_helpers_fill_a_datagram_without_passing_it() -> None:
    # each helper's content at 1400 bytes, sealed at the strongest cipher, fits exactly or
    # leaves less than one more item's worth
    tx = crypto.Protector(3, _keys().receiver_to_sender, crypto.RECEIVER_TO_SENDER)
    size = 1400
    meta = seal_datagram(Meta(0, b"m" * meta_room(size)), 1, 0, tx)
    results = seal_datagram(FinAck(5000, 0, b"r" * fin_ack_room(size)), 1, 0, tx)
    assert len(meta) == len(results) == size
    n = ack_range_limit(size)
    ack = seal_datagram(Ack(0, 0, 0, 0, 8, tuple((2 * i + 1, 2 * i + 2) for i in range(n))),
                        1, 0, tx)
    assert size - 16 < len(ack) <= size
    assert ack_range_limit(65507) == 1024 and ack_range_limit(576) == 31


def test_open_ack_range_limit_is_the_documented_formula() -> None:
    # 5.2 OPEN_ACK: "at most (min(maxDatagram) - 208) / 16, capped 4000"
    assert open_ack_range_limit(1400) == (1400 - 208) // 16 == 74
    assert open_ack_range_limit(65507) == 4000


def test_open_body_tells_rejected_from_malformed() -> None:
    # 5.2: failing authentication (or arriving before keys) is *rejected*; a body that does
    # not parse is *malformed*; both are dropped and counted apart
    keys = _keys().receiver_to_sender
    tx = crypto.Protector(3, keys, crypto.RECEIVER_TO_SENDER)
    sealed = seal_datagram(Fin(17), 5, 0, tx)
    rx = crypto.Protector(3, keys, crypto.RECEIVER_TO_SENDER)
    assert open_body(bytearray(sealed), len(sealed), DType.FIN, 0, rx) == Fin(17)
    with pytest.raises(crypto.DatagramRejected):  # the same sequence again: a replay
        open_body(bytearray(sealed), len(sealed), DType.FIN, 0, rx)
    with pytest.raises(crypto.DatagramRejected):
        open_body(bytearray(sealed), len(sealed), DType.FIN, 0, None)
    truncated = pack_header(DType.REJECT, 5, 0) + b"\x00"  # half a reject code
    with pytest.raises(ProtocolError) as info:
        open_body(bytearray(truncated), len(truncated), DType.REJECT, 0, rx)
    assert not isinstance(info.value, crypto.DatagramRejected)
