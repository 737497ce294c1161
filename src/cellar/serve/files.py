"""Distribution files (and their ``.metadata``) below ``<web_root>/packages``, sent byte for byte.

Files are never sent with a Content-Encoding: clients hash the bytes they receive (aiohttp would
otherwise send a ``<file>.gz`` beside the file gzip-encoded). Their types: wheels, ``.zip`` and
``.egg`` application/zip; ``.tar.gz``/``.tgz`` application/gzip; ``.tar.bz2``
application/x-bzip2; ``.tar.xz`` application/x-xz; PEP 658 ``.metadata`` text/plain (UTF-8, so
browsers show it); ``.asc`` application/pgp-signature; anything else application/octet-stream.
They are immutable under their name, so caches may keep them for a year.

A path with an empty, hidden (leading ``.``; this also covers ``..``), NUL- or
backslash-bearing segment, or one that resolves outside ``<web_root>/packages`` (symlinks
included), is a 404, decided before anything is opened.

aiohttp's ``FileResponse`` sends the bytes (with sendfile where it can) and judges If-Match,
If-Unmodified-Since, If-None-Match and If-Modified-Since; the Range header it is given is the
one ``http.requested_range`` decided (If-Range, several ranges and malformed headers handled
there), so a range it cannot satisfy becomes its 416 after the conditions, as RFC 9110 orders.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.typedefs import LooseHeaders

from cellar.serve.http import (
    FILE_CACHE_CONTROL,
    NO_CONDITIONS,
    ByteRange,
    Conditions,
    Unsatisfiable,
    file_etag,
    http_date,
    requested_range,
)
from cellar.serve.protocol import SERVER_NAME
from cellar.serve.recent import FileVersion, RecentAnswers
from cellar.tree.paths import lstat_within

_FILE_TYPES: Final = (
    (".whl", "application/zip"),
    (".zip", "application/zip"),
    (".egg", "application/zip"),
    (".tar.gz", "application/gzip"),
    (".tgz", "application/gzip"),
    (".tar.bz2", "application/x-bzip2"),
    (".tar.xz", "application/x-xz"),
    (".metadata", "text/plain; charset=utf-8"),
    (".asc", "application/pgp-signature"),
)


def file_content_type(name: str) -> str:
    """Return the Content-Type to send for a file called ``name`` (see the module docstring)."""
    lowered = name.lower()
    for suffix, content_type in _FILE_TYPES:
        if lowered.endswith(suffix):
            return content_type
    return "application/octet-stream"


class _ExactFileResponse(web.FileResponse):
    """A FileResponse that never substitutes a pre-compressed ``.gz``/``.br`` sibling and
    honours exactly the Range it is given (None: the whole file)."""

    def __init__(self, path: Path, headers: LooseHeaders, byte_range: str | None) -> None:
        super().__init__(path, headers=headers)
        self._byte_range = byte_range

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        headers = request.headers.copy()
        for name in (hdrs.ACCEPT_ENCODING, hdrs.RANGE, hdrs.IF_RANGE):
            headers.popall(name, None)
        if self._byte_range is not None:
            headers[hdrs.RANGE] = self._byte_range
        return await super().prepare(request.clone(headers=headers))


#: Files up to this size are read whole and sent from memory, without a thread: most
#: ``.metadata`` files and many wheels. FileResponse's sendfile path hops to a thread for the
#: stat and the open, which costs more than reading a small file from the page cache.
SMALL_FILE_BYTES: Final = 256 * 1024
_OPEN_FLAGS: Final = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


async def send_package_file(
    request: web.BaseRequest, relative: str, packages: str, recent: RecentAnswers
) -> web.StreamResponse:
    """Return the response for ``/packages/<relative>`` (``packages``: that directory).

    A small file's whole answer to a plain request (no conditions, no range) is kept in
    ``recent`` and sent again while the file is unchanged. Raises ``HTTPNotFound`` for a
    missing or unsafe path.
    """
    plain = Conditions.of(request) is NO_CONDITIONS and hdrs.RANGE not in request.headers
    if plain and (kept := recent.get(relative)) is not None:
        return web.Response(body=kept.body, headers=kept.headers)
    # Resolving the name costs a few system calls on metadata the kernel has cached: done
    # here rather than in a thread, whose hand-off costs more.
    found = package_file(packages, relative)
    if found is None:
        raise web.HTTPNotFound(text="no such file on this mirror\n")
    path, status = found
    headers: dict[str, str] = {
        hdrs.SERVER: SERVER_NAME,
        # The type comes from the requested name: the file may be a symlink to a blob.
        hdrs.CONTENT_TYPE: file_content_type(relative.rpartition("/")[2]),
        hdrs.CACHE_CONTROL: FILE_CACHE_CONTROL,
    }
    if status.st_size <= SMALL_FILE_BYTES:
        small = _small_file(request, path, headers)
        if small is not None:
            response, version = small
            if plain and response.status == 200 and isinstance(response.body, bytes):
                recent.put(relative, version, headers, response.body)
            return response
    wanted = requested_range(
        request.headers.get(hdrs.RANGE),
        request.headers.get(hdrs.IF_RANGE),
        file_etag(status.st_mtime_ns, status.st_size),
        status.st_mtime,
        status.st_size,
    )
    if wanted is None:
        byte_range = None
    elif isinstance(wanted, ByteRange):
        byte_range = wanted.header
    else:  # unsatisfiable: FileResponse answers 416 once the conditions are judged
        byte_range = f"bytes={status.st_size}-"
    return _ExactFileResponse(Path(path), headers, byte_range)


def _small_file(
    request: web.BaseRequest, path: str, headers: dict[str, str]
) -> tuple[web.Response, FileVersion] | None:
    """Answer for a small file from its bytes, as FileResponse would (validators, conditions,
    one range), and the version it came from; None if it is no longer small and regular (then
    FileResponse answers). Adds the validators to ``headers``."""
    try:
        with os.fdopen(os.open(path, _OPEN_FLAGS), "rb") as file:
            status = os.fstat(file.fileno())
            if not stat.S_ISREG(status.st_mode) or status.st_size > SMALL_FILE_BYTES:
                return None
            body = file.read()
    except OSError:
        raise web.HTTPNotFound(text="no such file on this mirror\n") from None
    etag = file_etag(status.st_mtime_ns, len(body))
    headers[hdrs.ACCEPT_RANGES] = "bytes"
    headers[hdrs.ETAG] = f'"{etag}"'
    headers[hdrs.LAST_MODIFIED] = http_date(status.st_mtime)
    verdict = Conditions.of(request).evaluate(etag, status.st_mtime)
    if verdict == 200:
        wanted = requested_range(
            request.headers.get(hdrs.RANGE),
            request.headers.get(hdrs.IF_RANGE),
            etag,
            status.st_mtime,
            len(body),
        )
        if isinstance(wanted, ByteRange):
            ranged = {
                **headers,
                hdrs.CONTENT_RANGE: f"bytes {wanted.start}-{wanted.stop - 1}/{len(body)}",
            }
            response = web.Response(
                status=206, body=body[wanted.start : wanted.stop], headers=ranged
            )
        elif wanted is Unsatisfiable.RANGE:
            refused = {**headers, hdrs.CONTENT_RANGE: f"bytes */{len(body)}"}
            response = web.Response(status=416, headers=refused)
        else:
            response = web.Response(body=body, headers=headers)
    else:
        response = web.Response(status=verdict, headers=headers)
    return response, FileVersion.of(path, status)


def package_file(packages: str, relative: str) -> tuple[str, os.stat_result] | None:
    """Return the path of the regular file ``relative`` names inside ``packages`` and its
    status, or None if it is missing or unsafe (a symlink on the way that leads outside)."""
    segments = relative.split("/")
    if any(not s or s.startswith(".") or "\x00" in s or "\\" in s for s in segments):
        return None
    status = lstat_within(packages, segments)
    if status is None or not stat.S_ISREG(status.st_mode):
        return None
    return os.sep.join((packages, *segments)), status  # noqa: PTH118 - per request
