"""Upload tokens (pure): a user's name and a secret in one string, for ``__token__`` logins.

twine and uv publish send a token as the password of the user ``__token__``. A Cellar token
carries the name of the uploader it belongs to, so the server checks it against that one
user's entry in the uploaders file (bcrypt, as for a password) without trying every entry:
``cellar.<user, base64url>.<48 hex digits>``.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from typing import Final

TOKEN_USER: Final = "__token__"  # noqa: S105 - the user name twine and uv send, no secret
_PREFIX: Final = "cellar."
_SECRET = re.compile(r"[0-9a-f]{48}")


def make_token(user: str) -> str:
    """Return a new token for ``user`` (24 random bytes)."""
    name = base64.urlsafe_b64encode(user.encode("utf-8")).decode("ascii").rstrip("=")
    return f"{_PREFIX}{name}.{secrets.token_hex(24)}"


def token_user(token: str) -> str | None:
    """Return the user a token names, or None if ``token`` is not a Cellar token."""
    if not token.startswith(_PREFIX):
        return None
    name, dot, secret = token[len(_PREFIX) :].rpartition(".")
    if not dot or not _SECRET.fullmatch(secret):
        return None
    try:
        padded = name + "=" * (-len(name) % 4)
        user = base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return user if user and ":" not in user and user != TOKEN_USER else None
