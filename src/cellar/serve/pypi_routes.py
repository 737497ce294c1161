"""``/pypi/<name>/json`` and ``/pypi/<name>/<version>/json``: PyPI's JSON API over the mirror.

Each request reads the project's published ``index.v1_json`` (``simple/<name>/``, else
bandersnatch's hash-index ``simple/<letter>/<name>/``), which the mirror replaces atomically and
which lists only files in place, and the described release's ``.metadata`` file (checked
against the sha256 the page states; without it ``info`` has fewer fields). ``pypi_json.py``
builds the document.

Like the Simple API: an unknown or invalid name is a 404, another spelling of a name (or of a
version: ``1.0.0`` for ``1.0``) a 301 to the normalised one, with a relative location. A
version the mirror does not hold is a 404. File URLs are absolute, made from the URL the
client asked for (its scheme and Host), because tools read them without resolving.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass

from aiohttp import hdrs, web
from packaging.utils import InvalidName, canonicalize_name
from packaging.version import Version
from yarl import URL

from cellar.model import ProjectListing
from cellar.serve.http import PAGE_CACHE_CONTROL
from cellar.serve.pypi_json import (
    current_version,
    find_version,
    metadata_source,
    project_document,
    render_document,
)
from cellar.sync.pages import PageFormatError, published_listing
from cellar.sync.paths import METADATA_SUFFIX
from cellar.tree.storage import Storage, read_quietly

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JsonApi:
    """The JSON API routes over one mirror's tree."""

    storage: Storage

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Add ``/pypi/{project}/json`` and ``/pypi/{project}/{version}/json`` to ``router``."""
        router.add_get("/pypi/{project}/json", self.project)
        router.add_get("/pypi/{project}/{version}/json", self.release)

    async def project(self, request: web.Request) -> web.StreamResponse:
        """Answer ``/pypi/<name>/json``."""
        return await self._answer(request, None)

    async def release(self, request: web.Request) -> web.StreamResponse:
        """Answer ``/pypi/<name>/<version>/json``."""
        return await self._answer(request, request.match_info["version"])

    async def _answer(self, request: web.Request, spelled_version: str | None) -> web.Response:
        spelled = request.match_info["project"]
        not_found = f"no project named {spelled!r} on this mirror\n"
        try:
            name = canonicalize_name(spelled, validate=True)
        except InvalidName:
            raise web.HTTPNotFound(text=not_found) from None
        listing = await asyncio.to_thread(self._listing, name)
        if listing is None:
            raise web.HTTPNotFound(text=not_found)
        version = None
        if spelled_version is not None:
            version = find_version(listing, spelled_version)
            if version is None:
                raise web.HTTPNotFound(
                    text=f"{name} has no release {spelled_version!r} on this mirror\n"
                )
        if spelled != name or (version is not None and spelled_version != str(version)):
            # Relative, so a path prefix added by a reverse proxy survives.
            location = f"../{name}/json" if version is None else f"../../{name}/{version}/json"
            raise web.HTTPMovedPermanently(_with_query(location, request))
        described = version if version is not None else current_version(listing)
        metadata = None
        if described is not None:
            metadata = await asyncio.to_thread(self._metadata, listing, described)
        # The web root as the client sees it: /pypi/<name>/json is two levels below it.
        base_url = request.url.join(URL("../../" if version is None else "../../../"))
        document = project_document(
            listing, base_url=str(base_url), version=version, metadata=metadata
        )
        # Cached like the Simple API pages it is made from: a sync shows within a minute.
        headers = {hdrs.CACHE_CONTROL: PAGE_CACHE_CONTROL}
        body = render_document(document)
        return web.Response(body=body, content_type="application/json", headers=headers)

    def _listing(self, name: str) -> ProjectListing | None:
        """Return project ``name``'s published listing, None if the mirror has no page for it.

        Raises ``HTTPInternalServerError`` for a page that is not what Cellar writes.
        """
        try:
            return published_listing(self.storage, name)
        except PageFormatError as error:
            log.warning("cannot answer the JSON API: %s", error)
            raise web.HTTPInternalServerError(
                text=f"the mirror's page of {name!r} cannot be read\n"
            ) from None

    def _metadata(self, listing: ProjectListing, version: Version) -> bytes | None:
        """Return the core metadata of ``version`` if the mirror holds it, intact."""
        source = metadata_source(listing, version)
        if source is None:
            return None
        body = read_quietly(self.storage, source.path + METADATA_SUFFIX)
        if body is None:  # pruned since the page was read, or not the mirror's
            return None
        if hashlib.sha256(body).hexdigest() != source.metadata_sha256:
            return None
        return body


def _with_query(location: str, request: web.Request) -> str:
    query = request.rel_url.raw_query_string
    return f"{location}?{query}" if query else location
