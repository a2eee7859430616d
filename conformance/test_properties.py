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

import contextlib
import hashlib
import os
import socket
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from jetstream_qa import expect
from jetstream_qa.conformance_core import oracle, steps
from jetstream_qa.conformance_core.strategies import HELLO_FRAME, Malformed, malformed_frames
from jetstream_qa.errors import ProtocolError, ServerError
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


# --- the lifecycle state machine -------------------------------------------------------------
REACHABLE = {
    "pending": {"pending", "sending", "suspended", "cancelled", "error", "complete"},
    "sending": {"sending", "suspended", "cancelled", "complete", "error", "pending"},
    "suspended": {"suspended", "pending", "sending", "cancelled", "error", "complete"},
    "complete": {"complete"},
    "error": {"error"},
    "cancelled": {"cancelled"},
}
"""docs/protocol.md 4.4 (ours where the vendor is silent): statuses reachable from each
(a poll may miss intermediate ones); complete, error and cancelled are final."""
COUNTERS = ("blocksSent", "blocksAcked", "bytesSent", "packetsSent")
HIDDEN = ServerError
"""Another user's object is refused: PermissionDenied or NotFound (both ServerError)."""


class _World:
    """What the machine knows: sessions per user, staging, and every object created."""

    def __init__(self, apis: dict[str, Any], target: Any, scratch: Any, timeout: float,
                 constants: Any) -> None:
        self.apis, self.target, self.scratch = apis, target, scratch
        self.timeout, self.constants = timeout, constants
        self.counter = 0
        self.transfers: dict[int, dict[str, Any]] = {}
        self.problems: list[str] = []

    def fresh(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}{self.counter}"


def _peek(world: _World, owner: str, method: str, object_id: Any) -> None:
    """Another user's ``send.<method>(object_id)`` must be refused."""
    other = next((u for u in world.apis if u != owner), None)
    if other is None:
        return
    with contextlib.suppress(HIDDEN):
        getattr(world.apis[other].send, method)(object_id)
        world.problems.append(f"{other} could {method}({object_id!r}) of {owner}")


def _machine(world: _World) -> type[RuleBasedStateMachine]:
    users = st.sampled_from(sorted(world.apis))

    class Lifecycle(RuleBasedStateMachine):
        manifests = Bundle("manifests")
        destinations = Bundle("destinations")
        transfers = Bundle("transfers")

        def __init__(self) -> None:
            super().__init__()
            self.known: dict[int, dict[str, Any]] = {}
            self.mine: dict[str, dict[str, list[Any]]] = {
                u: {"manifests": [], "destinations": []} for u in world.apis}

        @initialize(target=manifests, user=users, size=st.integers(0, 40_000))
        def first_manifest(self, user: str, size: int) -> tuple[str, str, str, bytes]:
            return self.create_manifest(user, size)

        @initialize(target=destinations, user=users)
        def first_destination(self, user: str) -> tuple[str, str]:
            return self.create_destination(user)

        @rule(target=manifests, user=users, size=st.integers(0, 40_000))
        def create_manifest(self, user: str, size: int) -> tuple[str, str, str, bytes]:
            name = world.fresh("m") + ".bin"
            data = os.urandom(size)
            path = world.scratch.require_source() / name
            path.write_bytes(data)
            manifest = steps.complete_manifest(world.apis[user],
                                               {f"/{name}": world.scratch.server_path(path)},
                                               timeout=world.timeout)
            made = (user, manifest["manifestId"], name, data)
            self.mine[user]["manifests"].append(made)
            return made

        @rule(target=destinations, user=users)
        def create_destination(self, user: str) -> tuple[str, str]:
            made = steps.destination_to_receiver(world.apis[user], world.target)
            self.mine[user]["destinations"].append((user, made["destinationId"]))
            return user, made["destinationId"]

        @rule(target=transfers, manifest=manifests, destination=destinations)
        def cross_user_transfer(self, manifest: tuple, destination: tuple) -> int | None:
            (m_user, m_id, _, _), (d_user, d_id) = manifest, destination
            if m_user != d_user:
                with contextlib.suppress(HIDDEN):
                    world.apis[m_user].send.createTransfer(d_id, m_id,
                                                           destinationPath=world.fresh("x"))
                    world.problems.append(f"{m_user} used {d_user}'s destination {d_id}")
            return None

        @rule(target=transfers, user=users, pick=st.integers(0, 7), flags=st.integers(0, 15),
              overwrite=st.sampled_from([2, 3, 4, 5]), slow=st.booleans())
        def own_transfer(self, user: str, pick: int, flags: int, overwrite: int,
                         slow: bool) -> int:
            mine = self.mine[user]
            if not mine["manifests"]:
                self.create_manifest(user, 3000 + pick)
            if not mine["destinations"]:
                self.create_destination(user)
            _, m_id, name, data = mine["manifests"][pick % len(mine["manifests"])]
            _, d_id = mine["destinations"][pick % len(mine["destinations"])]
            sub = world.fresh("t")
            made = world.apis[user].send.createTransfer(
                d_id, m_id, destinationPath=f"{world.scratch.dest_path}/{sub}",
                transferFlags=flags, overwriteMode=overwrite,
                **({"sendRateMax": 1_000_000} if slow else {}))
            tid = made["transferId"]
            known = {"user": user, "status": made.get("status"), "counters": {}, "name": name,
                     "data": data, "sub": sub, "flags": flags, "overwrite": overwrite}
            world.transfers[tid] = self.known[tid] = known
            return tid

        @rule(transfer=transfers, action=st.sampled_from(["suspend", "resume", "cancel"]))
        def control(self, transfer: int | None, action: str) -> None:
            if transfer is None:
                return
            api = world.apis[world.transfers[transfer]["user"]]
            method = getattr(api.send, f"{action}Transfer", None)
            if method is not None:
                with contextlib.suppress(ServerError):  # e.g. NotReady on a final transfer
                    method(transfer)

        @rule(transfer=transfers)
        def other_user_cannot_see_transfer(self, transfer: int | None) -> None:
            if transfer is not None:
                _peek(world, world.transfers[transfer]["user"], "getTransfer", transfer)

        @rule(manifest=manifests)
        def other_user_cannot_see_manifest(self, manifest: tuple) -> None:
            _peek(world, manifest[0], "getManifest", manifest[1])

        @rule(destination=destinations)
        def other_user_cannot_see_destination(self, destination: tuple) -> None:
            _peek(world, destination[0], "getDestination", destination[1])

        @invariant()
        def statuses_and_counters(self) -> None:
            # Problems are recorded, never raised: a failure would make hypothesis replay
            # live calls against a server whose state has moved on.
            for tid, known in self.known.items():
                now = world.apis[known["user"]].send.getTransfer(tid)
                old, new = known["status"], now.get("status")
                if new not in REACHABLE.get(old, set()):
                    world.problems.append(f"transfer {tid}: status {old!r} -> {new!r}")
                for name in COUNTERS:
                    prev, cur = known["counters"].get(name), now.get(name)
                    if isinstance(prev, int) and isinstance(cur, int) and cur < prev:
                        world.problems.append(f"transfer {tid}: {name} {prev} -> {cur}")
                known["status"] = new
                known["counters"] = {n: now.get(n) for n in COUNTERS}

    return Lifecycle


def _oracle_problems(world: _World) -> list[str]:
    """Wait for every transfer to finish; each complete one left what the oracle says."""
    problems = []
    for tid, known in world.transfers.items():
        api = world.apis[known["user"]]
        if known["status"] == "suspended":
            with contextlib.suppress(ServerError):
                api.send.resumeTransfer(tid)
        final = expect.eventually("every transfer finishes", lambda a=api, t=tid:
                                  a.send.getTransfer(t),
                                  lambda t: t.get("status") in ("complete", "error",
                                                                "cancelled"),
                                  expected="a final status", timeout=world.timeout + 30,
                                  api=api)
        if final["status"] != "complete":
            continue
        data = known["data"]
        outcome = oracle.expected_outcome(
            flags=known["flags"], overwrite_mode=known["overwrite"], cipher=0,
            symlink_mode=1, source=oracle.SourceEntry(known["name"], len(data), 0),
            pre=oracle.DestPreState())
        path = world.scratch.require_dest() / known["sub"] / known["name"]
        problems += _file_problem(tid, path, outcome, data)
    return problems


def _file_problem(tid: int, path: Any, outcome: oracle.ExpectedOutcome,
                  data: bytes) -> list[str]:
    """Only what the decision table marks DOC counts here (``outcome.documented``): e.g.
    under NEVER with no target, that the file appears is DOC, that it appears as NAME is
    ours."""
    want, doc = outcome.target, outcome.is_documented
    if want.kind is oracle.PathKind.ABSENT:
        written = path.exists() and doc("target.kind")
        return [f"transfer {tid}: {path.name} written without WRITE"] if written else []
    if not path.is_file():
        beside = [p for p in path.parent.glob(f"{path.name}*") if p.is_file()
                  and p.stat().st_size == len(data)] if path.parent.is_dir() else []
        if doc("target.kind") or (doc("appears") and not beside):
            return [f"transfer {tid}: {path.name} missing (oracle: {outcome.result.value}, "
                    f"rules {', '.join(outcome.rules)})"]
        return []
    got = path.read_bytes()
    if len(got) != len(data) and doc("target.size"):
        return [f"transfer {tid}: {path.name} has {len(got)} bytes, not {len(data)}"]
    if want.content is oracle.Content.SOURCE and doc("target.content") and \
            hashlib.sha256(got).digest() != hashlib.sha256(data).digest():
        return [f"transfer {tid}: {path.name} content differs from the source"]
    return []


@pytest.mark.js_case("stateful/lifecycle/ownership-counters-transitions-oracle", level="MUST",
                     source=f"{S1}; {S2}; {S3}; {S11}; {S44}")
def test_lifecycle_state_machine(js_sender, js_sender_user2, js_target, js_scratch,
                                 js_session_settings, js_constants):
    """Under random sequences of manifest, destination and transfer calls by two users
    (suspend/resume/cancel included): no user reaches another's objects, counters never
    decrease, statuses only move along allowed transitions (finals stay final), and every
    complete transfer leaves the destination as the oracle predicts.

    S1/S2/S3: "only the owner or a superuser may monitor or change" transfers, manifests,
    destinations; S11: flags and overwrite modes; S44: suspend, resume, cancel.
    """
    js_scratch.require_source()
    js_scratch.require_dest()
    world = _World({"a": js_sender, "b": js_sender_user2}, js_target, js_scratch,
                   js_session_settings.timeout, js_constants)
    profile = js_session_settings.profile
    machine = _machine(world)
    machine.TestCase.settings = settings(
        max_examples=_budget(profile, 10, 30), stateful_step_count=_budget(profile, 20, 40),
        deadline=None, database=None, derandomize=False,
        phases=NO_SHRINK,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                               HealthCheck.filter_too_much])
    run_state_machine_as_test(machine, settings=machine.TestCase.settings)
    world.problems += _oracle_problems(world)
    expect.that("ownership, counters, transitions and files hold in every sequence",
                not world.problems, expected="no violation",
                actual="; ".join(list(dict.fromkeys(world.problems))[:5]),
                api=[js_sender, js_sender_user2])
