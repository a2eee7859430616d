"""What the run learnt about reaching the server under test before any case judged it.

The probe (:func:`~jetstream_qa.conformance_core.harness.probe`) opens one session with
the sender at the start of a run and records a :class:`Contact`. The verdict policy
(:func:`~jetstream_qa.conformance_core.failures.classify`) reads it: once the server has
answered (``Contact.answered``), losing it, a timeout or a broken answer is the server's fault
(FAIL); before that, nothing listening is the environment's (INCONCLUSIVE), and a server
that accepted TCP but broke the handshake is judged by the handshake cases and explained
elsewhere.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Contact", "Reach"]


class Reach(enum.Enum):
    """How far the probe got with the sender."""

    UNKNOWN = "not probed"
    UNREACHABLE = "unreachable"
    """No TCP connection at all (refused, no route, DNS, TCP connect timed out)."""
    HANDSHAKE_FAILED = "handshake failed"
    """TCP accepted, but no valid hello: silence, garbage, a wrong frame, ``Busy``."""
    VERSION_MISMATCH = "apiVersion mismatch"
    """The server answered the hello with another apiVersion; the client refused it."""
    CREDENTIALS_REFUSED = "credentials refused"
    """The server answered, and refused the configured user (a configuration problem)."""
    SESSION = "session established"


@dataclass(frozen=True, slots=True)
class Contact:
    """The probe's finding: how far it got, and what it saw when it stopped (``detail``)."""

    reach: Reach = Reach.UNKNOWN
    detail: str = ""
    target: str = ""

    @property
    def answered(self) -> bool:
        """True once the server has answered a hello: from then on a lost or stalled
        connection is the server's failure, not the environment's."""
        return self.reach in (Reach.SESSION, Reach.VERSION_MISMATCH, Reach.CREDENTIALS_REFUSED)

    def explain(self) -> str:
        """One sentence for cases that could not be judged because of this contact."""
        where = f" with {self.target}" if self.target else ""
        text = {
            Reach.UNKNOWN: "the target was not probed",
            Reach.UNREACHABLE: f"no connection{where}",
            Reach.HANDSHAKE_FAILED: f"the session setup{where} failed (judged by "
                                    "handshake/hello/answered-within-connect-timeout)",
            Reach.VERSION_MISMATCH: "the client refuses the server's apiVersion (judged by "
                                    "handshake/api-version/equals-expected)",
            Reach.CREDENTIALS_REFUSED: "the server refused the configured account: check "
                                       "--js-user and JETSTREAM_API_PASSWORD",
            Reach.SESSION: f"a session{where} was established",
        }[self.reach]
        return f"{text}: {self.detail}" if self.detail else text
