"""HTTP basic authentication against an htpasswd file of bcrypt entries (``[serve] htpasswd``).

The file is Apache's: one ``user:hash`` per line, as ``htpasswd -B`` writes it; blank lines
and lines starting with ``#`` are skipped. Only bcrypt hashes (``$2y$``, ``$2b$``, ``$2a$``)
are accepted; any other scheme (Apache MD5, SHA-1, crypt, plain text) is refused with the
line that has it, at start. Passwords are checked as Apache checks them: bcrypt reads at
most 72 bytes.

bcrypt is slow on purpose (tens to hundreds of milliseconds per check), and installers send
the same ``Authorization`` header with every request. So a successful check is remembered,
in memory and per application, under the SHA-256 of the header (never the header itself),
up to ``VERIFIED_CACHE_SIZE`` headers; concurrent requests with the same new header share
one check; checks run on a small thread pool of their own, so a flood of wrong passwords
delays new logins but never the serving of pages and files to known ones. Failures are not
remembered as results; an unknown user name is checked against a stand-in hash of the same
cost, so the time of an answer does not tell which names exist. An address that keeps
sending wrong passwords is answered 429 for a while, without a check (``backoff.py``).

The file is looked at (one ``stat``) on every request and read again when it changed, which
forgets every remembered check. If it became unreadable or malformed, the server fails
closed: every request that needs a password gets a 500 until the file is fixed, and the log
says what is wrong, once per change.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import math
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Final

import bcrypt
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from cellar.serve.backoff import FailedLogins
from cellar.serve.errors import HtpasswdError

log = logging.getLogger(__name__)

REALM: Final = "cellar"
#: How many distinct successful ``Authorization`` headers one application remembers.
VERIFIED_CACHE_SIZE: Final = 1024
#: bcrypt reads at most this many bytes of a password; Apache ignores the rest, as do we.
BCRYPT_MAX_PASSWORD: Final = 72
#: Threads checking passwords: enough for a few new logins at once, few enough to leave the
#: CPU to serving.
CHECK_THREADS: Final = 2

_BCRYPT: Final = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}", re.ASCII)
_SCHEMES: Final = (
    ("$apr1$", "Apache's MD5 ($apr1$, `htpasswd -m`)"),
    ("{SHA}", "SHA-1 ({SHA}, `htpasswd -s`)"),
    ("$1$", "MD5-crypt ($1$)"),
    ("$5$", "SHA-256-crypt ($5$)"),
    ("$6$", "SHA-512-crypt ($6$)"),
    ("$2", "a malformed bcrypt hash"),
)


@dataclass(frozen=True, slots=True)
class Htpasswd:
    """The users of an htpasswd file and their bcrypt hashes."""

    path: Path
    hashes: Mapping[str, bytes]


def parse_htpasswd(text: str, path: Path) -> Htpasswd:
    """Return the entries of htpasswd ``text`` (read from ``path``, named in errors).

    Raises ``HtpasswdError`` (with the line) for a line without ``user:hash``, a user named
    twice, a hash that is not bcrypt, and a file without users.
    """
    hashes: dict[str, bytes] = {}
    lines: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        user, colon, hashed = line.partition(":")
        hashed = hashed.strip()
        if not colon or not user or not hashed:
            raise HtpasswdError(path, "is not `user:hash`", number)
        if user in hashes:
            raise HtpasswdError(path, f"user {user!r} is already on line {lines[user]}", number)
        if not _BCRYPT.fullmatch(hashed):
            scheme = next((name for prefix, name in _SCHEMES if hashed.startswith(prefix)), None)
            what = scheme or "crypt() or plain text"
            raise HtpasswdError(
                path,
                f"the password of {user!r} is hashed with {what}; cellar accepts only bcrypt "
                f"($2y$, $2b$): set it again with `htpasswd -B {path} {user}`",
                number,
            )
        hashes[user] = hashed.encode("ascii")
        lines[user] = number
    if not hashes:
        raise HtpasswdError(path, f"has no users; add one with `htpasswd -B {path} USER`")
    return Htpasswd(path, MappingProxyType(hashes))


def read_htpasswd(path: Path) -> Htpasswd:
    """Read and parse the htpasswd file ``path``; raises ``HtpasswdError`` if unusable."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise HtpasswdError(path, f"cannot be read: {error.strerror or error}") from error
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise HtpasswdError(path, "is not UTF-8 text", line) from error
    return parse_htpasswd(text, path)


def basic_credentials(authorization: str) -> tuple[str, bytes] | None:
    """Return the user and password of a ``Basic`` Authorization value, or None if it is not one."""
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
        user, colon, password = decoded.partition(b":")
        name = user.decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    return (name, password) if colon else None


def _key(authorization: str) -> bytes:
    return hashlib.sha256(authorization.encode("utf-8", "surrogateescape")).digest()


def _stand_in(users: Htpasswd) -> bytes:
    """Return a well-formed bcrypt hash no password matches, at the file's highest cost."""
    cost = max((int(hashed[4:6]) for hashed in users.hashes.values()), default=10)
    return b"$2b$%02d$" % cost + b"." * 53


def check_password(password: bytes, hashed: bytes) -> bool:
    """Whether ``password`` matches the bcrypt ``hashed``. Slow on purpose (CPU-bound)."""
    try:
        return bcrypt.checkpw(password[:BCRYPT_MAX_PASSWORD], hashed)
    except ValueError:  # a hash of the right shape that bcrypt still refuses: no match
        return False


_Signature = tuple[int, int, int, int]


def _signature(path: Path) -> _Signature | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return (status.st_ino, status.st_mtime_ns, status.st_ctime_ns, status.st_size)


class BasicAuth:
    """The users allowed in, from an htpasswd file kept current, and the checks remembered.

    Make it with ``BasicAuth.load``; ``close()`` stops its threads. ``checks`` counts the
    bcrypt checks run and ``remembered`` the headers known good, for tests and metrics.
    """

    def __init__(
        self,
        path: Path,
        users: Htpasswd,
        signature: _Signature | None,
        *,
        max_remembered: int = VERIFIED_CACHE_SIZE,
    ) -> None:
        self.path = path
        self.max_remembered = max_remembered
        self.checks = 0
        self._users: Htpasswd | None = users
        self._signature = signature
        self._generation = 0
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        self._pending: dict[tuple[int, bytes], asyncio.Future[bool]] = {}
        self._reload_lock = asyncio.Lock()
        self._executor = ThreadPoolExecutor(CHECK_THREADS, thread_name_prefix="cellar-bcrypt")

    @classmethod
    def load(cls, path: Path, *, max_remembered: int = VERIFIED_CACHE_SIZE) -> BasicAuth:
        """Read ``path``; raises ``HtpasswdError`` if it is unreadable or malformed."""
        signature = _signature(path)
        return cls(path, read_htpasswd(path), signature, max_remembered=max_remembered)

    @property
    def remembered(self) -> int:
        """How many distinct Authorization headers are known good."""
        return len(self._verified)

    def remembers(self, authorization: str) -> bool:
        """Whether this ``Authorization`` header is one already checked good (no check run)."""
        return _key(authorization) in self._verified

    async def allows(self, authorization: str | None) -> bool | None:
        """Whether the ``Authorization`` header value lets the request in; None when the
        htpasswd file is unusable (no one gets in)."""
        users = await self._current_users()
        if users is None:
            return None
        if authorization is None:
            return False
        key = _key(authorization)
        if key in self._verified:
            self._verified.move_to_end(key)
            return True
        credentials = basic_credentials(authorization)
        if credentials is None:
            return False
        user, password = credentials
        pending_key = (self._generation, key)
        check = self._pending.get(pending_key)
        if check is None:
            loop = asyncio.get_running_loop()
            # An unknown user costs the same check as a known one: the time of the answer
            # must not tell which user names exist.
            hashed = users.hashes.get(user) or _stand_in(users)
            check = loop.run_in_executor(self._executor, check_password, password, hashed)
            self.checks += 1
            self._pending[pending_key] = check
            check.add_done_callback(lambda done: self._settle(pending_key, done))
        # Shielded: a client that hangs up must not cancel the check others wait for.
        return await asyncio.shield(check)

    def _settle(self, pending_key: tuple[int, bytes], check: asyncio.Future[bool]) -> None:
        self._pending.pop(pending_key, None)
        generation, key = pending_key
        if check.cancelled() or check.exception() is not None or not check.result():
            return
        if generation == self._generation:  # not checked against a file since replaced
            self._verified[key] = None
            if len(self._verified) > self.max_remembered:
                self._verified.popitem(last=False)

    async def _current_users(self) -> Htpasswd | None:
        # One stat per request, on the event loop: cheaper than handing it to a thread.
        if _signature(self.path) == self._signature:
            return self._users
        async with self._reload_lock:
            signature = _signature(self.path)
            if signature != self._signature:
                await self._reload(signature)
        return self._users

    async def _reload(self, signature: _Signature | None) -> None:
        users: Htpasswd | None
        try:
            users = await asyncio.to_thread(read_htpasswd, self.path)
        except HtpasswdError as error:
            users = None
            log.error("%s; refusing every request that needs a password until it is fixed", error)
        else:
            log.info("reloaded %s: %d users", self.path, len(users.hashes))
        # All at once, after the read: until then requests wait on the lock, not on old users.
        self._users = users
        self._signature = signature
        self._generation += 1
        self._verified.clear()

    def close(self) -> None:
        """Stop the threads that check passwords (checks under way are abandoned)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def auth_middleware(auth: BasicAuth, open_routes: frozenset[str]) -> Middleware:
    """Return middleware that lets in requests with valid credentials, and any request for a
    route whose resource is named in ``open_routes``; others get 401 (500 when the htpasswd
    file has become unusable).

    Routes are matched before middleware runs, so a request is open only when it really is
    for such a route, however its path is spelled.
    """

    failures = FailedLogins()

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        if resource is not None and resource.name in open_routes:
            return await handler(request)
        authorization = request.headers.get(hdrs.AUTHORIZATION)
        address = request.remote or ""
        known = authorization is not None and auth.remembers(authorization)
        wait = failures.wait(address, time.monotonic()) if authorization and not known else 0.0
        if wait > 0:
            raise web.HTTPTooManyRequests(
                headers={hdrs.RETRY_AFTER: str(math.ceil(wait))},
                text="too many wrong passwords from this address; try again later\n",
            )
        allowed = await auth.allows(authorization)
        if allowed is None:
            raise web.HTTPInternalServerError(
                text="the server's password file is unusable; its log says why\n"
            )
        if not allowed:
            if authorization:
                failures.failed(address, time.monotonic())
            raise web.HTTPUnauthorized(
                headers={hdrs.WWW_AUTHENTICATE: f'Basic realm="{REALM}"'},
                text="this mirror needs a user name and password\n",
            )
        failures.succeeded(address)
        return await handler(request)

    return authenticate
