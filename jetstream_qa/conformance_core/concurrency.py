"""How many pytest-xdist workers a conformance run uses, and in which order cases go out.

Theory of operation
-------------------
A quick-profile run is waiting, not working (issue 13: 45 s wall for 13 s of CPU): idle
timeouts, request-record expiry, tamper windows and rate-limited transfers wait for the
server. Those cases run concurrently on pytest-xdist workers. Each worker is a whole pytest
session, so each starts ITS OWN embedded pair (the session-scoped ``js_target``): a worker's
pair sees exactly the cases a serial run would show it, one at a time, only fewer of them.
That keeps every verdict the serial run gives, including the packet cases, whose captures
are filtered by their own pair's data port and so never see another worker's transfers.

A given target is one shared server: two cases at once could see each other's datagrams in
a capture or each other's transfers in a listing, so a given target stays serial unless the
engineer asks (``--js-workers N``). ``--js-serial`` (or ``-p no:xdist``) always forces one
process.

Cases marked ``js_waits`` (they mostly wait for the server) are dispatched first when
concurrent, those declaring the longest wait (``js_waits(3, full=330)``: seconds per profile)
first of all, so the longest waits overlap with everything else instead of forming a tail
(longest-first list scheduling).
The order is stable and the same on every worker, as xdist requires; case ids, verdicts and the
reports do not depend on it.

Work units (our ``--dist loadgroup`` scheduler, :mod:`.xdist_scheduling`): the cases of one
``xdist_group`` form one unit that one worker runs (the flag-matrix cases share their batched
transfers, which then run once); every other case is a unit of its own. pytest-xdist 3.8's own
``loadgroup`` learns a case's group from an ``@group`` suffix its worker hook writes into
``item._nodeid``; pytest 9.2 keeps the node id in ``item._id`` (a structured ``NodeId``) and
never reads ``_nodeid`` again, so the groups silently vanished (pytest-xdist issue #1386, fix
#1388 unmerged; no release works with pytest 9.2). Our plugin therefore hands the scheduler
each case's :class:`Traits` (group, declared wait) from the worker's collection through a file,
and never touches a node id.

Units go out longest declared wait first, then (``--loadscope-reorder``, xdist's default)
biggest first, then in collection order. A unit that declares a wait of at least
:data:`ALONE_WAIT_S` runs alone: its worker gets it and then its shutdown, because an xdist
worker starts a case only once it holds the next one (or its shutdown), so anything queued
behind the wait would wait with it (the full profile's 300 s request-record expiry). At least
one worker always stays for the rest.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from jetstream_qa.conformance_core.settings import Settings

__all__ = [
    "ALONE_WAIT_S",
    "AUTO_WORKERS_PER_CPU",
    "MAX_AUTO_WORKERS",
    "Traits",
    "WorkPlan",
    "group_name",
    "plan_work",
    "scope_of",
    "traits_file",
    "traits_from_json",
    "traits_to_json",
    "waits_first",
    "worker_count",
]

AUTO_WORKERS_PER_CPU = 2
"""Workers per CPU for ``auto``: the cases wait far more than they compute (13 s of CPU in a
45 s serial quick run), so more workers than cores overlap the waits. Measured on 2 busy
cores (quick profile, load average ~9 from other jobs): 4 workers 32 s wall / 20 s CPU,
6 workers 38 s / 28 s, 8 workers 38 s / 36 s: every worker costs ~2-4 s of CPU (imports,
collection, its own pair, its captures), so past 2 per CPU the CPU, not the waiting, bounds
the run."""

MAX_AUTO_WORKERS = 8
"""Ceiling for ``auto``: the quick profile's longest single case is ~5 s, and more workers
only add start-up CPU."""

ALONE_WAIT_S = 60.0
"""A declared wait this long runs alone on its worker (see the theory of operation): longer
than any other case of either profile takes (the longest, the 10 s default connect timeout)
and than the quick profile's whole run, so the worker it retires would have had little else
to do, while anything queued behind it would wait the whole wait."""

T = TypeVar("T")


def worker_count(settings: Settings, *, suite_default: bool, cpus: int | None) -> int:
    """Number of xdist workers for the run; 0 means serial in this process.

    Args:
        settings: the run's settings (``workers``, ``serial``, whether the pair is embedded).
        suite_default: the suite asked for concurrency by default (the ``conformance/``
            suites do, through the ``pytest_js_concurrent_default`` hook).
        cpus: CPUs available to this process (``None``: unknown, counted as 1).

    Explicit ``--js-serial`` wins; then an explicit ``--js-workers``; otherwise ``auto``
    when the suite asks for it and the pair is embedded, else serial.
    """
    if settings.serial or settings.list_cases:
        return 0
    wanted = settings.workers
    if wanted is None:
        wanted = "auto" if suite_default and settings.embedded else 0
    if wanted == "auto":
        return max(2, min(MAX_AUTO_WORKERS, AUTO_WORKERS_PER_CPU * (cpus or 1)))
    return int(wanted)


def waits_first(items: Sequence[T], waits: Callable[[T], float | None]) -> list[T]:
    """``items`` with the waiting ones first, longest declared wait first; otherwise (and
    for equal waits) the original order.

    Args:
        items: the collected cases.
        waits: a case's declared wait in seconds (``js_waits(300)``; 0 when marked without
            a number), or ``None`` for a case that does not wait.
    """
    waiting = [(w, n, i) for n, i in enumerate(items) if (w := waits(i)) is not None]
    waiting.sort(key=lambda entry: (-entry[0], entry[1]))
    return [i for _w, _n, i in waiting] + [i for i in items if waits(i) is None]


@dataclass(frozen=True, slots=True)
class Traits:
    """What the scheduler knows of one case: its ``xdist_group`` (the names of all its
    ``xdist_group`` marks joined, as xdist joins them) and its declared wait in seconds
    (``None``: the case does not wait)."""

    group: str | None = None
    wait: float | None = None


def group_name(names: Iterable[str]) -> str | None:
    """xdist's group of a case with these ``xdist_group`` names: sorted, deduplicated and
    joined with ``_``; ``None`` without any."""
    unique = sorted({str(n) for n in names})
    return "_".join(unique) if unique else None


def traits_to_json(traits: Mapping[str, Traits]) -> str:
    """The worker's side of the channel: node id -> traits, for the cases that have any."""
    return json.dumps({nodeid: {"group": t.group, "wait": t.wait}
                       for nodeid, t in traits.items() if t.group or t.wait is not None})


def traits_from_json(text: str) -> dict[str, Traits]:
    """Inverse of :func:`traits_to_json`.

    Raises:
        ValueError: the text is not such a document.
    """
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError("case traits: expected an object of node ids")
    out = {}
    for nodeid, t in doc.items():
        if not isinstance(t, dict):
            raise ValueError(f"case traits of {nodeid!r}: expected an object")
        wait = t.get("wait")
        out[str(nodeid)] = Traits(group=t.get("group"),
                                  wait=None if wait is None else float(wait))
    return out


def scope_of(nodeid: str, traits: Mapping[str, Traits]) -> str:
    """The work unit of a case: its group, or its own node id. Without traits for it, xdist's
    convention (an ``@group`` suffix after the parameters) still counts, so a pytest/xdist
    pair that does write the suffix, or a worker that sent no traits, keeps its groups."""
    known = traits.get(nodeid)
    if known is not None and known.group:
        return known.group
    if nodeid.rfind("@") > nodeid.rfind("]"):
        return nodeid.split("@")[-1]
    return nodeid


@dataclass(frozen=True, slots=True)
class WorkPlan:
    """Work units in dispatch order (scope, its node ids in collection order) and the scopes
    that run alone (declared wait of at least :data:`ALONE_WAIT_S`)."""

    units: tuple[tuple[str, tuple[str, ...]], ...]
    alone: frozenset[str]


def plan_work(ids: Sequence[str], traits: Mapping[str, Traits], *,
              biggest_first: bool = True) -> WorkPlan:
    """Group the collected ids into units and order them for dispatch.

    Args:
        ids: the collection, as every worker sent it.
        traits: the cases' traits (missing: no group beyond xdist's suffix, no wait).
        biggest_first: among units of equal declared wait, more cases first (xdist's
            ``--loadscope-reorder``); otherwise collection order.

    A unit's wait is the longest of its cases'; units with a wait go first, the longest
    first; ties keep collection order (the sort is stable).
    """
    units: dict[str, list[str]] = {}
    waits: dict[str, float] = {}
    for nodeid in ids:
        scope = scope_of(nodeid, traits)
        units.setdefault(scope, []).append(nodeid)
        known = traits.get(nodeid)
        if known is not None and known.wait is not None:
            waits[scope] = max(known.wait, waits.get(scope, known.wait))

    def key(scope: str) -> tuple[bool, float, int]:
        wait = waits.get(scope)
        return (wait is None, -(wait or 0.0), -len(units[scope]) if biggest_first else 0)

    order = sorted(units, key=key)
    return WorkPlan(units=tuple((s, tuple(units[s])) for s in order),
                    alone=frozenset(s for s, w in waits.items() if w >= ALONE_WAIT_S))


def traits_file(directory: Path, worker_id: str) -> Path:
    """Where worker ``worker_id`` leaves its case traits for the controller's scheduler."""
    return directory / f"{worker_id}.json"
