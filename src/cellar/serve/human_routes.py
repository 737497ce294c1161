"""The routes of the pages for people: ``/`` and ``/project/<name>/``, read from the mirror.

    /                      the home page: what the mirror holds, how to use it, the projects
                           (``?q=`` searches them, ``?page=`` pages them), the last sync;
                           a client asking for a Simple API type (PEP 691 Accept, ``?format=``)
                           gets the 302 to ``simple/`` it always had
    /project/<name>/       a project's page; other spellings and a missing slash get a 301 to
                           the normalised name, unknown projects a 404 page for people

Each request reads what it shows in a worker thread: the mirror's state opened read-only
(``MirrorState.open_read_only``; in WAL mode a running ``cellar mirror`` and these reads never
wait for each other) and the project's published ``index.v1_json``, which is replaced atomically
and lists only files in place. Without a readable state the names come from the root page
``simple/index.v1_json`` and the status says why it is missing.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from aiohttp import hdrs, web
from packaging.utils import InvalidName, NormalizedName, canonicalize_name

from cellar.clients import ClientAccess
from cellar.config.serve import ServeSettings
from cellar.hosted.model import record_key
from cellar.hosted.records import hosted_names
from cellar.model import ProjectListing
from cellar.serve.catalogue import (
    MirrorStatus,
    search_projects,
)
from cellar.serve.human import render_home, render_not_found, render_project
from cellar.serve.negotiate import parse_accept
from cellar.state import MirrorState, MirrorStateError
from cellar.state.bundles import ImportRecord
from cellar.state.summary import summary_in
from cellar.sync.pages import PageFormatError, published_listing
from cellar.tree.storage import Storage, read_quietly

_HTML: Final = "text/html; charset=utf-8"
#: Pages for people run no script and load nothing from elsewhere: say so to the browser, so
#: that markup an upstream slipped past the escaping could not do anything either.
_HEADERS: Final = {
    hdrs.CONTENT_SECURITY_POLICY: (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    hdrs.X_CONTENT_TYPE_OPTIONS: "nosniff",
    hdrs.CACHE_CONTROL: "no-cache",
}
_SIMPLE_TYPES: Final = "vnd.pypi.simple."
#: What a Host header may hold to be shown back in the client lines (name or address, port).
_HOST: Final = re.compile(r"^(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")


def published_index_url(settings: ServeSettings) -> str | None:
    """Return the index URL the pages tell clients to use when ``[serve] url`` sets one.

    None otherwise: an address made from ``host`` and ``port`` may not be how people reach
    the server (a wildcard address, ``--port``), so the pages use the request's Host instead.
    """
    return settings.index_url if settings.url is not None else None


@dataclass(frozen=True, slots=True)
class PeoplePages:
    """The handlers of the pages for people, bound to one mirror.

    ``directory`` is the mirror directory (its state is ``.cellar/state.sqlite3``),
    ``index_url`` the Simple API root to show (None: made from each request's Host).
    """

    storage: Storage
    directory: Path
    index_url: str | None = None

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Register ``/`` and the project pages on ``router`` (GET, and HEAD with it)."""
        router.add_get("/", self.home)
        router.add_get("/project/{project}/", self.project)
        router.add_get("/project/{project}", self.project_no_slash)

    async def home(self, request: web.Request) -> web.StreamResponse:
        if _wants_simple_api(request):
            raise web.HTTPFound(_with_query("simple/", request))
        query = request.query.get("q", "")
        try:
            page = int(request.query.get("page", "1"))
        except ValueError:
            page = 1
        names, status, hosted = await asyncio.to_thread(self._read_home)
        search = search_projects(names, query, page, hosted=hosted)
        body = render_home(search, status, self._setup(request), now=datetime.now(UTC))
        return _html(body, vary=True)

    async def project(self, request: web.Request) -> web.StreamResponse:
        return await self._project(request, slash=True)

    async def project_no_slash(self, request: web.Request) -> web.StreamResponse:
        return await self._project(request, slash=False)

    async def _project(self, request: web.Request, *, slash: bool) -> web.StreamResponse:
        spelled = request.match_info["project"]
        try:
            name = canonicalize_name(spelled, validate=True)
        except InvalidName:
            return _not_found(spelled, slash=slash)
        found = await asyncio.to_thread(self._read_project, name)
        if found is None:
            return _not_found(spelled, slash=slash)
        if not slash or spelled != name:
            # Relative, so a path prefix added by a reverse proxy survives.
            raise web.HTTPMovedPermanently(f"../{name}/" if slash else f"{name}/")
        listing, display, refused, hosted = found
        return _html(render_project(listing, display, self._setup(request), refused, hosted=hosted))

    def _setup(self, request: web.Request) -> ClientAccess:
        if self.index_url is not None:
            return ClientAccess(self.index_url)
        host = request.host
        if not _HOST.match(host):
            sockname = request.transport.get_extra_info("sockname") if request.transport else None
            address = sockname[0] if sockname else "127.0.0.1"
            port = sockname[1] if sockname else 80
            host = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        return ClientAccess(f"{request.scheme}://{host}/simple/")

    def _read_home(self) -> tuple[dict[str, str], MirrorStatus, frozenset[str]]:
        """Return the projects (normalised name -> display name), the mirror's status, and
        which projects are hosted."""
        names, status = self._read_mirrored()
        try:
            hosted = {str(name) for name in hosted_names(self.storage)}  # a listing, no reads
        except OSError:
            hosted = set()
        if hosted - set(names):
            # Their display names, as the root lists them (hosted projects are not the state's).
            shown = self._root_names()
            names = {**names, **{name: shown.get(name, name) for name in hosted - set(names)}}
        return names, status, frozenset(hosted)

    def _read_mirrored(self) -> tuple[dict[str, str], MirrorStatus]:
        """Return the mirror's projects (normalised name -> display name) and its status."""
        free = self.storage.free_bytes()
        try:
            with MirrorState.open_read_only(self.directory) as state:
                names = state.project_names()
                bundle, _ = ImportRecord(self.directory).read()
                return names, MirrorStatus(state.totals(), state.last_run(), free, bundle=bundle)
        except (MirrorStateError, sqlite3.Error) as error:
            # A server of a tree mirrored elsewhere: what the mirroring machine published.
            summary = summary_in(self.storage)
            if summary is not None:
                status = MirrorStatus(summary.totals, summary.last_run, free, bundle=summary.bundle)
                return self._root_names(), status
            return self._root_names(), MirrorStatus(free_bytes=free, problem=str(error))

    def _root_names(self) -> dict[str, str]:
        """Return the projects the root JSON page lists (none if it cannot be read)."""
        try:
            data = json.loads(read_quietly(self.storage, "simple/index.v1_json") or b"")
            listed = [str(project["name"]) for project in data["projects"]]
        except (OSError, ValueError, KeyError, TypeError):
            return {}
        return {canonicalize_name(display): display for display in listed}

    def _read_project(
        self, name: str
    ) -> tuple[ProjectListing, str, list[tuple[str, str, str]], bool] | None:
        """Return project ``name``'s published listing, display name, what the policy
        keeps out of it, and whether it is hosted; None if unknown."""
        try:
            listing = published_listing(self.storage, name)
        except PageFormatError:  # `cellar verify` reports it; for people, no such project
            listing = None
        if listing is None:
            return None
        refused: list[tuple[str, str, str]] = []
        try:
            with MirrorState.open_read_only(self.directory) as state:
                display = state.display_name(name) or name
                for record in state.refusals(name):
                    what = record.filename or f"{record.version} (every file)"
                    refused.append((what, record.rule, record.detail))
        except (MirrorStateError, sqlite3.Error):
            display = name
        hosted = self.storage.stat(record_key(NormalizedName(name))) is not None
        if hosted:
            display = listing.name
        return listing, display, refused, hosted


def _wants_simple_api(request: web.Request) -> bool:
    """True when the client names a Simple API type (PEP 691) in Accept or ``?format=``."""
    if "format" in request.query:
        return True
    accept = ",".join(request.headers.getall(hdrs.ACCEPT, []))
    return any(
        r.type == "application" and r.subtype.startswith(_SIMPLE_TYPES) and r.q > 0
        for r in parse_accept(accept)
    )


def _with_query(location: str, request: web.Request) -> str:
    query = request.rel_url.raw_query_string
    return f"{location}?{query}" if query else location


def _html(body: bytes, *, status: int = 200, vary: bool = False) -> web.Response:
    headers = {**_HEADERS, hdrs.CONTENT_TYPE: _HTML}
    if vary:
        headers[hdrs.VARY] = hdrs.ACCEPT
    return web.Response(body=body, status=status, headers=headers)


def _not_found(spelled: str, *, slash: bool) -> web.Response:
    # /project/<name>/ is two levels below the root, /project/<name> one.
    return _html(render_not_found(spelled, "../../" if slash else "../"), status=404)
