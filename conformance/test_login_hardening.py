"""Login hardening: does the target slow down repeated failed logins?

Vendor pages: the server authenticates through the operating system (PAM on Linux/macOS,
``jetstream-docs/server.md`` section 5, "OS-integrated auth"); PAM stacks commonly delay a
failed login (``pam_faildelay``), but the JetStream docs state no policy of their own. So the
behaviour is recorded (INFO), never failed.
"""

from __future__ import annotations

import secrets
import time

import pytest

from jetstream_qa import expect
from jetstream_qa.errors import AuthenticationFailed

S5 = "jetstream-docs/server.md section 5 (OS-integrated auth: PAM, /etc/pam.d/jetstream)"
ATTEMPTS = 6
"""Six failures: enough for a doubling delay to show, cheap against a server with none
(the reference server's waits add up to 0.375 s for them)."""
SLOWED_FACTOR = 4.0
"""The last failure must take this many times the first (and at least SLOWED_MIN_S) to count
as slowed; a server without a delay answers every attempt in about the same time."""
SLOWED_MIN_S = 0.05


@pytest.mark.js_case("auth/hardening/failed-logins-slowed", level="MAY/INFO", source=S5)
def test_failed_logins_slowed(js_connect, js_info):
    """Repeated failed logins for one user from one client take longer and longer.

    A random, unknown user name is used, so no real account is locked or slowed.
    """
    api = js_connect("sender", login=None)
    user = f"jsqa-probe-{secrets.token_hex(4)}"
    took: list[float] = []
    for _ in range(ATTEMPTS):
        start = time.monotonic()
        expect.raises(AuthenticationFailed,
                      lambda: api.server.auth(user, f"wrong-{secrets.token_hex(8)}"),
                      requirement="a wrong password is refused", api=api)
        took.append(time.monotonic() - start)
    slowed = took[-1] >= max(SLOWED_FACTOR * took[0], SLOWED_MIN_S)
    shown = ", ".join(f"{t * 1000:.0f}" for t in took)
    js_info(f"failed logins {'slowed' if slowed else 'not slowed'}: {shown} ms")
    expect.that("repeated failed logins are slowed", slowed,
                expected=f"last attempt >= {SLOWED_FACTOR:g}x the first",
                actual=f"{shown} ms")
