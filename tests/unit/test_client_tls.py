"""TLS on the control channel (protocol.md 2.4): verify against a CA file; loopback may skip.

"The bundled client verifies the certificate against a CA file it is given
(``JetStream().api(..., tls=True, cafile=...)``); connections to loopback may skip
verification (the vendor GUI trusts localhost the same way)."
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from test_client import FakeServer

from jetstream_qa import errors
from jetstream_qa.client import JetStream
from jetstream_qa.client._transport import is_loopback


def _self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for localhost/127.0.0.1 (it is its own CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> tuple[FakeServer, Path]:
    cert, key = _self_signed(tmp_path, "server")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return FakeServer(tls=context), cert


def test_verified_tls_round_trip(tls_server: tuple[FakeServer, Path]) -> None:
    server, cert = tls_server
    with server, JetStream().api("127.0.0.1", server.port, 3, tls=True,
                                 cafile=str(cert)) as api:
        assert api.server.getServerInfo() == {"command": "getServerInfo", "params": {}}
    assert server.requests[0].command == "getServerInfo"


def test_loopback_without_cafile_skips_verification(
        tls_server: tuple[FakeServer, Path]) -> None:
    server, _ = tls_server
    with server, JetStream().api("localhost", server.port, 3, tls=True) as api:
        assert api.send.getTransfers()["command"] == "send.getTransfers"


def test_certificate_from_another_ca_is_rejected(tls_server: tuple[FakeServer, Path],
                                                 tmp_path: Path) -> None:
    server, _ = tls_server
    other_ca, _ = _self_signed(tmp_path, "other")
    api = JetStream().api("127.0.0.1", server.port, 3, tls=True, cafile=str(other_ca))
    with server, pytest.raises(errors.TransportError, match="certificate") as info:
        api.connect()
    assert not isinstance(info.value, errors.ConnectTimeout)
    assert not api.connected


def test_unreadable_cafile_is_a_configuration_error(tmp_path: Path) -> None:
    api = JetStream().api("127.0.0.1", 1, 3, cafile=str(tmp_path / "missing.pem"))
    with pytest.raises(errors.ConfigurationError, match=r"missing\.pem"):
        api.connect()


@pytest.mark.parametrize(("host", "loopback"), [
    ("localhost", True), ("127.0.0.1", True), ("127.9.9.9", True), ("::1", True),
    ("[::1]", True), ("10.0.0.1", False), ("staging.example", False)])
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
