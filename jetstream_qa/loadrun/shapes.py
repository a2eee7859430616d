"""Load shapes as pure functions of elapsed time (the Locust ``LoadTestShape`` is a thin shell
in :mod:`jetstream_qa.locust_user`).

All shapes read Locust's common options: ``-u`` is the peak user count, ``-r`` the spawn rate
and ``-t`` the duration (default per shape below). ``tick`` returns ``(users, spawn_rate)`` or
``None`` once the shape is over, which ends the test.

- ``step``: four equal steps up to the peak (``users/4``, ``users/2``, ...), each a quarter of
  the duration: where does goodput stop growing with users?
- ``spike``: a quarter of the peak, the full peak for the middle fifth of the duration (spawned
  at once), then back: does the server recover and do errors stop?
- ``soak``: ramp to the peak at the spawn rate, hold for the whole duration: does goodput
  drift, do latencies creep, does memory leak on the server side?
"""

from __future__ import annotations

import math
from typing import Final

__all__ = ["DEFAULT_DURATION_S", "shape_tick"]

DEFAULT_DURATION_S: Final = {"step": 60.0, "spike": 60.0, "soak": 3600.0}


def shape_tick(shape: str, elapsed: float, *, users: int, spawn_rate: float,
               duration: float | None) -> tuple[int, float] | None:
    """Users and spawn rate wanted ``elapsed`` seconds into a run of ``shape``.

    Raises:
        ValueError: an unknown shape, ``users < 1`` or a non-positive spawn rate.
    """
    if shape not in DEFAULT_DURATION_S:
        raise ValueError(f"unknown shape {shape!r} (known: {', '.join(DEFAULT_DURATION_S)})")
    if users < 1 or not spawn_rate > 0:
        raise ValueError(f"shape needs users >= 1 and spawn_rate > 0, got {users}, {spawn_rate}")
    total = duration or DEFAULT_DURATION_S[shape]
    if elapsed >= total:
        return None
    if shape == "step":
        step = min(3, int(elapsed // (total / 4)))
        return max(1, math.ceil(users * (step + 1) / 4)), spawn_rate
    if shape == "spike":
        base = max(1, users // 4)
        if 0.4 * total <= elapsed < 0.6 * total:
            return users, float(max(users, spawn_rate))
        return base, float(max(users, spawn_rate))
    return users, spawn_rate
