"""How late this process's threads wake while a timed call runs.

A case that times a call against a configured value (a connect or request timeout firing
"at" 2 s) measures the client and the machine together: on a loaded machine the process
that must notice the deadline may not run for a while after it passed. :class:`LatenessProbe`
measures that delay instead of guessing it: a thread sleeps in short steps for as long as
the call runs and records how much later than asked it woke. The worst of those delays is
what the machine demonstrably added to any deadline during the call, so a timing check may
allow exactly that much more lateness (and says so in its evidence), never a fixed margin
wide enough for any load.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Final

__all__ = ["LatenessProbe"]

_STEP_S: Final = 0.005
"""The probe's sleep step: 200 wake-ups a second, negligible CPU, and delays of a few ms are
seen."""
_JOIN_S: Final = 1.0


class LatenessProbe:
    """Context manager; :attr:`worst_s` is the largest wake-up delay seen inside the block."""

    def __init__(self, step_s: float = _STEP_S) -> None:
        self.step_s = step_s
        self.worst_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lateness-probe", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            asked = time.monotonic()
            time.sleep(self.step_s)
            late = time.monotonic() - asked - self.step_s
            if late > self.worst_s:
                self.worst_s = late

    def __enter__(self) -> LatenessProbe:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(_JOIN_S)
