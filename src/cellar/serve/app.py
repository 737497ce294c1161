"""The HTTP server for a mirror's web root: negotiated Simple API pages and distribution files.

The mirror writes every page pre-rendered (``simple/[<project>/]index.html``, ``index.v1_html``,
``index.v1_json``) and replaces them atomically while this server runs, so a request opens the
file it chose and takes everything from that open file (``pages.py``: ETag, Last-Modified, 304,
gzip or zstd, only the compressed bodies cached). Routes (GET and HEAD only, 405 otherwise):

    /simple/               the root page, format negotiated (PEP 691) and compressed,
                           ``Vary: Accept, Accept-Encoding``
    /simple/<project>/     a project page; other spellings of the name and a missing slash get
                           a 301 to the normalised name (PEP 503), unknown projects a 404
    /packages/<path>       a file below ``<web_root>/packages``; Range and conditional requests
    /health                200 "ok"
    /, /project/<name>/    pages for people (``serve/human_routes.py``); ``/`` still sends a
                           PEP 691 client a 302 to /simple/

Redirects use relative locations, like the links in the pages, so a mirror behind a reverse proxy
under a path prefix keeps working.

The Simple API's handlers (pages, redirects, files, ``/health``) are in ``simple_routes.py``.
Files are sent byte for byte, never encoded, with their own types (``files.py``); paths that
could leave ``<web_root>/packages`` are refused before anything is opened. The HTTP rules the
server applies itself (codings, conditions, ranges, Cache-Control) are in ``http.py``; basic
auth from an htpasswd file in ``auth.py``; TLS in ``tls.py``; ``docs/serving.md`` describes it
all for operators.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from cellar.config.serve import ServeSettings
from cellar.serve.access_log import counting_access_logger
from cellar.serve.auth import BasicAuth, auth_middleware, read_htpasswd
from cellar.serve.dispatch import direct_dispatch
from cellar.serve.errors import (
    AddressUnavailableError,
    HtpasswdError,
    ServeError,
    TlsError,
    WebRootError,
)
from cellar.serve.exposition import MetricsPage
from cellar.serve.files import file_content_type
from cellar.serve.guard import ConnectionGuard, GuardedSite, connection_cap
from cellar.serve.human_routes import PeoplePages
from cellar.serve.metrics import ServerMetrics
from cellar.serve.pages import PageCache
from cellar.serve.protocol import SERVER_NAME, CellarRequestHandler
from cellar.serve.pypi_routes import JsonApi
from cellar.serve.simple_routes import SimpleHandlers
from cellar.serve.sockets import bind_sockets
from cellar.serve.tls import server_ssl_context
from cellar.serve.upload import UploadRoute, close_route, upload_route
from cellar.sync.hosting import HostedWriter
from cellar.tree.location import TreeLocation
from cellar.tree.open import open_tree
from cellar.tree.storage import Storage, StorageError

__all__ = [
    "ACCESS_LOGGER",
    "ACCESS_LOG_FORMAT",
    "SHUTDOWN_TIMEOUT",
    "AddressUnavailableError",
    "HtpasswdError",
    "RunningServer",
    "ServeError",
    "TlsError",
    "WebRootError",
    "check_private_files",
    "file_content_type",
    "make_app",
    "served_tree",
    "start",
]

ACCESS_LOGGER: Final = "cellar.serve.access"
#: Apache's Combined Log Format, which log analysers read without configuration. The size is
#: the Content-Length sent ("-" if none): aiohttp's own %b would count the headers too.
ACCESS_LOG_FORMAT: Final = '%a - - %t "%r" %s %{Content-Length}o "%{Referer}i" "%{User-Agent}i"'
#: How long a graceful shutdown waits for requests in flight (large downloads) before closing.
SHUTDOWN_TIMEOUT: Final = 10.0

_METHODS: Final = ("GET", "HEAD")
#: The application's Simple API handlers, which ``start`` also calls directly (``dispatch.py``).
SIMPLE_HANDLERS: Final = web.AppKey("simple_handlers", SimpleHandlers)
#: The name of the ``/health`` route, which may be left open when everything else needs auth.
_HEALTH: Final = "health"
#: The upload routes (``[hosted] upload-path``, with and without its slash): POST is let
#: through to them, and they check upload credentials themselves, never the readers'.
_UPLOAD_ROUTES: Final = frozenset({"upload", "upload-bare"})


@web.middleware
async def _http_rules(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.version < (1, 0):
        # HTTP/0.9, or a request line without a version: no headers, no status line back.
        raise web.HTTPBadRequest(text="a request line needs an HTTP/1.x version\n")
    if request.version >= (2, 0):
        raise web.HTTPVersionNotSupported(text="this server speaks HTTP/1.0 and HTTP/1.1\n")
    if request.method not in _METHODS and not (
        request.method == "POST" and request.match_info.route.name in _UPLOAD_ROUTES
    ):
        raise web.HTTPMethodNotAllowed(request.method, _METHODS)
    return await handler(request)


async def _server_header(request: web.Request, response: web.StreamResponse) -> None:
    # aiohttp would name itself and the Python version: nothing a client needs to know.
    response.headers[hdrs.SERVER] = SERVER_NAME


def _closing(auth: BasicAuth) -> Callable[[web.Application], Awaitable[None]]:
    async def close(app: web.Application) -> None:
        auth.close()

    return close


def _releasing(storage: Storage) -> Callable[[web.Application], Awaitable[None]]:
    async def release(app: web.Application) -> None:
        await asyncio.to_thread(storage.close)

    return release


def served_tree(tree: TreeLocation) -> Storage:
    """Return the tree at ``tree`` that a server reads everything it sends from.

    Raises ``WebRootError`` when it has no ``simple/`` folder (not a mirror's tree), or
    ``ServeError`` when its object store cannot be read (what is wrong, in one line).
    """
    try:
        storage = open_tree(tree)
        folders = storage.folders("")
    except (StorageError, OSError) as error:
        raise ServeError(str(error)) from None
    if "simple" not in folders:
        raise WebRootError(tree.web_root if tree.storage.s3 is None else tree.describe())
    return storage


def make_app(
    web_root: Path,
    settings: ServeSettings | None = None,
    *,
    index_url: str | None = None,
    mirror_directory: Path | None = None,
    metrics: ServerMetrics | None = None,
    storage: Storage | None = None,
) -> web.Application:
    """Return the aiohttp application serving ``web_root`` (which must contain ``simple/``).

    ``settings`` (default: ``ServeSettings()``) say who may read: with ``htpasswd``, every
    request needs basic auth (``/health`` too unless ``health_without_auth``); the file is
    read here; listening and TLS are ``start``'s. The pages for people show ``index_url`` as
    the index to use (None: made from each request's Host) and read the state of the mirror
    in ``mirror_directory`` (default: the web root's parent, as ``cellar mirror`` lays it out).
    ``/metrics`` reports ``metrics`` (default: a private table; ``start`` passes the one its
    access logger counts into).
    Everything sent is read from ``storage`` (default: the local tree at ``web_root``).
    Raises ``WebRootError`` (a ``ServeError``) when ``web_root`` has no ``simple/`` folder,
    ``HtpasswdError`` when the htpasswd file is unreadable or malformed.
    """
    settings = settings or ServeSettings()
    if storage is None:
        storage = served_tree(TreeLocation(web_root))
    handlers = SimpleHandlers(storage, PageCache())
    middlewares: list[Middleware] = [_http_rules]
    auth = BasicAuth.load(settings.htpasswd) if settings.htpasswd is not None else None
    uploads = _upload_route(settings, storage)
    if auth is not None:
        open_routes = frozenset({_HEALTH} if settings.health_without_auth else ())
        if uploads is not None:
            open_routes |= _UPLOAD_ROUTES
        # First: a request without credentials learns nothing, not even which methods exist.
        middlewares.insert(0, auth_middleware(auth, open_routes))
    app = web.Application(middlewares=middlewares)
    app[SIMPLE_HANDLERS] = handlers
    app.on_response_prepare.append(_server_header)
    if auth is not None:
        app.on_cleanup.append(_closing(auth))
    app.on_cleanup.append(_releasing(storage))
    if uploads is not None:
        _add_upload_routes(app, uploads, settings)
    people = PeoplePages(storage, mirror_directory or web_root.parent, index_url)
    people.add_routes(app.router)
    app.router.add_get("/health", handlers.health, name=_HEALTH)
    app.router.add_get("/simple", handlers.simple_redirect)
    app.router.add_get("/simple/", handlers.root_page)
    app.router.add_get("/simple/{project}/", handlers.project_page)
    app.router.add_get("/simple/{project}", handlers.project_no_slash)
    app.router.add_get("/packages/{path:.+}", handlers.package_file)
    metrics_page = MetricsPage(metrics or ServerMetrics.private(), storage)
    app.router.add_get("/metrics", metrics_page.get)
    JsonApi(storage).add_routes(app.router)
    return app


def _upload_route(settings: ServeSettings, storage: Storage) -> UploadRoute | None:
    """The upload route ``settings`` ask for, or None. Raises ``HtpasswdError`` for an
    unusable uploaders file."""
    uploads = settings.uploads
    if uploads is None or uploads.hosted.upload_path is None:
        return None
    writer = HostedWriter(
        storage,
        hash_index=uploads.hash_index,
        merged=uploads.hosted.allow_upstream,
        reserve=uploads.hosted.reserve,
    )
    return upload_route(uploads.hosted, writer)


def _add_upload_routes(app: web.Application, route: UploadRoute, settings: ServeSettings) -> None:
    assert settings.uploads is not None  # noqa: S101 - the route exists
    path = settings.uploads.hosted.upload_path
    assert path is not None  # noqa: S101 - the route exists

    async def close(app: web.Application) -> None:
        await close_route(route)

    app.on_cleanup.append(close)
    app.router.add_post(path, route.post, name="upload")
    app.router.add_post(path.rstrip("/"), route.post, name="upload-bare")
    app.router.add_get(path, route.get)


@dataclass(frozen=True, slots=True)
class RunningServer:
    """A started server: where it listens, and ``close()`` to stop it gracefully."""

    runner: web.AppRunner
    host: str
    port: int
    #: "https" when the server speaks TLS.
    scheme: str = "http"
    #: The connections it has open, waited for on close.
    guard: ConnectionGuard | None = None

    @property
    def url(self) -> str:
        """The base URL, with a trailing slash (``http://127.0.0.1:8080/``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}/"

    async def close(self) -> None:
        """Stop listening, let requests in flight finish (up to SHUTDOWN_TIMEOUT), clean up,
        and let the connections send what they still hold."""
        await self.runner.cleanup()
        if self.guard is not None:
            await self.guard.wait_closed(SHUTDOWN_TIMEOUT)

    async def __aenter__(self) -> RunningServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def start(
    web_root: Path,
    settings: ServeSettings,
    *,
    index_url: str | None = None,
    sockets: Sequence[socket.socket] = (),
    metrics: ServerMetrics | None = None,
    storage: Storage | None = None,
) -> RunningServer:
    """Start serving ``web_root`` (its tree read from ``storage``, by default
    ``served_tree(web_root)``) as ``settings`` say and return at once.

    Listens on ``settings.host``:``settings.port`` (0 picks a free port), with TLS when
    ``settings.tls``, asking for basic auth when ``settings.htpasswd`` is set. ``index_url`` is
    the index the pages for people tell clients to use (see ``make_app``). ``sockets``, when
    given, are listening sockets to serve on instead (a worker's, see ``supervisor.py``), and
    ``metrics`` what requests are counted into (default: a private table for this server).

    Returns a ``RunningServer`` whose ``port`` is the port actually bound. Raises
    ``WebRootError`` for a web root without ``simple/``, ``HtpasswdError`` and ``TlsError`` for
    unusable files, and ``AddressUnavailableError`` when the address is in use or cannot be
    bound (all ``ServeError``), before anything listens.
    """
    host, port = settings.host, settings.port
    metrics = metrics if metrics is not None else ServerMetrics.private()
    app = make_app(web_root, settings, index_url=index_url, metrics=metrics, storage=storage)
    ssl_context = None
    if settings.tls_certificate is not None and settings.tls_key is not None:
        ssl_context = server_ssl_context(settings.tls_certificate, settings.tls_key)
    handler_options: dict[str, Any] = {
        "access_log": logging.getLogger(ACCESS_LOGGER),
        "access_log_class": counting_access_logger(metrics),
        "access_log_format": ACCESS_LOG_FORMAT,
        "keepalive_timeout": settings.idle_timeout,
    }
    runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT, **handler_options)
    loop = asyncio.get_running_loop()
    guard = ConnectionGuard(connection_cap(settings.max_connections), settings.header_timeout)
    guard.install(loop)
    owned = not sockets
    listening = list(sockets) or bind_sockets(host, port)
    await runner.setup()
    assert runner.server is not None  # noqa: S101 - set up above
    if settings.htpasswd is None:
        # With auth, every request must pass its middleware: no short way then.
        runner.server.request_handler = direct_dispatch(
            app[SIMPLE_HANDLERS], runner.server.request_handler
        )

    def connection() -> asyncio.Protocol:
        # What the runner's own server makes, but answering malformed requests our way.
        assert runner.server is not None  # noqa: S101 - set up above
        return CellarRequestHandler(runner.server, loop=loop, **handler_options)

    try:
        for listener in listening:
            site = GuardedSite(
                runner,
                listener,
                guard.wrap(connection),
                ssl_context=ssl_context,
                handshake_timeout=settings.header_timeout,
            )
            await site.start()
    except OSError as error:
        await runner.cleanup()
        if owned:
            for listener in listening:
                listener.close()
        in_use = error.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", None))
        reason = error.strerror or str(error)
        raise AddressUnavailableError(host, port, reason, in_use=in_use) from error
    bound_port: int = runner.addresses[0][1]
    return RunningServer(runner, host, bound_port, "https" if ssl_context else "http", guard)


def check_private_files(settings: ServeSettings) -> None:
    """Check that the htpasswd file, TLS certificate and key ``settings`` name are usable.

    Raises ``HtpasswdError`` or ``TlsError`` (``ServeError``) naming the file at fault.
    """
    if settings.htpasswd is not None:
        read_htpasswd(settings.htpasswd)
    if settings.uploads is not None and settings.uploads.hosted.uploaders is not None:
        read_htpasswd(settings.uploads.hosted.uploaders)
    if settings.tls_certificate is not None and settings.tls_key is not None:
        server_ssl_context(settings.tls_certificate, settings.tls_key)
