"""Command handlers, one module per namespace (the ``server`` namespace spans three files).

Importing this package registers every command of ``docs/protocol.md`` section 3 in
:data:`jetstream_qa.refserver.registry.COMMANDS`.
"""

from jetstream_qa.refserver.handlers import (
    admin,
    recv,
    send,
    server,
    shared,
    tokens,
    transfers,
)

__all__ = ["admin", "recv", "send", "server", "shared", "tokens", "transfers"]
