"""The Simple API's request handlers: negotiated pages, redirects to normalised names, files.

``SimpleHandlers`` answers ``/simple/``, ``/simple/<project>/``, ``/packages/<path>`` and
``/health``; ``app.py`` puts them on its routes. A page is answered from the one file
``pages.py`` opens, a file by ``files.py``. Redirects use relative locations, so a mirror behind
a reverse proxy under a path prefix keeps working.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import hdrs, web
from packaging.utils import canonicalize_name

from cellar.serve.files import send_package_file
from cellar.serve.http import (
    NO_CONDITIONS,
    PAGE_CACHE_CONTROL,
    PAGE_VARY,
    Coding,
    Conditions,
    choose_coding,
    http_date,
)
from cellar.serve.negotiate import FormatChooser, PageFormat
from cellar.serve.pages import Deferred, PageAnswer, PageCache, modified_seconds, read_page
from cellar.serve.protocol import SERVER_NAME
from cellar.serve.recent import RecentAnswers
from cellar.sync.compat import project_directory_parts
from cellar.tree.paths import is_project_name
from cellar.tree.storage import Storage


@dataclass(frozen=True, slots=True)
class SimpleHandlers:
    """The request handlers, bound to one tree and its page cache."""

    storage: Storage
    pages: PageCache
    formats: FormatChooser = field(default_factory=FormatChooser)
    #: Whole answers to repeated requests (``recent.py``): pages, and small files. Only for a
    #: local tree: checking that an answer is still current costs a network store a request.
    recent: RecentAnswers = field(default_factory=RecentAnswers)
    recent_files: RecentAnswers = field(default_factory=RecentAnswers)
    #: Small files' bodies from a network store, by version (files never change under their
    #: name, so a hot file costs the store a HEAD per ``cache-seconds``, not a GET per request).
    small_files: PageCache = field(default_factory=PageCache)

    async def health(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok\n", headers={hdrs.CACHE_CONTROL: "no-store"})

    async def simple_redirect(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPMovedPermanently(_with_query("simple/", request))

    async def root_page(self, request: web.Request) -> web.StreamResponse:
        if self.storage.local and (repeated := _repeat(request, self.recent)) is not None:
            return repeated
        not_found = "the mirror has no root page yet\n"
        return await _page(request, ["simple"], self, not_found)

    async def project_page(self, request: web.Request) -> web.StreamResponse:
        return await self.project(request, request.match_info["project"], slash=True)

    async def project_no_slash(self, request: web.Request) -> web.StreamResponse:
        return await self.project(request, request.match_info["project"], slash=False)

    async def project(
        self, request: web.BaseRequest, spelled: str, *, slash: bool
    ) -> web.StreamResponse:
        """Answer ``/simple/<spelled>/`` (``slash``) or ``/simple/<spelled>``."""
        repeated = _repeat(request, self.recent) if slash and self.storage.local else None
        if repeated is not None:
            return repeated  # answered before from this very path: the name was checked then
        if not is_project_name(spelled):
            raise web.HTTPNotFound(text=f"no project named {spelled!r} on this mirror\n")
        name = canonicalize_name(spelled)
        folders = [
            "/".join(project_directory_parts(name, hash_index=False)),
            "/".join(project_directory_parts(name, hash_index=True)),
        ]
        if slash and spelled == name:
            not_found = f"no project named {spelled!r} on this mirror\n"
            return await _page(request, folders, self, not_found)
        if not await asyncio.to_thread(_any_page, self.storage, folders):
            raise web.HTTPNotFound(text=f"no project named {spelled!r} on this mirror\n")
        # Relative, so a path prefix added by a reverse proxy survives.
        location = f"../{name}/" if slash else f"{name}/"
        raise web.HTTPMovedPermanently(_with_query(location, request))

    async def package_file(self, request: web.Request) -> web.StreamResponse:
        return await self.file(request, request.match_info["path"])

    async def file(self, request: web.BaseRequest, relative: str) -> web.StreamResponse:
        """Answer ``/packages/<relative>``."""
        return await send_package_file(
            request, relative, self.storage, self.recent_files, self.small_files
        )


def _with_query(location: str, request: web.BaseRequest) -> str:
    query = request.rel_url.raw_query_string
    return f"{location}?{query}" if query else location


async def _page(
    request: web.BaseRequest,
    folders: list[str],
    handlers: SimpleHandlers,
    not_found: str,
) -> web.StreamResponse:
    """Look the page up and answer it (a repeat was answered before, by ``_repeat``)."""
    accept, encodings = _negotiated(request)
    conditions = Conditions.of(request)
    key = _request_key(request) if conditions is NO_CONDITIONS else None
    query = request.query.get("format") if request.query_string else None
    formats = handlers.formats(accept, query)
    coding = choose_coding(encodings)
    storage, cache = handlers.storage, handlers.pages
    # A local tree is looked up in the event loop (cheaper than a thread's hand-off); a
    # network store in a thread.
    answer = (
        read_page(storage, folders, formats, coding, conditions, cache=cache, inline=True)
        if storage.local
        else Deferred.TO_THREAD
    )
    if answer is Deferred.TO_THREAD:
        answer = await asyncio.to_thread(
            read_page, storage, folders, formats, coding, conditions, cache=cache
        )
    assert not isinstance(answer, Deferred)  # only an inline read defers  # noqa: S101
    if answer is None:
        raise web.HTTPNotFound(text=not_found)
    response_headers = _page_headers(answer)
    if key is not None and answer.status == 200 and storage.local:
        handlers.recent.put(key, answer.version, response_headers, answer.body)
    return web.Response(status=answer.status, body=answer.body, headers=response_headers)


def _negotiated(request: web.BaseRequest) -> tuple[str | None, str | None]:
    """Return the request's Accept and Accept-Encoding (each header's lines joined)."""
    headers = request.headers
    accept = ",".join(headers.getall(hdrs.ACCEPT, ())) or None
    return accept, ",".join(headers.getall(hdrs.ACCEPT_ENCODING, ())) or None


def _request_key(request: web.BaseRequest) -> tuple[str, str | None, str | None]:
    """What decides a page's answer when no condition does: path and query, and the
    negotiated headers."""
    return (request.raw_path, *_negotiated(request))


def _repeat(request: web.BaseRequest, recent: RecentAnswers) -> web.Response | None:
    """Return the answer kept for a request without conditions like this one, if any."""
    if Conditions.of(request) is not NO_CONDITIONS:
        return None
    kept = recent.get(_request_key(request))
    return None if kept is None else web.Response(body=kept.body, headers=kept.headers)


def _page_headers(answer: PageAnswer) -> dict[str, str]:
    headers: dict[str, str] = {
        hdrs.SERVER: SERVER_NAME,
        hdrs.VARY: PAGE_VARY,
        hdrs.CACHE_CONTROL: PAGE_CACHE_CONTROL,
    }
    if answer.status == 412:
        return headers
    if answer.status == 200:
        headers[hdrs.CONTENT_TYPE] = answer.page_format.header_value
        if answer.coding is not Coding.IDENTITY:
            headers[hdrs.CONTENT_ENCODING] = answer.coding.value
    # 304s carry the validators too (RFC 9110).
    headers[hdrs.ETAG] = f'"{answer.etag}"'
    headers[hdrs.LAST_MODIFIED] = http_date(modified_seconds(answer.version))
    return headers


def _any_page(storage: Storage, folders: list[str]) -> bool:
    """Return whether any of ``folders`` holds a page in any format."""
    return any(
        storage.find(f"{folder}/{page_format.file_name}", links=False) is not None
        for folder in folders
        for page_format in PageFormat
    )
