"""The client cooperates with gevent (Locust): its waits yield to other greenlets.

The client uses only the plain ``socket``/``ssl``/``time`` modules, so after
``gevent.monkey.patch_all()`` a connect that waits on a silent server must let other
greenlets run. Runs in a subprocess: monkey-patching must never touch the test session.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent("""
    from gevent import monkey
    monkey.patch_all()
    import json, socket
    import gevent
    from jetstream_qa import errors
    from jetstream_qa.client import JetStream

    events = []
    listener = socket.create_server(("127.0.0.1", 0))   # accepts in the kernel, never answers
    port = listener.getsockname()[1]

    def ticker():
        while True:
            events.append("tick")
            gevent.sleep(0.05)

    ticking = gevent.spawn(ticker)
    gevent.sleep(0)
    events.clear()
    try:
        JetStream().api("127.0.0.1", port, 0.5).connect()
    except errors.ConnectTimeout:
        events.append("timeout")
    ticking.kill()
    print(json.dumps({"ticksBeforeTimeout": events.index("timeout"),
                      "patched": socket.socket.__module__}))
""")


def test_connect_wait_yields_to_other_greenlets() -> None:
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["patched"].startswith("gevent")
    assert report["ticksBeforeTimeout"] >= 2, "the client blocked the whole event loop"
