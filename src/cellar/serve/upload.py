"""The upload API that ``twine upload`` and ``uv publish`` speak, at ``[hosted] upload-path``.

A ``POST`` of ``multipart/form-data`` (PyPI's legacy upload API): ``:action=file_upload``,
the file in the part ``content``, and fields among which Cellar reads ``name``, ``version``,
``sha256_digest``, ``md5_digest`` and ``blake2_256_digest``. Cellar adds two actions of its
own, ``yank`` and ``unyank`` (fields ``name``, ``version``, and ``reason`` for a yank), for
PEP 592 without a web interface. Answers, each with the reason in the status line (which
twine shows) and in the body (which uv shows):

    200  hosted; or the project already has this file, byte for byte (a retried upload)
    400  not a wheel or sdist, damaged, metadata that is not the file's, a digest that is not
         the file's, or "File already exists" (a file name is never replaced)
    401  no credentials, or wrong ones (``__token__`` with a Cellar token, or a user and password)
    403  the user may not upload to that project (or it is reserved for others)
    413  the file is over ``[hosted] max-upload-size``
    429  too many wrong passwords from the address
    503  another writer held the tree's lease too long; try again
    507  the tree has no room for the file

Upload credentials are the uploaders file's, never the readers' (``[serve] htpasswd``): the
route is open to the read middleware and checks its own. The file goes to a temporary file
while it arrives, counted against the limit, and is checked (``hosted/validate.py``) before
anything in the tree changes.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import logging
import math
import os
import tempfile
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final

from aiohttp import BodyPartReader, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from packaging.utils import canonicalize_name

from cellar.config.hosted import HostedSettings
from cellar.hosted.tokens import TOKEN_USER, token_user
from cellar.hosted.validate import DIGEST_FIELDS, UploadForm, UploadRefused, check_upload
from cellar.select.metadata import file_identity
from cellar.serve.auth import REALM, BasicAuth, basic_credentials
from cellar.serve.backoff import FailedLogins
from cellar.sync.hosting import HostedWriter
from cellar.tree.lease import LeaseHeldError

log = logging.getLogger("cellar.serve.upload")

#: The most a field other than the file may hold (a long description: a README).
MAX_FIELD: Final = 1024 * 1024
#: The most all the fields together may hold, and how many there may be.
MAX_FIELDS_TOTAL: Final = 8 * 1024 * 1024
MAX_FIELD_COUNT: Final = 1000
_CHUNK: Final = 256 * 1024
_READ: Final = frozenset(
    {":action", "protocol_version", "name", "version", "reason", *DIGEST_FIELDS}
)


@dataclass(slots=True)
class _Received:
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    path: Path | None = None
    size: int = 0


@dataclass(slots=True)
class UploadRoute:
    """The upload handler of one application: ``[hosted]``, who may upload, and the writer."""

    settings: HostedSettings
    auth: BasicAuth
    writer: HostedWriter
    failures: FailedLogins = field(default_factory=FailedLogins)

    async def post(self, request: web.Request) -> web.StreamResponse:
        """Take an upload or a yank; answer as the module says."""
        try:
            user = await self._user(request)
            received = await self._receive(request, user)
            try:
                return await self._act(received, user)
            finally:
                if received.path is not None:
                    received.path.unlink(missing_ok=True)
        except UploadRefused as refusal:
            if refusal.status >= 500 or refusal.status == 401:
                log.warning("upload refused: %s", refusal.reason)
            else:
                log.info("upload refused (%d): %s", refusal.status, refusal.reason)
            return _answer(refusal.status, refusal.reason, _headers(refusal.status))

    async def get(self, request: web.Request) -> web.StreamResponse:
        """What a person opening the upload URL in a browser learns."""
        return web.Response(
            text="this is the upload API for twine upload and uv publish: POST only\n",
            status=405,
            headers={hdrs.ALLOW: "POST"},
        )

    async def _user(self, request: web.Request) -> str:
        header = request.headers.get(hdrs.AUTHORIZATION)
        credentials = basic_credentials(header) if header else None
        if credentials is None:
            raise UploadRefused(401, "uploads need a user name and password, or __token__")
        user, password = credentials
        if user == TOKEN_USER:
            named = token_user(password.decode("utf-8", "replace"))
            if named is None:
                raise UploadRefused(401, "the password of __token__ is not a Cellar upload token")
            user = named
        address = request.remote or ""
        wait = self.failures.wait(address, time.monotonic())
        if wait > 0:
            raise UploadRefused(429, f"too many wrong passwords; try again in {math.ceil(wait)} s")
        checked = "Basic " + base64.b64encode(user.encode() + b":" + password).decode("ascii")
        allowed = await self.auth.allows(checked)
        if allowed is None:
            raise UploadRefused(500, "the server's uploaders file is unusable; its log says why")
        if not allowed:
            self.failures.failed(address, time.monotonic())
            raise UploadRefused(401, "wrong user name, password or token for uploads")
        self.failures.succeeded(address)
        return user

    def _check_grant(self, user: str, name: str) -> None:
        if self.settings.may_upload(user, name):
            return
        granted = ", ".join(map(str, self.settings.granted(user) or ())) or "no project"
        reserved = " (a name reserved for hosting)" if self.settings.reserved(name) else ""
        raise UploadRefused(
            403,
            f"{user} may not upload to {canonicalize_name(name)}{reserved}; "
            f"{user} may upload to: {granted}",
        )

    async def _receive(self, request: web.Request, user: str) -> _Received:
        if not request.content_type.startswith("multipart/form-data"):
            raise UploadRefused(400, "an upload is multipart/form-data (twine upload, uv publish)")
        try:
            reader = await request.multipart()
        except (ValueError, AssertionError) as error:
            raise UploadRefused(400, f"not a readable multipart form: {error}") from None
        received = _Received()
        total = count = 0
        try:
            while True:
                part = await reader.next()
                if part is None:
                    break
                count += 1
                if not isinstance(part, BodyPartReader) or count > MAX_FIELD_COUNT:
                    raise UploadRefused(400, "the form nests forms, or has too many fields")
                if part.name == "content" and received.path is None:
                    name = received.fields.get("name")
                    if name:  # sent before the file, as twine and uv do: no upload wasted
                        self._check_grant(user, name)
                    await self._save(part, received)
                    continue
                value = await _field(part)
                total += len(value)
                if total > MAX_FIELDS_TOTAL:
                    raise UploadRefused(413, "the form's fields are too large")
                if part.name in _READ:
                    received.fields[part.name] = value.decode("utf-8", "replace")
        except (ConnectionError, asyncio.IncompleteReadError) as error:
            self._forget(received)
            raise UploadRefused(400, f"the upload was cut short: {error}") from None
        except (ValueError, HttpProcessingError) as error:
            self._forget(received)
            raise UploadRefused(400, f"not a readable multipart form: {error}") from None
        except BaseException:
            self._forget(received)
            raise
        return received

    @staticmethod
    def _forget(received: _Received) -> None:
        if received.path is not None:
            received.path.unlink(missing_ok=True)

    async def _save(self, part: BodyPartReader, received: _Received) -> None:
        filename = part.filename or ""
        received.filename = filename  # a path in it is refused by check_upload
        limit = self.settings.max_upload_size
        descriptor, name = tempfile.mkstemp(prefix="cellar-upload-")
        received.path = Path(name)
        with os.fdopen(descriptor, "wb") as out:
            while chunk := await part.read_chunk(_CHUNK):
                received.size += len(chunk)
                if received.size > limit:
                    raise UploadRefused(413, f"{filename}: over the upload limit of {limit} bytes")
                try:
                    out.write(chunk)
                except OSError as error:
                    raise _write_failure(error) from None

    async def _act(self, received: _Received, user: str) -> web.StreamResponse:
        action = received.fields.get(":action", "file_upload")
        if action in ("yank", "unyank"):
            return await self._yank(received, user, action)
        if action != "file_upload":
            raise UploadRefused(400, f"unsupported :action {action!r}")
        if received.path is None or not received.filename:
            raise UploadRefused(400, "no file in the form's 'content' field")
        identity = file_identity(received.filename)
        name = received.fields.get("name") or (identity[0] if identity else received.filename)
        self._check_grant(user, name)
        if identity is not None:
            self._check_grant(user, identity[0])
        form = UploadForm(
            name=received.fields.get("name"),
            version=received.fields.get("version"),
            digests=MappingProxyType(
                {key: value for key, value in received.fields.items() if key in DIGEST_FIELDS}
            ),
        )
        upload = await asyncio.to_thread(
            check_upload,
            received.path,
            received.filename,
            form,
            max_size=self.settings.max_upload_size,
        )
        try:
            incoming = await asyncio.to_thread(self.writer.receive, received.path, upload.filename)
            added = await asyncio.to_thread(self.writer.add, incoming, upload, user)
        except LeaseHeldError as error:
            raise UploadRefused(503, str(error)) from None
        except OSError as error:
            raise _write_failure(error) from None
        said = "hosted" if added else "already hosted, byte for byte: nothing changed"
        return _answer(200, f"{upload.filename}: {said}")

    async def _yank(self, received: _Received, user: str, action: str) -> web.StreamResponse:
        name, version = received.fields.get("name"), received.fields.get("version")
        if not name or not version:
            raise UploadRefused(400, f"{action} needs the fields name and version")
        self._check_grant(user, name)
        yanked: bool | str = False
        if action == "yank":
            yanked = received.fields.get("reason", "").strip() or True
        try:
            files = await asyncio.to_thread(self.writer.set_yanked, name, version, yanked, user)
        except LeaseHeldError as error:
            raise UploadRefused(503, str(error)) from None
        except OSError as error:
            raise _write_failure(error) from None
        return _answer(200, f"{action}ed {name} {version}: {', '.join(files)}")


async def _field(part: BodyPartReader) -> bytes:
    value = bytearray()
    while chunk := await part.read_chunk(_CHUNK):
        value += chunk
        if len(value) > MAX_FIELD:
            raise UploadRefused(413, f"the form field {part.name!r} is too large")
    return bytes(value)


def _write_failure(error: OSError) -> UploadRefused:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return UploadRefused(507, f"no room for the upload: {error}")
    return UploadRefused(500, f"the upload could not be written: {error}")


def _headers(status: int) -> Mapping[str, str]:
    if status == 401:
        return {hdrs.WWW_AUTHENTICATE: f'Basic realm="{REALM}-upload"'}
    if status in (429, 503):
        return {hdrs.RETRY_AFTER: "5"}
    return {}


def _answer(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    # The reason phrase is one line of latin-1: what twine prints of a refusal.
    reason = message.replace("\r", " ").replace("\n", " ")[:300]
    reason = reason.encode("latin-1", "replace").decode("latin-1")
    response = web.Response(status=status, reason=reason, text=message + "\n")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def upload_route(settings: HostedSettings, writer: HostedWriter) -> UploadRoute:
    """Return the route for ``settings`` (whose ``uploaders`` is set), reading that file now.

    Raises ``HtpasswdError`` if the uploaders file is unreadable or malformed.
    """
    assert settings.uploaders is not None  # noqa: S101 - only called with uploads on
    return UploadRoute(settings, BasicAuth.load(settings.uploaders), writer)


async def close_route(route: UploadRoute) -> None:
    """Stop the route's password-checking threads."""
    with suppress(Exception):
        route.auth.close()
