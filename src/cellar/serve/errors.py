"""Why ``cellar serve`` cannot start: ``ServeError`` and its subclasses, each naming what to fix.

ServeError (a CellarError; the CLI exits with code 2)
├── WebRootError               the tree to serve is missing or not a mirror
├── AddressUnavailableError    the address is in use or cannot be bound
├── HtpasswdError              [serve] htpasswd unreadable, malformed or not bcrypt (file, line)
├── TlsError                   [serve] tls-certificate / tls-key unreadable, malformed or
│                              not a pair (file)
├── AccessLogError             [serve] access-log cannot be appended to (access_log.py)
└── WorkersFailedError         worker processes cannot start, or keep dying (supervisor.py)
"""

from __future__ import annotations

from pathlib import Path

from cellar.errors import CellarError


class ServeError(CellarError):
    """``cellar serve`` could not start; the message says why and what to do."""


class WebRootError(ServeError):
    """``web_root`` is not a mirror's web root (it has no ``simple/`` directory)."""

    def __init__(self, web_root: Path | str) -> None:
        super().__init__(
            f"{web_root} is not a mirror's web root: it has no simple/ directory; "
            "pass the directory `cellar mirror` writes to, or run `cellar mirror` first"
        )
        self.web_root = web_root


class AddressUnavailableError(ServeError):
    """The server cannot listen on ``host``:``port``; ``reason`` is the system's explanation."""

    def __init__(self, host: str, port: int, reason: str, *, in_use: bool) -> None:
        if in_use:
            message = (
                f"port {port} on {host} is already in use; stop the program using it "
                "or choose another port"
            )
        else:
            message = f"cannot listen on port {port} on {host}: {reason}; choose another address"
        super().__init__(message)
        self.host = host
        self.port = port
        self.reason = reason
        self.in_use = in_use


class HtpasswdError(ServeError):
    """The ``[serve] htpasswd`` file cannot be used: ``problem`` at ``line`` (None: the file)."""

    def __init__(self, path: Path, problem: str, line: int | None = None) -> None:
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"[serve] htpasswd {where}: {problem}")
        self.path = path
        self.problem = problem
        self.line = line


class TlsError(ServeError):
    """A TLS file cannot be used; ``key`` is the config key naming ``path``."""

    def __init__(self, key: str, path: Path, problem: str) -> None:
        super().__init__(f"[serve] {key} {path}: {problem}")
        self.key = key
        self.path = path
        self.problem = problem
