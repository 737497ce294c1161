"""The short way for the requests a mirror answers most: project pages and files.

aiohttp's application finds a request's handler with its router, then runs it inside the
middlewares, and the ``on_response_prepare`` signal before the answer goes out: a third of
the time of answering a page from memory. Almost every request a mirror gets is
``GET /simple/<project>/`` or ``GET /packages/<path>``, so ``direct_dispatch`` wraps the
application's request handler: such a request (GET or HEAD, HTTP/1.x) goes straight to
``SimpleHandlers``, whose answers name the server themselves. Everything else goes the
application's way, and so does any of these whose answer is not a success (a 404, a
redirect, a refusal), so every rule and header the application applies still holds.

Not used when the server asks for basic auth: every request then passes the auth middleware.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web
from aiohttp.http import HttpVersion10, HttpVersion11

from cellar.serve.simple_routes import SimpleHandlers

RequestHandler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]

_PAGES: Final = "/simple/"
_FILES: Final = "/packages/"
_METHODS: Final = frozenset({"GET", "HEAD"})
_VERSIONS: Final = frozenset({HttpVersion10, HttpVersion11})


def direct_dispatch(handlers: SimpleHandlers, application: RequestHandler) -> RequestHandler:
    """Return a request handler answering project pages and files with ``handlers`` directly,
    and every other request (and every one of those that is not a success) with
    ``application``, the application's own request handler."""

    async def dispatch(request: web.BaseRequest) -> web.StreamResponse:
        if request.method in _METHODS and request.version in _VERSIONS:
            path = request.path
            try:
                if path.startswith(_PAGES):
                    spelled = path[len(_PAGES) : -1]
                    if path.endswith("/") and spelled and "/" not in spelled:
                        return await handlers.project(request, spelled, slash=True)
                elif path.startswith(_FILES) and len(path) > len(_FILES):
                    return await handlers.file(request, path[len(_FILES) :])
            except web.HTTPException:
                pass  # the application answers it, with its own rules
        return await application(request)

    return dispatch
