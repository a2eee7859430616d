"""One API session (one control connection): who is logged in and with which rights.

A session starts anonymous. ``auth``/``authAsync`` log in a configured user; ``authToken``
logs in as a token's owner, narrowed to the token's permissions and path; ``superuser()``
elevates a superuser's (non-token) session. Token sessions are re-checked on every call, so
deleting a token (revocation) or its expiry ends the access at once.

Permission bits of tokens (ours, ``constants.Permission``) map onto commands as follows:
files leaving this server (``send.createManifest``, ``send.createTransfer``) need DOWNLOAD;
deleting or cancelling (``send.delete*``, ``send.cancelTransfer``, ``deleteAPIToken``) need
DELETE_RENAME; creating tokens needs CREATE_LINKS. UPLOAD concerns receiving and no control
command needs it.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

from jetstream_qa.constants import Permission
from jetstream_qa.errors import AuthenticationFailed, PermissionDenied
from jetstream_qa.refserver.state import Principal, ServerState, TokenRecord, now_us

__all__ = ["Session", "path_within"]


def path_within(path: str, root: str) -> bool:
    """True when normalised absolute ``path`` lies at or below ``root``."""
    path, root = os.path.normpath(path), os.path.normpath(root)
    return path == root or path.startswith(root.rstrip("/") + "/")


@dataclass(slots=True)
class Session:
    """Authentication state of one control connection."""

    peer: str = ""
    user: str | None = None
    token: str | None = None
    elevated: bool = False
    session_id: str = field(default_factory=lambda: secrets.token_hex(8))
    leaked_password: str | None = field(default=None, repr=False)
    """Only set under the ``leak-password`` fault."""
    ignore_token_expiry: bool = False
    """Only set under the ``token-never-expires`` fault."""

    @property
    def authenticated(self) -> bool:
        return self.user is not None

    def login(self, user: str) -> None:
        """Log in ``user`` (password already checked); drops token and elevation."""
        self.user, self.token, self.elevated = user, None, False

    def login_token(self, record: TokenRecord) -> None:
        self.user, self.token, self.elevated = record.owner, record.token, False

    def principal(self, state: ServerState, *, leak: bool = False) -> Principal:
        """The caller as a :class:`Principal`; ``leak`` (a fault) makes it see everything.

        Raises:
            AuthenticationFailed: not logged in, or the session's token is gone or expired.
        """
        if self.user is None:
            raise AuthenticationFailed("authenticate first (auth, authAsync or authToken)")
        token = self.token_record(state)
        return Principal(user=self.user, token=self.token,
                         session=self.session_id if token else None,
                         elevated=self.elevated or leak)

    def token_record(self, state: ServerState, *, ignore_expiry: bool = False
                     ) -> TokenRecord | None:
        """The token this session acts through (None for a password session)."""
        if self.token is None:
            return None
        record = state.tokens.get(self.token)
        ignore_expiry = ignore_expiry or self.ignore_token_expiry
        if record is None or (not ignore_expiry and record.expired(now_us())):
            self.user, self.token = None, None
            raise AuthenticationFailed("the session's API token was revoked or has expired")
        return record

    def require(self, state: ServerState, right: Permission) -> None:
        """Raises PermissionDenied when a token session lacks ``right``."""
        record = self.token_record(state)
        if record is not None and not record.permissions & right:
            raise PermissionDenied(f"the session's token lacks the {right.name} permission",
                                   details={"permission": int(right)})

    def require_path(self, state: ServerState, paths: list[str]) -> None:
        """Raises PermissionDenied when a token session's path does not contain ``paths``."""
        record = self.token_record(state)
        if record is None or record.path is None:
            return
        for path in paths:
            if not path_within(path, record.path):
                raise PermissionDenied(f"path {path!r} is outside the token's path",
                                       details={"path": path})
