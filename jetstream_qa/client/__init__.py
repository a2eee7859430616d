"""The bundled JetStream client: the vendor's Python API surface over our reference protocol.

Usage mirrors the vendor package (``shared/jetstream-docs/api.md`` section 2)::

    from jetstream_qa.client import JetStream

    with JetStream().api("localhost", 8886, timeout=10) as api:
        api.server.auth("alice", password)
        manifest = api.send.createManifest(mappings={"/dest/a.txt": "/src/a.txt"})

It speaks ``docs/protocol.md`` through the sans-IO core :mod:`jetstream_qa.wire.control` over
plain blocking sockets (gevent-friendly: no threads, no asyncio). Importing it imports neither
the reference server nor Locust.
"""

from jetstream_qa.client._api import DEFAULT_AGENT, Api, JetStream
from jetstream_qa.client._calllog import REDACTED, CallLog, CallRecord, redact, summarise_result
from jetstream_qa.client._namespaces import (
    UNSET,
    RecvInterface,
    SendInterface,
    ServerInterface,
    Unset,
)
from jetstream_qa.client._spec import COMMANDS, MAX_SERVER_WAIT_SECONDS, CommandSpec
from jetstream_qa.client.helper import Helper, TransferObject

__all__ = [
    "COMMANDS",
    "DEFAULT_AGENT",
    "MAX_SERVER_WAIT_SECONDS",
    "REDACTED",
    "UNSET",
    "Api",
    "CallLog",
    "CallRecord",
    "CommandSpec",
    "Helper",
    "JetStream",
    "RecvInterface",
    "SendInterface",
    "ServerInterface",
    "TransferObject",
    "Unset",
    "redact",
    "summarise_result",
]
