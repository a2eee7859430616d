"""The servers a run talks to (:class:`Target`) and the environment fingerprint it reports.

A target is either given (``--js-sender`` ...: a staging pair the suite does not control) or
the embedded reference pair the plugin starts when no target is given. Credentials stay
:class:`~jetstream_qa.conformance_core.setting_values.Secret`; the fingerprint
(:class:`~jetstream_qa.conformance_core.summary.Environment`) carries no user names or
passwords.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jetstream_qa import __version__
from jetstream_qa.conformance_core.setting_values import HostPort, Secret, StorageRoot
from jetstream_qa.conformance_core.settings import Settings
from jetstream_qa.conformance_core.summary import Environment

__all__ = ["Credentials", "Target", "environment_of", "target_from_settings"]


@dataclass(frozen=True, slots=True)
class Credentials:
    """A user name and its password (never shown)."""

    user: str
    password: Secret | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """Addresses, staging roots and users of the servers under test.

    ``restart_sender`` is set only when the suite controls the servers (the embedded pair):
    it restarts the sending server in place and returns its (possibly new) API address.
    """

    sender: HostPort
    receiver: HostPort
    receiver_data: HostPort | None = None
    sender_root: StorageRoot | None = None
    receiver_root: StorageRoot | None = None
    user: Credentials | None = None
    user2: Credentials | None = None
    superuser: Credentials | None = None
    embedded: bool = False
    restart_sender: Callable[[], HostPort] | None = None

    @property
    def description(self) -> str:
        kind = "embedded reference pair" if self.embedded else "given target"
        same = self.receiver == self.sender
        receiver = "same server" if same else str(self.receiver)
        return f"{kind}: sender {self.sender}, receiver {receiver}"

    @property
    def data_address(self) -> HostPort:
        """Where the sender must send UDP data: ``--js-receiver-data`` or the receiver's
        host at its API port number (the vendor default uses 8886 for both)."""
        return self.receiver_data or self.receiver


def _creds(user: str | None, password: Secret | None) -> Credentials | None:
    return Credentials(user, password) if user else None


def target_from_settings(settings: Settings) -> Target:
    """The target named by ``--js-sender`` etc. (requires ``settings.sender``)."""
    assert settings.sender is not None
    return Target(
        sender=settings.sender,
        receiver=settings.effective_receiver or settings.sender,
        receiver_data=settings.receiver_data,
        sender_root=settings.sender_root,
        receiver_root=settings.receiver_root,
        user=_creds(settings.user, settings.password),
        user2=_creds(settings.user2, settings.password2),
        superuser=_creds(settings.superuser, settings.superuser_password),
    )


def environment_of(info: dict[str, Any], *, target: Target, client_kind: str,
                   profile: str, client_package: str = "") -> Environment:
    """Fingerprint from the sender's ``getServerInfo()`` (fields missing there stay None)."""

    def pick(name: str, kind: type) -> Any:
        value = info.get(name)
        return value if isinstance(value, kind) and not isinstance(value, bool) else None

    return Environment(
        serverVersion=pick("version", str), apiVersion=pick("apiVersion", int),
        serverId=pick("serverId", str), revision=pick("revision", int),
        minCipher=pick("minCipher", int), host=pick("hostName", str),
        clientKind=client_kind, clientPackage=client_package, profile=profile,
        target=target.description,
        toolkitVersion=__version__)
