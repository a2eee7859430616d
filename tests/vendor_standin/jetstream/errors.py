"""The stand-in's one exception class.

The vendor docs say only that ``auth`` "raises an exception" on failure (api.md section 2,
S13); the class and its fields are not documented. The stand-in raises
:class:`JetStreamError` for every refusal, with an ``errorCode`` in its own spelling
(``ERR_AUTH``...), and lets socket failures surface as the builtin ``OSError`` family
(``TimeoutError``, ``ConnectionError``), as a plain Python client would.
"""

from __future__ import annotations


class JetStreamError(Exception):
    """The server refused a call, or the API versions differ."""

    def __init__(self, errorMessage: str, errorCode: str = "ERR_SERVER") -> None:
        super().__init__(f"{errorCode}: {errorMessage}")
        self.errorMessage = errorMessage
        self.errorCode = errorCode
