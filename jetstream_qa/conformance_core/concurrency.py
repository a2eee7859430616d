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
concurrent, those declaring the longest wait (``js_waits(300)``) first of all, so the longest
waits overlap with everything else instead of forming a tail (longest-first list scheduling).
The order is stable and the same on every worker, as xdist requires; case ids, verdicts and the
reports do not depend on it.

Known debt: runs use ``--dist loadgroup`` so that the flag-matrix cases (one
``xdist_group``) share one worker and its batched transfers run once. With pytest 9.2 and
pytest-xdist 3.8 the group has no effect (xdist renames ``item._nodeid``; pytest 9 keeps the
id in ``item._id``), so every worker that gets matrix cases runs the batch itself: verdicts
are unaffected, ~5 s of CPU per extra worker in the quick profile is not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from jetstream_qa.conformance_core.settings import Settings

__all__ = ["AUTO_WORKERS_PER_CPU", "MAX_AUTO_WORKERS", "waits_first", "worker_count"]

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
