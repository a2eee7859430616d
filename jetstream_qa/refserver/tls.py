"""Self-signed TLS certificate for the control port (``docs/protocol.md`` 2.4).

Generated with ``cryptography`` into ``STATE_DIR/tls/`` on first start and reused after;
``certificateValidation`` in server info is the number of whole days until it expires.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["TlsMaterial", "load_or_create_certificate"]

VALID_DAYS = 365


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    """Paths of the PEM certificate and key, and the certificate's expiry."""

    cert_file: Path
    key_file: Path
    not_after: dt.datetime

    def days_valid(self) -> int:
        """Whole days until the certificate expires (0 when expired)."""
        left = self.not_after - dt.datetime.now(dt.UTC)
        return max(0, left.days)

    def server_context(self) -> ssl.SSLContext:
        """A TLS 1.2+ server context with this certificate."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


def _generate(cert_file: Path, key_file: Path, common_name: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    san = x509.SubjectAlternativeName([
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(san, critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, key_pem)
    finally:
        os.close(fd)
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def load_or_create_certificate(state_dir: Path, *, common_name: str) -> TlsMaterial:
    """Reuse ``STATE_DIR/tls/cert.pem`` + ``key.pem`` or create them."""
    folder = Path(state_dir) / "tls"
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    if not (cert_file.exists() and key_file.exists()):
        _generate(cert_file, key_file, common_name)
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    return TlsMaterial(cert_file, key_file, cert.not_valid_after_utc)
