"""Human units for printed byte counts and rates (exact bytes stay in the JSON documents).

Decimal SI prefixes (kB, MB, GB: powers of 1000), as network rates are quoted and as
``ip -s``/iperf3 print bits; the exact value is always in the JSON next to it.
"""

from __future__ import annotations

import math
from typing import Final

__all__ = ["human_bytes", "human_rate"]

_PREFIXES: Final = ("", "k", "M", "G", "T", "P")


def human_bytes(value: float | None) -> str:
    """``1116709639`` -> ``"1.12 GB"``; ``None`` or not finite -> ``"-"``."""
    if value is None or not math.isfinite(value):
        return "-"
    magnitude, index = abs(float(value)), 0
    while magnitude >= 999.95 and index < len(_PREFIXES) - 1:
        magnitude /= 1000.0
        index += 1
    if index == 0:
        return f"{value:.0f} B"
    sign = "-" if value < 0 else ""
    digits = 2 if magnitude < 10 else 1
    return f"{sign}{magnitude:.{digits}f} {_PREFIXES[index]}B"


def human_rate(value: float | None, *, per_second: bool = True) -> str:
    """``55437622.3`` -> ``"55.4 MB/s"`` (``per_second=False``: ``"55.4 MB"``)."""
    text = human_bytes(value)
    return f"{text}/s" if per_second and text != "-" else text
