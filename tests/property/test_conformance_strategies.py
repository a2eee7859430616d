"""``conformance_core/strategies.py``: every malformed frame it draws is refused by the reference
decoder (or, for ``message-not-allowed``, is a message the client may not send then).

The live case (``robustness/control-frames/...``) counts a server *response* to a draw as a
failure, so a draw that happened to be valid would blame the server wrongly."""

from __future__ import annotations

from hypothesis import given, settings

from jetstream_qa.conformance_core.strategies import Malformed, malformed_frames
from jetstream_qa.errors import ProtocolError
from jetstream_qa.wire.control import ClientHello, FrameDecoder, decode_message


@settings(max_examples=500, deadline=None)
@given(malformed_frames())
def test_every_draw_breaks_the_protocol(malformed: Malformed) -> None:
    try:
        messages = [decode_message(p) for p in FrameDecoder().feed(malformed.data)]
    except ProtocolError:
        return
    # Decodable draws are only messages a client may not send after its hello: a response,
    # an error, a server hello, or a second client hello.
    assert malformed.rule == "message-not-allowed" and malformed.after_hello, malformed
    assert len(messages) == 1, messages
    if isinstance(messages[0], ClientHello):
        assert malformed.after_hello
