"""Live goodput for Locust's web UI: per scenario and in total, from the run's recorder (the
same merged statistics reports/load.json is written from; pure, no Locust).

A transfer's bytes are known only when it ends (and spread back over its duration), and a
worker reports every 3 s (Locust's ``WORKER_REPORT_INTERVAL``), so the newest seconds are
incomplete: the live figure is the mean of the ``span_s`` seconds that ended ``lag_s`` ago.
"""

from __future__ import annotations

import math
from typing import Any, Final

from jetstream_qa.loadstats.recorder import LoadRecorder
from jetstream_qa.loadstats.units import human_bytes, human_rate

__all__ = ["live_goodput", "sparkline"]

_BARS: Final = "▁▂▃▄▅▆▇█"
LAG_S: Final = 4.0
"""Seconds the live figure trails: a worker report interval (3 s) plus one window."""


def sparkline(values: list[float]) -> str:
    """One block character per value, scaled to the largest (``""`` for no values)."""
    top = max(values, default=0.0)
    if top <= 0:
        return _BARS[0] * len(values)
    return "".join(_BARS[min(len(_BARS) - 1, int(v / top * (len(_BARS) - 1) + 0.5))]
                   for v in values)


def live_goodput(recorder: LoadRecorder, *, now: float, started: float | None,
                 span_s: float = 5.0, lag_s: float = LAG_S, history_s: float = 60.0
                 ) -> dict[str, Any]:
    """Snapshot for the web UI: ``{"at", "spanS", "lagS", "rows": [...], "series": [...]}``.

    ``rows`` has one entry per scenario and a ``Total`` entry last: ``scenario``,
    ``bytesPerSecond`` (exact), ``now`` (human), ``delivered`` (human), ``trend`` (a
    sparkline of the last ``history_s`` seconds). ``series`` is ``[{"t", "total",
    "byScenario"}]`` over the same history, ``t`` in seconds since ``started``.
    """
    series = recorder.goodput
    w = series.window_s
    end = math.floor((now - lag_s) / w) * w
    begin = max(end - history_s, math.floor((started or end) / w) * w)
    scenarios = sorted({name for row in series.to_dict()["bins"] for name in row[1]})
    rows = []
    for name in [*scenarios, None]:
        history = series.samples(start=begin, end=end, scenario=name) if end > begin else []
        recent = history[-max(1, round(span_s / w)):]
        rate = sum(recent) / len(recent) if recent else 0.0
        total = (recorder.delivered_bytes if name is None
                 else sum(row[1].get(name, 0.0) for row in series.to_dict()["bins"]))
        rows.append({"scenario": name or "Total", "bytesPerSecond": rate,
                     "now": human_rate(rate), "delivered": human_bytes(total),
                     "trend": sparkline(history)})
    points = []
    total_hist = series.samples(start=begin, end=end) if end > begin else []
    per = {name: series.samples(start=begin, end=end, scenario=name) if end > begin else []
           for name in scenarios}
    for i, value in enumerate(total_hist):
        points.append({"t": begin + i * w - (started or begin), "total": value,
                       "byScenario": {name: per[name][i] for name in scenarios}})
    return {"at": now, "spanS": span_s, "lagS": lag_s, "rows": rows, "series": points}
