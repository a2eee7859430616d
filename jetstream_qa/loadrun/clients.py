"""Which client drives the load: the vendor's ``jetstream`` package or the bundled one.

Both expose the same surface (``JetStream().api(host, port)``, ``api.connect()``,
``api.server.auth(user, password)``, ``api.send.*``); ``auto`` prefers the vendor package when
it is importable (QA machines have it), like the conformance suites do.
"""

from __future__ import annotations

import importlib
from typing import Any

from jetstream_qa.errors import ConfigurationError

__all__ = ["connect_api", "resolve_client_kind", "vendor_available"]


def vendor_available() -> bool:
    """True when the vendor's ``jetstream`` package can be imported and proves to be the
    vendor's (``constants.API_VERSION``, ``JetStream().api``: not any module of that name)."""
    from jetstream_qa.conformance_core.targets import vendor_surface
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


def connect_api(kind: str, host: str, port: int, *, timeout: float, user: str | None,
                password: str | None) -> Any:
    """A connected, authenticated API object of client ``kind`` (``vendor``/``bundled``).

    Authentication is skipped when the server says ``authRequired`` is false, or when
    ``user`` is None (``getServerInfo`` needs no login).

    Raises:
        The client's own errors (bundled: :mod:`jetstream_qa.errors`) on connect/auth failure.
    """
    if kind == "vendor":
        module: Any = importlib.import_module("jetstream")
        api = module.JetStream().api(host, port)
        api.connect()
    else:
        from jetstream_qa.client import JetStream

        api = JetStream().api(host, port, timeout=timeout).connect()
    try:
        if user is not None and api.server.getServerInfo().get("authRequired", True):
            api.server.auth(user, password or "")
    except BaseException:
        api.disconnect()
        raise
    return api
