"""Which client drives the load: the vendor's ``jetstream`` package or the bundled one.

Both open a session the documented way (``JetStream().api(host, port)``, ``api.connect()``);
every call after that goes through the binding (:mod:`jetstream_qa.binding`), which knows each
client's names. ``auto`` prefers the vendor package when it is importable (QA machines have
it), like the conformance suites do.
"""

from __future__ import annotations

import importlib
from typing import Any

from jetstream_qa.binding import Binding, Operations
from jetstream_qa.errors import ConfigurationError

__all__ = ["connect_api", "resolve_client_kind", "vendor_available"]


def vendor_available() -> bool:
    """True when the vendor's ``jetstream`` package can be imported and proves to be the
    vendor's (``constants.API_VERSION``, ``JetStream().api``: not any module of that name)."""
    from jetstream_qa.conformance_core.client_choice import vendor_surface
    try:
        vendor_surface(importlib.import_module("jetstream"))
    except (ImportError, ConfigurationError):
        return False
    return True


def resolve_client_kind(kind: str) -> str:
    """``auto`` -> ``vendor`` or ``bundled``; ``vendor`` must be importable.

    Raises:
        ConfigurationError: ``--js-client vendor`` without the vendor package.
    """
    if kind == "auto":
        return "vendor" if vendor_available() else "bundled"
    if kind == "vendor" and not vendor_available():
        raise ConfigurationError("invalid --js-client 'vendor': the vendor 'jetstream' "
                                 "package is not importable here")
    return kind


def connect_api(binding: Binding, host: str, port: int, *, timeout: float, user: str | None,
                password: str | None) -> Any:
    """A connected, authenticated API object of the binding's client (``vendor``/``bundled``).

    Authentication (the binding's ``auth``) is skipped when the server's ``getServerInfo``
    says ``authRequired`` is false, or when ``user`` is None (``getServerInfo`` needs no
    login). Both calls go through :class:`~jetstream_qa.binding.Operations`, so the client's
    socket errors after the connect arrive as :class:`~jetstream_qa.errors.TransportError`.

    Raises:
        OSError or TransportError: the connection failed; the client's refusal classes on
            a refused login (bundled: :mod:`jetstream_qa.errors`).
    """
    if binding.kind == "vendor":
        module: Any = importlib.import_module("jetstream")
        api = module.JetStream().api(host, port)
        api.connect()
    else:
        from jetstream_qa.client import JetStream

        api = JetStream().api(host, port, timeout=timeout).connect()
    try:
        ops = Operations(binding, api)
        if user is not None and ops.call("get_server_info").get("authRequired", True):
            ops.call("auth", user, password or "")
    except BaseException:
        api.disconnect()
        raise
    return api
