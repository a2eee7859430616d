"""The reference JetStream server: control plane (this package) and data plane (``engine``).

Public entry points: :class:`ServerConfig` (``config``), :class:`ServerApp` (``app``), and
:class:`EmbeddedServer` / :class:`EmbeddedPair` (``embedded``) that run servers as
subprocesses. Importing this package imports nothing heavy and starts nothing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EmbeddedPair", "EmbeddedServer", "ServerApp", "ServerConfig"]

_WHERE = {"EmbeddedPair": "embedded", "EmbeddedServer": "embedded", "ServerApp": "app",
          "ServerConfig": "config"}


def __getattr__(name: str) -> Any:
    """Import public names on first use (keeps ``import jetstream_qa.refserver`` cheap)."""
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(name)
