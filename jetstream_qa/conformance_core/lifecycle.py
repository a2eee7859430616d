"""The stateful lifecycle machine of ``conformance/test_properties.py``, made through the
binding (one :class:`jetstream_qa.binding.Operations` per user), so it runs with the bundled
client and with the vendor's package alike.

Two users create manifests, destinations and transfers in random orders (hypothesis), try
each other's objects, and (when the binding has them: optional capabilities) suspend, resume
and cancel. What counts (``problems``, MUST): another user's object is never reachable
(S1/S2/S3 "only the owner or a superuser may monitor or change"), counters never decrease,
and every complete transfer leaves its file as the oracle's DOC rules predict. What is ours
(``notes``, INFO): the status transitions of ``docs/protocol.md`` 4.4, since the vendor
documents only 'pending', 'complete' and 'error'.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from jetstream_qa import expect
from jetstream_qa.conformance_core import oracle
from jetstream_qa.conformance_core.ops_steps import complete_manifest, destination_to_receiver
from jetstream_qa.errors import JetStreamQAError

__all__ = ["COUNTERS", "REACHABLE", "World", "machine", "oracle_problems", "require_binding"]

REACHABLE = {
    "pending": {"pending", "running", "suspended", "cancelled", "error", "complete"},
    "running": {"running", "suspended", "cancelled", "complete", "error", "pending"},
    "suspended": {"suspended", "pending", "running", "cancelled", "error", "complete"},
    "complete": {"complete"},
    "error": {"error"},
    "cancelled": {"cancelled"},
}
"""docs/protocol.md 4.4 (ours where the vendor is silent), in the binding's status names:
statuses reachable from each (a poll may miss intermediate ones); complete, error and
cancelled are final. A departure is INFO."""
COUNTERS = ("blocksSent", "blocksAcked", "bytesSent", "packetsSent")
SLOW_RATE = 1_000_000
"""createTransfer sendRateMax of a 'slow' transfer (bit/s, the reference's unit): a few
kilobytes stay observable while the machine suspends or cancels them."""


class World:
    """What the machine knows: each user's operations, staging, every object created, the
    problems (MUST) and notes (INFO) found."""

    def __init__(self, ops: dict[str, Any], target: Any, scratch: Any,
                 timeout: float) -> None:
        self.ops, self.target, self.scratch, self.timeout = ops, target, scratch, timeout
        self.counter = 0
        self.transfers: dict[int, dict[str, Any]] = {}
        self.problems: list[str] = []
        self.notes: list[str] = []

    def fresh(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}{self.counter}"


def require_binding(ops: Any) -> None:
    """Ask the binding for every parameter the machine passes, before any call.

    Raises:
        BindingMissing: one cannot be named (the case is NOT_APPLICABLE naming it).
    """
    for param in ("destination_path", "flags", "overwrite", "send_rate_max"):
        ops.binding.keyword(ops.api, "create_transfer", param)


def _refused(ops: Any, name: str, *args: Any, **params: Any) -> bool:
    return bool(ops.refused(lambda: ops.call(name, *args, **params)).refused)


def _peek(world: World, owner: str, name: str, object_id: Any) -> None:
    """Another user's ``name(object_id)`` must be refused."""
    other = next((u for u in world.ops if u != owner), None)
    if other is not None and not _refused(world.ops[other], name, object_id):
        world.problems.append(f"{other} could {name}({object_id!r}) of {owner}")


def machine(world: World) -> type[RuleBasedStateMachine]:
    """The rule-based machine over ``world`` (problems and notes recorded, never raised: a
    failure would make hypothesis replay live calls against a server that moved on)."""
    users = st.sampled_from(sorted(world.ops))

    class Lifecycle(RuleBasedStateMachine):
        manifests = Bundle("manifests")
        destinations = Bundle("destinations")
        transfers = Bundle("transfers")

        def __init__(self) -> None:
            super().__init__()
            self.known: dict[int, dict[str, Any]] = {}
            self.mine: dict[str, dict[str, list[Any]]] = {
                u: {"manifests": [], "destinations": []} for u in world.ops}

        @initialize(target=manifests, user=users, size=st.integers(0, 40_000))
        def first_manifest(self, user: str, size: int) -> tuple[str, str, str, bytes]:
            return self._manifest(user, size)

        @initialize(target=destinations, user=users)
        def first_destination(self, user: str) -> tuple[str, str]:
            return self._destination(user)

        @rule(target=manifests, user=users, size=st.integers(0, 40_000))
        def create_manifest(self, user: str, size: int) -> tuple[str, str, str, bytes]:
            return self._manifest(user, size)

        def _manifest(self, user: str, size: int) -> tuple[str, str, str, bytes]:
            name = world.fresh("m") + ".bin"
            data = os.urandom(size)
            path = world.scratch.require_source() / name
            path.write_bytes(data)
            manifest = complete_manifest(world.ops[user],
                                         {f"/{name}": world.scratch.server_path(path)},
                                         timeout=world.timeout)
            made = (user, manifest["manifestId"], name, data)
            self.mine[user]["manifests"].append(made)
            return made

        @rule(target=destinations, user=users)
        def create_destination(self, user: str) -> tuple[str, str]:
            return self._destination(user)

        def _destination(self, user: str) -> tuple[str, str]:
            made = destination_to_receiver(world.ops[user], world.target)
            self.mine[user]["destinations"].append((user, made["destinationId"]))
            return user, made["destinationId"]

        @rule(target=transfers, manifest=manifests, destination=destinations)
        def cross_user_transfer(self, manifest: tuple[Any, ...],
                                destination: tuple[Any, ...]) -> int | None:
            (m_user, m_id, _, _), (d_user, d_id) = manifest, destination
            if m_user != d_user and not _refused(
                    world.ops[m_user], "create_transfer", destination_id=d_id,
                    manifest_id=m_id, destination_path=world.fresh("x")):
                world.problems.append(f"{m_user} used {d_user}'s destination {d_id}")
            return None

        @rule(target=transfers, user=users, pick=st.integers(0, 7), flags=st.integers(0, 15),
              overwrite=st.sampled_from([2, 3, 4, 5]), slow=st.booleans())
        def own_transfer(self, user: str, pick: int, flags: int, overwrite: int,
                         slow: bool) -> Any:
            return self._own_transfer(user, pick, flags, overwrite, slow)

        def _own_transfer(self, user: str, pick: int, flags: int, overwrite: int,
                          slow: bool) -> Any:
            mine, ops = self.mine[user], world.ops[user]
            if not mine["manifests"]:
                self._manifest(user, 3000 + pick)
            if not mine["destinations"]:
                self._destination(user)
            _, m_id, name, data = mine["manifests"][pick % len(mine["manifests"])]
            _, d_id = mine["destinations"][pick % len(mine["destinations"])]
            sub = world.fresh("t")
            made = ops.create_transfer(d_id, m_id,
                                       destination_path=f"{world.scratch.dest_path}/{sub}",
                                       flags=flags, overwrite=overwrite,
                                       send_rate_max=SLOW_RATE if slow else None)
            tid = made["transferId"]
            known = {"user": user, "status": ops.status(made), "counters": {}, "name": name,
                     "data": data, "sub": sub, "flags": flags, "overwrite": overwrite}
            world.transfers[tid] = self.known[tid] = known
            return tid

        @rule(transfer=transfers, action=st.sampled_from(["suspend", "resume", "cancel"]))
        def control(self, transfer: int | None, action: str) -> None:
            if transfer is None:
                return
            ops = world.ops[world.transfers[transfer]["user"]]
            if ops.has(f"{action}_transfer"):  # optional capabilities
                ops.refused(lambda: ops.call(f"{action}_transfer", transfer))  # NotReady ok

        @rule(transfer=transfers)
        def other_user_cannot_see_transfer(self, transfer: int | None) -> None:
            if transfer is not None:
                _peek(world, world.transfers[transfer]["user"], "get_transfer", transfer)

        @rule(manifest=manifests)
        def other_user_cannot_see_manifest(self, manifest: tuple[Any, ...]) -> None:
            _peek(world, manifest[0], "get_manifest", manifest[1])

        @rule(destination=destinations)
        def other_user_cannot_see_destination(self, destination: tuple[Any, ...]) -> None:
            _peek(world, destination[0], "get_destination", destination[1])

        @invariant()
        def statuses_and_counters(self) -> None:
            for tid, known in self.known.items():
                _observe(world, tid, known)

    return Lifecycle


def _observe(world: World, tid: int, known: dict[str, Any]) -> None:
    """One poll of a transfer: counters must not decrease (MUST); our transition table INFO."""
    ops = world.ops[known["user"]]
    now = ops.get_transfer(tid)
    old, new = known["status"], ops.status(now)
    if new not in REACHABLE.get(old, set()):
        world.notes.append(f"transfer {tid}: status {old!r} -> {new!r} (ours: docs/protocol.md"
                           " 4.4)")
    for name in COUNTERS:
        prev, cur = known["counters"].get(name), now.get(name)
        if isinstance(prev, int) and isinstance(cur, int) and cur < prev:
            world.problems.append(f"transfer {tid}: {name} {prev} -> {cur}")
    known["status"] = new
    known["counters"] = {n: now.get(n) for n in COUNTERS}


def oracle_problems(world: World) -> list[str]:
    """Wait for every transfer to finish; each complete one left what the oracle says."""
    problems = []
    for tid, known in world.transfers.items():
        ops = world.ops[known["user"]]
        if known["status"] == "suspended" and ops.has("resume_transfer"):
            with contextlib.suppress(JetStreamQAError, *ops.binding.refusal_classes):
                ops.resume_transfer(tid)
        final = ops.wait_transfer(tid, timeout=world.timeout + 30)
        expect.that("every transfer finishes", ops.status(final) in ops.final_statuses,
                    expected=f"a final status ({', '.join(sorted(ops.final_statuses))})",
                    actual=f"transfer {tid} status {final.get('status')!r}", api=ops.api)
        if ops.status(final) != "complete":
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
