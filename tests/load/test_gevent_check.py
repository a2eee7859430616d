"""The start-up check that a client lets gevent run other users (vendor clients may not)."""

from __future__ import annotations

import subprocess
import sys

from load_helpers import locust_env

_SCRIPT = """
import time, gevent
from jetstream_qa.binding import bundled_binding
from jetstream_qa.locust_user import check_gevent

class Api:
    def __init__(self, cooperative):
        self.server = self
        self.cooperative = cooperative
    def getServerInfo(self):
        if self.cooperative:
            gevent.sleep(0.001)          # a patched socket wait yields to the hub
        else:
            end = time.perf_counter() + 0.001
            while time.perf_counter() < end:  # a C-level blocking call does not
                pass
        return {}
    def disconnect(self):
        pass

class Session:
    client_kind = "vendor"
    binding = bundled_binding()  # documented names: api.server.getServerInfo
    def __init__(self, cooperative):
        self.cooperative = cooperative
    def connect(self):
        return Api(self.cooperative)

print(check_gevent(Session(True), budget_s=0.1))
print(check_gevent(Session(False), budget_s=0.1))
"""


def test_gevent_check_tells_cooperative_from_blocking_clients() -> None:
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                          timeout=60, env=locust_env())
    assert proc.returncode == 0, proc.stderr
    cooperative, blocking = proc.stdout.strip().splitlines()
    assert cooperative.startswith("cooperative (vendor client")
    assert blocking.startswith("BLOCKING: the vendor client does not yield to gevent")
    assert "NOT valid" in blocking and "BLOCKING" in proc.stderr  # also logged as an error
