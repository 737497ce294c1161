"""The Simple API's request handlers: negotiated pages, redirects to normalised names, files.

``SimpleHandlers`` answers ``/simple/``, ``/simple/<project>/``, ``/packages/<path>`` and
``/health``; ``app.py`` puts them on its routes. A page is answered from the one file
``pages.py`` opens, a file by ``files.py``. Redirects use relative locations, so a mirror behind
a reverse proxy under a path prefix keeps working.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import hdrs, web
from packaging.utils import canonicalize_name

from cellar.keep.pages import page_directories
from cellar.serve.files import send_package_file
from cellar.serve.http import PAGE_CACHE_CONTROL, PAGE_VARY, Coding, Conditions, choose_coding
from cellar.serve.negotiate import FormatChooser
from cellar.serve.pages import Deferred, PageAnswer, PageCache, read_page
from cellar.tree.paths import is_project_name


@dataclass(frozen=True, slots=True)
class SimpleHandlers:
    """The request handlers, bound to one web root and its compressed-page cache."""

    web_root: Path
    pages: PageCache
    formats: FormatChooser = field(default_factory=FormatChooser)

    async def health(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok\n", headers={hdrs.CACHE_CONTROL: "no-store"})

    async def simple_redirect(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPMovedPermanently(_with_query("simple/", request))

    async def root_page(self, request: web.Request) -> web.StreamResponse:
        not_found = "the mirror has no root page yet\n"
        return await _page(request, [self.web_root / "simple"], self, not_found)

    async def project_page(self, request: web.Request) -> web.StreamResponse:
        return await self._project(request, slash=True)

    async def project_no_slash(self, request: web.Request) -> web.StreamResponse:
        return await self._project(request, slash=False)

    async def _project(self, request: web.Request, *, slash: bool) -> web.StreamResponse:
        spelled = request.match_info["project"]
        not_found = f"no project named {spelled!r} on this mirror\n"
        if not is_project_name(spelled):
            raise web.HTTPNotFound(text=not_found)
        name = canonicalize_name(spelled)
        directories = list(page_directories(self.web_root, name))
        if slash and spelled == name:
            return await _page(request, directories, self, not_found)
        if not await asyncio.to_thread(_any_directory, directories):
            raise web.HTTPNotFound(text=not_found)
        # Relative, so a path prefix added by a reverse proxy survives.
        location = f"../{name}/" if slash else f"{name}/"
        raise web.HTTPMovedPermanently(_with_query(location, request))

    async def package_file(self, request: web.Request) -> web.StreamResponse:
        return await send_package_file(request, self.web_root / "packages")


def _with_query(location: str, request: web.Request) -> str:
    query = request.rel_url.raw_query_string
    return f"{location}?{query}" if query else location


async def _page(
    request: web.Request, directories: list[Path], handlers: SimpleHandlers, not_found: str
) -> web.StreamResponse:
    accept = ",".join(request.headers.getall(hdrs.ACCEPT, [])) or None
    formats = handlers.formats(accept, request.query.get("format"))
    cache = handlers.pages
    encodings = ",".join(request.headers.getall(hdrs.ACCEPT_ENCODING, [])) or None
    coding = choose_coding(encodings)
    conditions = Conditions.of(request)
    root = handlers.web_root
    answer = read_page(directories, formats, coding, conditions, cache, root=root, inline=True)
    if answer is Deferred.TO_THREAD:
        answer = await asyncio.to_thread(
            read_page, directories, formats, coding, conditions, cache, root=root
        )
    assert not isinstance(answer, Deferred)  # only an inline read defers  # noqa: S101
    if answer is None:
        raise web.HTTPNotFound(text=not_found)
    return _page_response(answer)


def _page_response(answer: PageAnswer) -> web.Response:
    headers = {hdrs.VARY: PAGE_VARY, hdrs.CACHE_CONTROL: PAGE_CACHE_CONTROL}
    if answer.status == 412:
        return web.Response(status=412, headers=headers)
    if answer.status == 200:
        headers[hdrs.CONTENT_TYPE] = answer.page_format.header_value
        if answer.coding is not Coding.IDENTITY:
            headers[hdrs.CONTENT_ENCODING] = answer.coding.value
    response = web.Response(status=answer.status, body=answer.body, headers=headers)
    response.etag = answer.etag  # 304s carry the validators too (RFC 9110)
    response.last_modified = answer.version.last_modified
    return response


def _any_directory(directories: list[Path]) -> bool:
    for directory in directories:
        try:
            if directory.is_dir():
                return True
        except OSError:  # a name too long for the file system: no such project
            continue
    return False
