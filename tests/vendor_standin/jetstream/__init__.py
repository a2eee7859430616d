"""A strict stand-in for Jet Digital's ``jetstream`` Python package (release 2.9.2).

Built only from the vendor's documentation (``shared/jetstream-docs/api.md``, constants page),
never from jetstream-qa: it imports nothing of ``jetstream_qa``. It speaks jetstream-qa's
reference control protocol through its own small transport (``_link.py``) so it can drive
the reference server. What the docs leave unnamed it spells its own way (see
:mod:`jetstream.api`), so a suite reaches it only through a binding file
(``fixtures/bindings/standin.toml``). Put ``tests/vendor_standin`` on ``sys.path`` to use it.

    from jetstream import JetStream
    api = JetStream().api(serverAddress, serverPort)
    api.connect()
"""

from __future__ import annotations

from jetstream import constants, errors, helper
from jetstream.api import Api

__all__ = ["JetStream", "constants", "errors", "helper"]


class JetStream:
    """``JetStream().api(serverAddress, serverPort)`` (S13)."""

    def api(self, serverAddress: str = constants.DEFAULT_SERVER_ADDRESS,
            serverPort: int = constants.DEFAULT_API_PORT) -> Api:
        return Api(serverAddress, serverPort)
