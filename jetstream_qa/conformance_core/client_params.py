"""Whether the client at hand takes a parameter, asked of its signature before any call.

STYLE.md 17: a missing capability is an explained NOT_APPLICABLE (or a documented fallback),
never a ``TypeError`` caught around a call, which would also swallow a server's bad answer.
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["missing_parameters"]


def missing_parameters(method: Any, *args: Any, **kwargs: Any) -> list[str]:
    """Keyword parameters ``method``'s signature does not accept.

    Returns:
        The names ``kwargs`` holds that ``method`` does not take, sorted (or
        ``["(positional arguments)"]`` when only the positional ones do not bind); empty when
        everything binds, or when the signature cannot be read (then the call decides).
    """
    try:
        signature = inspect.signature(method)
    except (TypeError, ValueError):
        return []
    try:
        signature.bind(*args, **kwargs)
    except TypeError:
        params = signature.parameters
        if any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return ["(positional arguments)"]
        return sorted(k for k in kwargs if k not in params) or ["(positional arguments)"]
    return []
