"""The embedded reference pair as a :class:`~jetstream_qa.conformance_core.target.Target`.

Used when no target is given: two ``jetstream-qa serve`` subprocesses on loopback
(:class:`jetstream_qa.refserver.embedded.EmbeddedPair`) with generated users. This adapter is
the only place the plugin touches ``refserver`` (suites never do). :class:`OwnServer` is a
single throw-away server for cases that must restart or reconfigure the server they test
(``js_own_server``); it exists only when the suite controls the servers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from jetstream_qa.conformance_core.setting_values import HostPort, Secret, StorageRoot
from jetstream_qa.conformance_core.target import Credentials, Target

__all__ = ["OwnServer", "embedded_target"]


def _creds(user: object) -> Credentials:
    return Credentials(user.name, Secret(user.password))  # type: ignore[attr-defined]


@contextlib.contextmanager
def embedded_target(_scratch: Path) -> Iterator[Target]:
    """Start the pair, yield it as a Target, stop it (and remove its roots) afterwards.

    Raises:
        TransportError: a server did not start (the message carries its log tail).
    """
    from jetstream_qa.refserver.embedded import EmbeddedPair

    with EmbeddedPair() as pair:
        sender, receiver = pair.sender, pair.receiver
        yield Target(
            sender=HostPort(sender.host, sender.api_port),
            receiver=HostPort(receiver.host, receiver.api_port),
            receiver_data=(HostPort(receiver.recv_host, receiver.recv_port)
                           if receiver.recv_port else None),
            sender_root=StorageRoot(sender.storage_root, str(sender.storage_root)),
            receiver_root=StorageRoot(receiver.storage_root, "/"),
            user=_creds(pair.user), user2=_creds(pair.other_user),
            superuser=_creds(pair.superuser), embedded=True)


class OwnServer:
    """One reference server owned by a single case: start, restart, stop.

    Args:
        extra_args: more ``jetstream-qa serve`` options (``--handshake-timeout 1`` ...).
    """

    def __init__(self, *, extra_args: Sequence[str] = ()) -> None:
        from jetstream_qa.refserver.embedded import EmbeddedServer

        self._server = EmbeddedServer(name="own", extra_args=list(extra_args))
        self.user = _creds(self._server.user)

    @property
    def address(self) -> HostPort:
        """The current API address (it may change on restart: ports are ephemeral)."""
        return HostPort(self._server.host, self._server.api_port)

    def start(self) -> OwnServer:
        self._server.start()
        return self

    def restart(self) -> HostPort:
        """Stop and start again with the same state directory; returns the new address."""
        self._server.restart()
        return self.address

    def stop(self) -> None:
        self._server.stop()
