"""Property-based and stateful cases (hypothesis): malformed control frames, and a state
machine over manifest, destination and transfer lifecycles.

Vendor pages: Transfer, Manifest and Destination structures (``jetstream-api/2.9.2/api/
structures/transfer.html`` S1, ``manifest.html`` S2, ``destination.html`` S3: "only the owner
or a superuser may monitor or change" each object), ``jetstream.constants`` (S11) and the
client's transfer monitor (``jetstream-client/2.9.2/transfers/transfer-monitor.html``, S44).
The malformed-frame case is a *reference-protocol* case: it speaks ``docs/protocol.md``
bytes, so it is NOT_APPLICABLE with the vendor client. Both are bounded (examples, steps,
socket timeouts) to keep the quick profile within a minute or two.
"""

from __future__ import annotations

import socket
import time

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.stateful import run_state_machine_as_test

from jetstream_qa import expect
from jetstream_qa.conformance_core import lifecycle
from jetstream_qa.conformance_core.strategies import HELLO_FRAME, Malformed, malformed_frames
from jetstream_qa.errors import ProtocolError
from jetstream_qa.wire.control import (
    RESPONSE_LIMITS,
    ErrorResponse,
    FrameDecoder,
    Response,
    ServerHello,
    decode_message,
)

S1 = "jetstream-api/2.9.2/api/structures/transfer.html"
S2 = "jetstream-api/2.9.2/api/structures/manifest.html"
S3 = "jetstream-api/2.9.2/api/structures/destination.html"
S11 = "jetstream-api/2.9.2/api/python/jetstream.constants.html"
S44 = "jetstream-client/2.9.2/transfers/transfer-monitor.html"
PROTOCOL = "docs/protocol.md 2.1-2.3, 2.6 (reference protocol)"

ANSWER_TIMEOUT_S = 5.0
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
"""A failing example is reported as found: shrinking would re-run live transfers."""


def _budget(profile: str, quick: int, full: int) -> int:
    return full if profile == "full" else quick


# --- malformed control frames ----------------------------------------------------------------
def _read_answer(sock: socket.socket, timeout: float) -> str:
    """Read until an error frame, a response frame or EOF: 'error', 'response', 'closed' or
    'silent' (nothing within ``timeout`` seconds)."""
    decoder = FrameDecoder(RESPONSE_LIMITS)
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        sock.settimeout(remaining)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            break
        except (ConnectionResetError, BrokenPipeError):
            return "closed"
        if not data:
            return "closed"
        try:
            for payload in decoder.feed(data):
                message = decode_message(payload, RESPONSE_LIMITS)
                if isinstance(message, ErrorResponse):
                    return "error"
                if isinstance(message, Response):
                    return "response"
        except ProtocolError:
            return "garbled"
    return "silent"


def _hello(sock: socket.socket) -> bool:
    """Send a client hello and read the server's; True when a server hello came back."""
    sock.sendall(HELLO_FRAME)
    decoder = FrameDecoder(RESPONSE_LIMITS)
    deadline = time.monotonic() + ANSWER_TIMEOUT_S
    while (remaining := deadline - time.monotonic()) > 0:
        sock.settimeout(remaining)
        data = sock.recv(65536)
        if not data:
            return False
        for payload in decoder.feed(data):
            return isinstance(decode_message(payload, RESPONSE_LIMITS), ServerHello)
    return False


def _probe(host: str, port: int, malformed: Malformed) -> str:
    with socket.create_connection((host, port), timeout=ANSWER_TIMEOUT_S) as sock:
        if malformed.after_hello and not _hello(sock):
            return "no-hello"
        try:
            sock.sendall(malformed.data)
        except (ConnectionResetError, BrokenPipeError):
            return "closed"
        return _read_answer(sock, ANSWER_TIMEOUT_S)


def _alive(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=ANSWER_TIMEOUT_S) as sock:
            return _hello(sock)
    except OSError:
        return False


@pytest.mark.js_case("robustness/control-frames/malformed-frame-refused-server-keeps-serving",
                     level="MUST", source=PROTOCOL)
def test_malformed_frames(js_target, js_client, js_connect, js_session_settings,
                          js_not_applicable):
    """Every malformed control frame (bad length, not UTF-8, not JSON, not an object, NaN,
    duplicate key, too deep, ill-typed fields, unknown or misplaced message) gets an error
    frame or a closed connection, and the server keeps serving getServerInfo.

    Reference-protocol case (docs/protocol.md 2.6: a frame breaking 2.1-2.3 is a
    ProtocolError, then the server closes; "the server keeps serving").
    """
    if js_client.kind != "bundled":
        js_not_applicable("reference-protocol case: needs the bundled client's wire protocol")
    host, port = js_target.sender.host, js_target.sender.port
    if not _alive(host, port):
        js_not_applicable("the sender's control port does not speak the plain reference "
                          "protocol (TLS or another server)")
    bad: list[str] = []
    profile = js_session_settings.profile

    @settings(max_examples=_budget(profile, 60, 400), deadline=None, database=None,
              derandomize=profile != "full", phases=NO_SHRINK,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(malformed_frames())
    def check(malformed: Malformed) -> None:
        # Findings are recorded, never raised: a raise would make hypothesis replay the
        # example against a server that may be gone. After the first one, stop probing.
        if bad:
            return
        try:
            answer = _probe(host, port, malformed)
        except OSError as exc:
            answer = f"connect failed: {type(exc).__name__}"
        if answer not in ("error", "closed") or not _alive(host, port):
            bad.append(f"{malformed!r}: {answer}, server alive afterwards: "
                       f"{_alive(host, port)}")

    check()
    expect.that("every malformed frame is refused with an error frame or a close, and the "
                "server stays up", not bad, expected="'error' or 'closed' for each, server "
                "alive", actual="; ".join(bad[:3]))
    api = js_connect("sender")
    info = api.server.getServerInfo()
    expect.has_fields("the server still serves getServerInfo", info, {"apiVersion": int},
                      api=api)


@pytest.mark.js_case("stateful/lifecycle/ownership-counters-transitions-oracle", level="MUST",
                     source=f"{S1}; {S2}; {S3}; {S11}; {S44}")
def test_lifecycle_state_machine(js_sender, js_sender_user2, js_target, js_scratch,
                                 js_session_settings, js_ops, js_info):
    """Under random sequences of manifest, destination and transfer calls by two users
    (suspend/resume/cancel included when the binding has them): no user reaches another's
    objects, counters never decrease, and every complete transfer leaves the destination as
    the oracle predicts. Statuses moving outside our transition table (docs/protocol.md 4.4;
    the vendor spells only 'pending', 'complete', 'error') are INFO.

    S1/S2/S3: "only the owner or a superuser may monitor or change" transfers, manifests,
    destinations; S11: flags and overwrite modes; S44: suspend, resume, cancel.
    """
    js_scratch.require_source()
    js_scratch.require_dest()
    ops = {"a": js_ops(js_sender), "b": js_ops(js_sender_user2)}
    lifecycle.require_binding(ops["a"])
    world = lifecycle.World(ops, js_target, js_scratch, js_session_settings.timeout)
    profile = js_session_settings.profile
    machine = lifecycle.machine(world)
    machine.TestCase.settings = settings(
        max_examples=_budget(profile, 10, 30), stateful_step_count=_budget(profile, 20, 40),
        deadline=None, database=None, derandomize=False,
        phases=NO_SHRINK,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                               HealthCheck.filter_too_much])
    run_state_machine_as_test(machine, settings=machine.TestCase.settings)
    world.problems += lifecycle.oracle_problems(world)
    for note in list(dict.fromkeys(world.notes))[:5]:
        js_info(note)
    expect.that("ownership, counters and files hold in every sequence",
                not world.problems, expected="no violation",
                actual="; ".join(list(dict.fromkeys(world.problems))[:5]),
                api=[js_sender, js_sender_user2])
