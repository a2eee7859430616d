"""LatenessProbe: measures how late a thread of this process woke during a block."""

from __future__ import annotations

import sys
import time

from jetstream_qa.conformance_core.lateness import LatenessProbe


def test_a_thread_kept_from_running_is_measured_late():
    """Holding the GIL for 0.3 s (switch interval raised so it is not handed over) keeps the
    probe's thread from waking: the probe reports at least most of that delay."""
    previous = sys.getswitchinterval()
    with LatenessProbe() as late:
        time.sleep(0.05)  # the probe is running
        sys.setswitchinterval(1.0)
        try:
            end = time.monotonic() + 0.3
            while time.monotonic() < end:
                pass
        finally:
            sys.setswitchinterval(previous)
        time.sleep(0.05)
    assert late.worst_s >= 0.2, late.worst_s


def test_the_probe_stops_with_its_block():
    with LatenessProbe() as late:
        time.sleep(0.02)
    assert not late._thread.is_alive()
