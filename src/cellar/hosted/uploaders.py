"""The uploaders file: an htpasswd file of bcrypt entries, written by ``cellar host token``."""

from __future__ import annotations

import os
from pathlib import Path

import bcrypt


def set_password(path: Path, user: str, password: str) -> None:
    """Put ``user`` with ``password`` (bcrypt) in the htpasswd file ``path``, replacing the
    user's line if it has one; the file is created readable by its owner only. Raises
    ``OSError``."""
    hashed = bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt()).decode("ascii")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    kept = [line for line in lines if line.partition(":")[0].strip() != user]
    kept.append(f"{user}:{hashed}")
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(("\n".join(kept) + "\n").encode("utf-8"))
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
