"""The server's long-term X25519 key pair, persisted in the state directory.

``getServerInfo()['publicKey']`` is the hex of the raw 32-byte public key (``docs/protocol.md``
4.1); the data-plane engine uses the private key for its key exchange (``wire/crypto.py``).
The private key file is created with mode 0600 and reused on every start, so the key (like
``serverUid``) survives restarts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from jetstream_qa.errors import ConfigurationError

__all__ = ["PRIVATE_KEY_FILE", "ServerKeys", "load_or_create_keys"]

PRIVATE_KEY_FILE = "x25519.key"


@dataclass(frozen=True, slots=True)
class ServerKeys:
    """The server's key pair: ``private_key`` (for the engine) and ``public_hex``."""

    private_key: X25519PrivateKey

    @property
    def public_key(self) -> X25519PublicKey:
        return self.private_key.public_key()

    @property
    def public_bytes(self) -> bytes:
        """The raw 32-byte public key."""
        return self.public_key.public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)

    @property
    def public_hex(self) -> str:
        """Lowercase hex of the raw public key (64 characters)."""
        return self.public_bytes.hex()


def _raw(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())


def load_or_create_keys(state_dir: Path) -> ServerKeys:
    """Load ``STATE_DIR/x25519.key`` (32 raw bytes) or create it with mode 0600.

    Raises:
        ConfigurationError: the file exists but is not a 32-byte key.
    """
    path = Path(state_dir) / PRIVATE_KEY_FILE
    if path.exists():
        data = path.read_bytes()
        if len(data) != 32:
            raise ConfigurationError(f"invalid server key file {str(path)!r}: "
                                     f"{len(data)} bytes, expected 32")
        return ServerKeys(X25519PrivateKey.from_private_bytes(data))
    key = X25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, _raw(key))
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return ServerKeys(key)
