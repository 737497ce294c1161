"""Distribution files (and their ``.metadata``) below ``<web_root>/packages``, sent byte for byte.

Files are never sent with a Content-Encoding: clients hash the bytes they receive (aiohttp would
otherwise send a ``<file>.gz`` beside the file gzip-encoded). Their types: wheels, ``.zip`` and
``.egg`` application/zip; ``.tar.gz``/``.tgz`` application/gzip; ``.tar.bz2``
application/x-bzip2; ``.tar.xz`` application/x-xz; PEP 658 ``.metadata`` text/plain (UTF-8, so
browsers show it); ``.asc`` application/pgp-signature; anything else application/octet-stream.
They are immutable under their name, so caches may keep them for a year.

A path with an empty, hidden (leading ``.``; this also covers ``..``), NUL- or
backslash-bearing segment, or one that resolves outside the tree (symlinks included), is a
404, decided by ``Storage.find`` before anything is opened.

A small file is read whole and answered from memory. For a large one with a local file,
aiohttp's ``FileResponse`` sends the bytes (with sendfile where it can) and judges If-Match,
If-Unmodified-Since, If-None-Match and If-Modified-Since; the Range header it is given is the
one ``http.requested_range`` decided (If-Range, several ranges and malformed headers handled
there), so a range it cannot satisfy becomes its 416 after the conditions, as RFC 9110 orders.
A backend without local files either gives a ``location`` to redirect the client to (307, not
cached) or has its bytes streamed, judged by the same rules.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Final

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.typedefs import LooseHeaders

from cellar.serve.http import (
    FILE_CACHE_CONTROL,
    NO_CONDITIONS,
    ByteRange,
    Coding,
    Conditions,
    Unsatisfiable,
    file_etag,
    http_date,
    requested_range,
)
from cellar.serve.pages import PageCache
from cellar.serve.protocol import SERVER_NAME
from cellar.serve.recent import RecentAnswers
from cellar.tree.storage import Resource, Storage

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
    (".provenance", "application/json"),
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
_NOT_FOUND: Final = "no such file on this mirror\n"


async def send_package_file(
    request: web.BaseRequest,
    relative: str,
    storage: Storage,
    recent: RecentAnswers,
    kept: PageCache | None = None,
) -> web.StreamResponse:
    """Return the response for ``/packages/<relative>``, an object of ``storage``.

    A small file's whole answer to a plain request (no conditions, no range) is kept in
    ``recent`` and sent again while the file is unchanged (a local tree), or its body is kept in
    ``kept`` by version (a network store, whose versions ``find`` remembers). A large one is
    sent from its local
    file (``sendfile``), or the client is redirected to the backend's ``location`` for it, or
    its bytes are streamed. Raises ``HTTPNotFound`` for a missing or unsafe path.
    """
    local = storage.local
    plain = Conditions.of(request) is NO_CONDITIONS and hdrs.RANGE not in request.headers
    if plain and local and (answer := recent.get(relative)) is not None:
        return web.Response(body=answer.body, headers=answer.headers)
    # Looking a local name up costs a few system calls on metadata the kernel has cached:
    # done here rather than in a thread, whose hand-off costs more. A network store: a thread.
    key = f"packages/{relative}"
    found = storage.find(key) if local else await asyncio.to_thread(storage.find, key)
    if found is None:
        raise web.HTTPNotFound(text=_NOT_FOUND)
    if found.location is not None:
        # Where the backend lets clients fetch the bytes themselves (a presigned URL, which
        # expires: never cached).
        redirect = {hdrs.SERVER: SERVER_NAME, hdrs.CACHE_CONTROL: "no-store"}
        raise web.HTTPTemporaryRedirect(found.location, headers=redirect)
    headers: dict[str, str] = {
        hdrs.SERVER: SERVER_NAME,
        # The type comes from the requested name: the file may be a symlink to a blob.
        hdrs.CONTENT_TYPE: file_content_type(relative.rpartition("/")[2]),
        hdrs.CACHE_CONTROL: FILE_CACHE_CONTROL,
    }
    if found.size <= SMALL_FILE_BYTES:
        version, body = await _small_file(found, local, kept)
        response = _from_memory(request, version, body, headers)
        if plain and local and response.status == 200:
            recent.put(relative, version, headers, body)
        return response
    if found.path is None:
        return await _streamed(request, found, headers)
    wanted = _wanted(request, found)
    if wanted is None:
        byte_range = None
    elif isinstance(wanted, ByteRange):
        byte_range = wanted.header
    else:  # unsatisfiable: FileResponse answers 416 once the conditions are judged
        byte_range = f"bytes={found.size}-"
    return _ExactFileResponse(Path(found.path), headers, byte_range)


async def _small_file(
    found: Resource, local: bool, kept: PageCache | None
) -> tuple[Resource, bytes]:
    """Return a small file's bytes and their version: read in the event loop (local), or
    from ``kept``, else read in a thread and kept (a network store). Raises ``HTTPNotFound``
    when it is gone."""
    keep = kept if not local else None
    if keep is not None and (held := keep.get(found, Coding.IDENTITY)) is not None:
        return found, held
    read = found.read() if local else await asyncio.to_thread(found.read)
    if read is None:
        raise web.HTTPNotFound(text=_NOT_FOUND)
    if keep is not None:
        keep.put(read[0], Coding.IDENTITY, read[1])
    return read


def _wanted(request: web.BaseRequest, found: Resource) -> ByteRange | Unsatisfiable | None:
    """Return the part of ``found`` the request asks for (None: all of it)."""
    return requested_range(
        request.headers.get(hdrs.RANGE),
        request.headers.get(hdrs.IF_RANGE),
        file_etag(found.mtime_ns, found.size),
        found.mtime_ns / 1e9,
        found.size,
    )


def _judged(
    request: web.BaseRequest, found: Resource, headers: dict[str, str]
) -> tuple[int, ByteRange | Unsatisfiable | None]:
    """Return the status the conditions give (200, 304 or 412) and, for 200, the part of
    ``found`` to send, as FileResponse judges them; add its validators to ``headers`` unless
    the answer is a 412 or a 416 (FileResponse sends none with those either)."""
    etag = file_etag(found.mtime_ns, found.size)
    seconds = found.mtime_ns / 1e9
    headers[hdrs.ACCEPT_RANGES] = "bytes"
    verdict = Conditions.of(request).evaluate(etag, seconds)
    wanted = _wanted(request, found) if verdict == 200 else None
    if verdict != 412 and wanted is not Unsatisfiable.RANGE:
        headers[hdrs.ETAG] = f'"{etag}"'
        headers[hdrs.LAST_MODIFIED] = http_date(seconds)
    return verdict, wanted


def _from_memory(
    request: web.BaseRequest, version: Resource, body: bytes, headers: dict[str, str]
) -> web.Response:
    """Answer for a file from its bytes (``version``'s), as FileResponse would (validators,
    conditions, one range). Adds the validators to ``headers``."""
    verdict, wanted = _judged(request, version, headers)
    if verdict != 200:
        return web.Response(status=verdict, headers=headers)
    if isinstance(wanted, ByteRange):
        ranged = {**headers, hdrs.CONTENT_RANGE: _content_range(wanted, len(body))}
        return web.Response(status=206, body=body[wanted.start : wanted.stop], headers=ranged)
    if wanted is Unsatisfiable.RANGE:
        refused = {**headers, hdrs.CONTENT_RANGE: f"bytes */{len(body)}"}
        return web.Response(status=416, headers=refused)
    return web.Response(body=body, headers=headers)


async def _streamed(
    request: web.BaseRequest, found: Resource, headers: dict[str, str]
) -> web.StreamResponse:
    """Answer for a large file that has no local file to send: its bytes streamed from the
    backend, chunk by chunk, each read off the event loop."""
    verdict, wanted = _judged(request, found, headers)
    if verdict != 200:
        return web.Response(status=verdict, headers=headers)
    if wanted is Unsatisfiable.RANGE:
        refused = {**headers, hdrs.CONTENT_RANGE: f"bytes */{found.size}"}
        return web.Response(status=416, headers=refused)
    start, stop, status = 0, found.size, 200
    if isinstance(wanted, ByteRange):
        start, stop, status = wanted.start, wanted.stop, 206
        headers[hdrs.CONTENT_RANGE] = _content_range(wanted, found.size)
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = stop - start
    await response.prepare(request)
    if request.method == hdrs.METH_HEAD:
        return response
    chunks = found.chunks(start, stop)
    try:
        while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
            await response.write(chunk)
    finally:
        chunks_close = getattr(chunks, "close", None)
        if chunks_close is not None:
            await asyncio.to_thread(chunks_close)
    await response.write_eof()
    return response


def _content_range(wanted: ByteRange, size: int) -> str:
    return f"bytes {wanted.start}-{wanted.stop - 1}/{size}"
