"""Who the reference server says it is, in its hello and in ``getServerInfo``.

Vendor text (``shared/jetstream-docs/api.md``, Server Information): the server reports
``apiVersion``, ``revision`` ("Integer server revision") and ``version``. The reference speaks
the API of the 2.9.2 package (:data:`jetstream_qa.constants.API_VERSION`, S11); the revision
number and the version string are the reference's own choices (the docs say only "an
integer"). The ``wrong-api-version`` fault makes the server announce the 2.9.0 API instead.
"""

from __future__ import annotations

from typing import Final

from jetstream_qa.constants import API_VERSION
from jetstream_qa.refserver.config import ServerConfig

__all__ = ["API_VERSION", "REVISION", "VERSION", "WRONG_API_VERSION", "announced_api_version"]

REVISION: Final = 20902
VERSION: Final = "2.9.2-ref"
WRONG_API_VERSION: Final = 39
"""What the ``wrong-api-version`` fault announces (the 2.9.0 package's API version)."""


def announced_api_version(config: ServerConfig) -> int:
    """The ``apiVersion`` this server announces: :data:`API_VERSION` unless the
    ``wrong-api-version`` fault is on."""
    return WRONG_API_VERSION if config.has_fault("wrong-api-version") else API_VERSION
