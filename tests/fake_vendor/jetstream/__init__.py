"""A stand-in for the vendor's ``jetstream`` package, for proving the plugin's vendor path.

It exposes the vendor's documented object model (``shared/jetstream-docs/api.md`` section 2,
S13): ``from jetstream import JetStream``; ``api = JetStream().api(host, port)``;
``api.connect()``; ``with api:``; ``api.server`` / ``api.send`` / ``api.recv``. Underneath it
is the bundled client, minus what the vendor's signature is not documented to take (no
``timeout``/``api_version`` keywords) and minus our call log, so the plugin must treat it as
a foreign client: wrap it to record calls, and skip cases that need a configurable version.
Only ever put on ``sys.path`` by tests (``tests/plugin/test_vendor_client.py``).
"""

from __future__ import annotations

from typing import Any

from jetstream_qa.client import JetStream as _Bundled

__all__ = ["JetStream", "constants"]

FAKE_VENDOR_MARK = "jetstream-qa fake vendor package"


class _VendorApi:
    """The vendor's api object: connect/disconnect, context manager, three namespaces."""

    def __init__(self, host: str, port: int) -> None:
        self._inner = _Bundled().api(host, port)
        self.server = self._inner.server
        self.send = self._inner.send
        self.recv = self._inner.recv

    def connect(self) -> _VendorApi:
        self._inner.connect()
        return self

    def disconnect(self) -> None:
        self._inner.disconnect()

    def __enter__(self) -> _VendorApi:
        return self.connect()

    def __exit__(self, *exc: Any) -> None:
        self.disconnect()


class JetStream:
    """``JetStream().api(serverAddress, serverPort)`` as in the vendor examples."""

    def api(self, host: str = "localhost", port: int = 8886) -> _VendorApi:
        return _VendorApi(host, port)


from jetstream import constants  # noqa: E402  (the vendor exposes jetstream.constants)
