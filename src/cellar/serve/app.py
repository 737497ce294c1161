"""The HTTP server for a mirror's web root: negotiated Simple API pages and distribution files.

The mirror writes every page pre-rendered (``simple/[<project>/]index.html``, ``index.v1_html``,
``index.v1_json``) and replaces them atomically while this server runs, so a request opens the
file it chose and nothing is cached between requests. Routes (GET and HEAD only, 405 otherwise):

    /simple/               the root page, format negotiated (PEP 691), ``Vary: Accept``
    /simple/<project>/     a project page; other spellings of the name and a missing slash get
                           a 301 to the normalised name (PEP 503), unknown projects a 404
    /packages/<path>       a file below ``<web_root>/packages``; Range and conditional requests
    /health                200 "ok"
    /                      302 to /simple/

Redirects use relative locations, like the links in the pages, so a mirror behind a reverse proxy
under a path prefix keeps working.

Files are sent byte for byte, never with a Content-Encoding (aiohttp would otherwise send a
``<file>.gz`` beside the file gzip-encoded, and clients would hash the wrong bytes). Their types:
wheels, ``.zip`` and ``.egg`` application/zip; ``.tar.gz``/``.tgz`` application/gzip; ``.tar.bz2``
application/x-bzip2; ``.tar.xz`` application/x-xz; PEP 658 ``.metadata`` text/plain (UTF-8, so
browsers show it); ``.asc`` application/pgp-signature; anything else application/octet-stream.
A path with an empty, hidden (leading ``.``; this also covers ``..``) or NUL-bearing segment, or
one that resolves outside ``<web_root>/packages`` (symlinks included), is a 404.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.typedefs import Handler
from packaging.utils import InvalidName, canonicalize_name

from cellar.errors import CellarError
from cellar.serve.negotiate import PageFormat, acceptable_formats

ACCESS_LOGGER: Final = "cellar.serve.access"
#: Apache's Combined Log Format, which log analysers read without configuration. The size is
#: the Content-Length sent ("-" if none): aiohttp's own %b would count the headers too.
ACCESS_LOG_FORMAT: Final = '%a - - %t "%r" %s %{Content-Length}o "%{Referer}i" "%{User-Agent}i"'
#: How long a graceful shutdown waits for requests in flight (large downloads) before closing.
SHUTDOWN_TIMEOUT: Final = 10.0

_METHODS: Final = ("GET", "HEAD")
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


class ServeError(CellarError):
    """``cellar serve`` could not start; the message says why and what to do."""


class WebRootError(ServeError):
    """``web_root`` is not a mirror's web root (it has no ``simple/`` directory)."""

    def __init__(self, web_root: Path) -> None:
        super().__init__(
            f"{web_root} is not a mirror's web root: it has no simple/ directory; "
            "pass the directory `cellar mirror` writes to, or run `cellar mirror` first"
        )
        self.web_root = web_root


class AddressUnavailableError(ServeError):
    """The server cannot listen on ``host``:``port``; ``reason`` is the system's explanation."""

    def __init__(self, host: str, port: int, reason: str, *, in_use: bool) -> None:
        if in_use:
            message = (
                f"port {port} on {host} is already in use; stop the program using it "
                "or choose another port"
            )
        else:
            message = f"cannot listen on port {port} on {host}: {reason}; choose another address"
        super().__init__(message)
        self.host = host
        self.port = port
        self.reason = reason
        self.in_use = in_use


def file_content_type(name: str) -> str:
    """Return the Content-Type to send for a file called ``name`` (see the module docstring)."""
    lowered = name.lower()
    for suffix, content_type in _FILE_TYPES:
        if lowered.endswith(suffix):
            return content_type
    return "application/octet-stream"


class _ExactFileResponse(web.FileResponse):
    """A FileResponse that never substitutes a pre-compressed ``.gz``/``.br`` sibling."""

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        headers = request.headers.copy()
        headers.popall(hdrs.ACCEPT_ENCODING, None)
        return await super().prepare(request.clone(headers=headers))


@dataclass(frozen=True, slots=True)
class _Handlers:
    """The request handlers, bound to one web root."""

    web_root: Path

    async def root_redirect(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(_with_query("simple/", request))

    async def health(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok\n")

    async def simple_redirect(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPMovedPermanently(_with_query("simple/", request))

    async def root_page(self, request: web.Request) -> web.StreamResponse:
        return await _page(request, [self.web_root / "simple"], "the mirror has no root page yet\n")

    async def project_page(self, request: web.Request) -> web.StreamResponse:
        return await self._project(request, slash=True)

    async def project_no_slash(self, request: web.Request) -> web.StreamResponse:
        return await self._project(request, slash=False)

    async def _project(self, request: web.Request, *, slash: bool) -> web.StreamResponse:
        spelled = request.match_info["project"]
        not_found = f"no project named {spelled!r} on this mirror\n"
        try:
            name = canonicalize_name(spelled, validate=True)
        except InvalidName:
            raise web.HTTPNotFound(text=not_found) from None
        # bandersnatch's hash-index layout keeps the pages in simple/<first letter>/<name>/.
        directories = [self.web_root / "simple" / name, self.web_root / "simple" / name[0] / name]
        if slash and spelled == name:
            return await _page(request, directories, not_found)
        if not await asyncio.to_thread(_any_directory, directories):
            raise web.HTTPNotFound(text=not_found)
        # Relative, so a path prefix added by a reverse proxy survives.
        location = f"../{name}/" if slash else f"{name}/"
        raise web.HTTPMovedPermanently(_with_query(location, request))

    async def package_file(self, request: web.Request) -> web.StreamResponse:
        relative = request.match_info["path"]
        path = await asyncio.to_thread(_package_path, self.web_root / "packages", relative)
        if path is None:
            raise web.HTTPNotFound(text="no such file on this mirror\n")
        # The type comes from the requested name: the file may be a symlink to a blob.
        content_type = file_content_type(relative.rpartition("/")[2])
        return _ExactFileResponse(path, headers={hdrs.CONTENT_TYPE: content_type})


def _with_query(location: str, request: web.Request) -> str:
    query = request.rel_url.raw_query_string
    return f"{location}?{query}" if query else location


async def _page(
    request: web.Request, directories: list[Path], not_found: str
) -> web.StreamResponse:
    accept = ",".join(request.headers.getall(hdrs.ACCEPT, [])) or None
    formats = acceptable_formats(accept, request.query.get("format"))
    found = await asyncio.to_thread(_first_page, directories, formats)
    if found is None:
        raise web.HTTPNotFound(text=not_found)
    page_format, path = found
    # If the mirror replaces the file after this check, FileResponse opens the new one (rename
    # is atomic) and answers 404, not 500, should it be gone.
    headers = {hdrs.CONTENT_TYPE: page_format.header_value, hdrs.VARY: hdrs.ACCEPT}
    return _ExactFileResponse(path, headers=headers)


def _first_page(
    directories: list[Path], formats: tuple[PageFormat, ...]
) -> tuple[PageFormat, Path] | None:
    """Return the first of ``formats`` whose page file exists in the first of ``directories``
    that has any page file, with its path."""
    for directory in directories:
        for page_format in formats:
            path = directory / page_format.file_name
            if path.is_file():
                return page_format, path
    return None


def _any_directory(directories: list[Path]) -> bool:
    return any(directory.is_dir() for directory in directories)


def _package_path(packages: Path, relative: str) -> Path | None:
    """Return the regular file ``relative`` names inside ``packages``, or None if it is unsafe."""
    segments = relative.split("/")
    if any(not s or s.startswith(".") or "\x00" in s or "\\" in s for s in segments):
        return None
    try:
        base = packages.resolve(strict=True)
        path = base.joinpath(*segments).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):  # missing, symlink loop, odd name
        return None
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path


@web.middleware
async def _only_get_and_head(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method not in _METHODS:
        raise web.HTTPMethodNotAllowed(request.method, _METHODS)
    return await handler(request)


def make_app(web_root: Path) -> web.Application:
    """Return the aiohttp application serving ``web_root`` (which must contain ``simple/``).

    Raises ``WebRootError`` (a ``ServeError``) when ``web_root/simple`` is not a directory.
    """
    if not (web_root / "simple").is_dir():
        raise WebRootError(web_root)
    handlers = _Handlers(web_root)
    app = web.Application(middlewares=[_only_get_and_head])
    app.router.add_get("/", handlers.root_redirect)
    app.router.add_get("/health", handlers.health)
    app.router.add_get("/simple", handlers.simple_redirect)
    app.router.add_get("/simple/", handlers.root_page)
    app.router.add_get("/simple/{project}/", handlers.project_page)
    app.router.add_get("/simple/{project}", handlers.project_no_slash)
    app.router.add_get("/packages/{path:.+}", handlers.package_file)
    return app


@dataclass(frozen=True, slots=True)
class RunningServer:
    """A started server: where it listens, and ``close()`` to stop it gracefully."""

    runner: web.AppRunner
    host: str
    port: int

    @property
    def url(self) -> str:
        """The base URL, with a trailing slash (``http://127.0.0.1:8080/``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    async def close(self) -> None:
        """Stop listening, let requests in flight finish (up to SHUTDOWN_TIMEOUT), clean up."""
        await self.runner.cleanup()

    async def __aenter__(self) -> RunningServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def start(web_root: Path, host: str, port: int) -> RunningServer:
    """Start serving ``web_root`` on ``host``:``port`` (0 picks a free port) and return at once.

    Returns a ``RunningServer`` whose ``port`` is the port actually bound. Raises ``WebRootError``
    for a web root without ``simple/`` and ``AddressUnavailableError`` when the address is in
    use or cannot be bound (both ``ServeError``).
    """
    app = make_app(web_root)
    runner = web.AppRunner(
        app,
        access_log=logging.getLogger(ACCESS_LOGGER),
        access_log_format=ACCESS_LOG_FORMAT,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as error:
        await runner.cleanup()
        in_use = error.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", None))
        reason = error.strerror or str(error)
        raise AddressUnavailableError(host, port, reason, in_use=in_use) from error
    bound_port: int = runner.addresses[0][1]
    return RunningServer(runner, host, bound_port)


def serve_forever(
    web_root: Path, host: str, port: int, *, on_ready: Callable[[str], None] | None = None
) -> None:
    """Serve ``web_root`` on ``host``:``port`` until SIGINT or SIGTERM, then shut down gracefully.

    ``on_ready`` is called with the base URL (see ``RunningServer.url``) once the server listens.
    Returns normally after a signal; raises ``ServeError`` when the server cannot start.
    """
    try:
        asyncio.run(_serve_until_signalled(web_root, host, port, on_ready))
    except KeyboardInterrupt:  # where signal handlers are unavailable (Windows), Ctrl-C is this
        return


async def _serve_until_signalled(
    web_root: Path, host: str, port: int, on_ready: Callable[[str], None] | None
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed = []
    async with await start(web_root, host, port) as server:
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, stop.set)
            except NotImplementedError:
                continue
            installed.append(signum)
        try:
            if on_ready is not None:
                on_ready(server.url)
            await stop.wait()
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)
