"""A real Simple Repository API index on 127.0.0.1 that tests fill with files and make misbehave.

:class:`LocalIndex` serves PEP 503 HTML and PEP 691 JSON (chosen by the ``Accept`` header, or the
``format`` query parameter), PEP 658 ``.metadata`` files, PEP 700 fields and PEP 792 project
status, from stdlib ``http.server`` in a daemon thread. Tests add distributions, list hostile
entries, and switch faults on per path: error statuses, delays, corrupted, truncated or malformed
bodies, redirects. Every request is logged so a test can prove what a client did and did not ask.

Quarantined projects list no files, as PEP 792 requires of an index.
"""

from __future__ import annotations

import fnmatch
import hashlib
import html
import json
import posixpath
import socket
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal, Self, cast
from urllib.parse import parse_qs, quote, unquote, urlsplit

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from .packages import Dist

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
HTML_LEGACY = "text/html"
_OFFERS = {
    JSON_V1: JSON_V1,
    "application/vnd.pypi.simple.latest+json": JSON_V1,
    HTML_V1: HTML_V1,
    "application/vnd.pypi.simple.latest+html": HTML_V1,
    HTML_LEGACY: HTML_LEGACY,
}
_OCTET = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the index received it; ``path`` is unquoted and without the query."""

    method: str
    path: str
    target: str
    headers: Message


@dataclass(slots=True)
class Fault:
    """A misbehaviour for requests whose path matches ``pattern`` (substring, or glob if it has
    ``*?[``). It applies to the first ``times`` matching requests (all if ``None``)."""

    pattern: str
    status: int | None = None
    retry_after: str | None = None
    delay: float = 0.0
    wrong_bytes: bool = False
    truncate: bool = False
    malformed: bool = False
    redirect_to: str | None = None
    times: int | None = None
    method: str | None = None
    hits: int = 0

    def applies_to(self, method: str, path: str) -> bool:
        """Return whether this fault still has uses left and matches the request."""
        if self.times is not None and self.hits >= self.times:
            return False
        return (self.method is None or self.method == method) and path_matches(self.pattern, path)


@dataclass(frozen=True, slots=True)
class RawAnswer:
    """An answer sent exactly as given for one path, whatever the index holds (hostile upstreams).

    ``body`` is sent ``repeat`` times (so huge bodies cost no memory here), with ``headers``
    added; ``drip`` sends it one byte every ``drip`` seconds. ``length`` overrides the
    Content-Length header (``None``: the true length; ``-1``: no header, close to end the body).
    """

    body: bytes
    content_type: str = "application/vnd.pypi.simple.v1+json"
    headers: tuple[tuple[str, str], ...] = ()
    repeat: int = 1
    drip: float = 0.0
    length: int | None = None
    status: int = 200


@dataclass(slots=True)
class _File:
    filename: str
    path: str | None  # the path it is served at here; None when the URL points elsewhere
    href: str | None  # the URL exactly as listed, for raw entries; None to derive from ``path``
    sha256: str
    size: int
    requires_python: str | None = None
    yanked: bool | str = False
    metadata_sha256: str | None = None
    upload_time: str | None = None
    provenance: str | None = None  # PEP 740: the URL of the file's provenance


@dataclass(slots=True)
class _Project:
    name: str
    files: dict[str, _File] = field(default_factory=dict)
    status: str | None = None
    status_reason: str | None = None
    serial: int = 0


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


def path_matches(pattern: str, path: str) -> bool:
    """Return whether ``path`` contains ``pattern``, or matches it as a glob if it has ``*?[``."""
    if any(char in pattern for char in "*?["):
        return fnmatch.fnmatchcase(path, pattern)
    return pattern in path


class LocalIndex:
    """An index served on 127.0.0.1; use it as a context manager or call start() and stop()."""

    def __init__(
        self,
        *,
        file_layout: Literal["pypi", "flat"] = "pypi",
        relative_urls: bool = False,
        html_only: bool = False,
        api_version: str = "1.1",
        ranges: bool = True,
        validators: bool = True,
    ) -> None:
        self.file_layout = file_layout
        self.ranges = ranges  # False: ignore Range headers, always answer 200 with the whole file
        self.validators = validators  # False: pages carry no ETag and are never answered 304
        self.relative_urls = relative_urls
        self.html_only = html_only
        self.api_version = api_version
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._projects: dict[str, _Project] = {}
        self._blobs: dict[str, bytes] = {}
        self._faults: list[Fault] = []
        self._raw: dict[str, RawAnswer] = {}
        self._log: list[RequestRecord] = []
        self._serial = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread; return the index."""
        if self._server is not None:
            raise RuntimeError("LocalIndex is already started")
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"LocalIndex:{self._server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and wait for every handler thread to end."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        thread.join()
        server.close_connections()
        server.server_close()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base(self) -> str:
        """The server's origin, ``http://127.0.0.1:PORT``; raises RuntimeError before start()."""
        if self._server is None:
            raise RuntimeError("LocalIndex is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        """The simple index URL, ``http://127.0.0.1:PORT/simple/``."""
        return f"{self.base}/simple/"

    def project_url(self, project: str) -> str:
        """The URL of ``project``'s page, under its normalised name."""
        return f"{self.url}{canonicalize_name(project)}/"

    # -- content ---------------------------------------------------------------------------

    def add(
        self,
        dist: Dist,
        *,
        project: str | None = None,
        yanked: bool | str = False,
        requires_python: str | None = None,
        metadata: bool = True,
        upload_time: datetime | str | None = None,
        provenance: str | None = None,
    ) -> str:
        """List ``dist`` on its project's page and serve it; return the path it is served at.

        ``project`` defaults to the ``Name`` in the dist's metadata. ``requires_python`` defaults
        to the metadata's ``Requires-Python``; pass ``""`` to list none. ``yanked`` may be a
        reason. ``metadata`` serves the PEP 658 file. ``provenance`` is listed as the file's
        PEP 740 provenance URL (the page then says API version 1.3 at least). Raises ValueError
        for a filename already listed on the project.
        """
        fields = BytesParser().parsebytes(dist.metadata, headersonly=True)
        name = project or fields["Name"] or _project_of(dist.filename)
        if requires_python is None:
            requires_python = fields["Requires-Python"]
        digest = hashlib.blake2b(dist.data, digest_size=32).hexdigest()
        if self.file_layout == "pypi":
            path = f"/packages/{digest[:2]}/{digest[2:4]}/{digest[4:]}/{dist.filename}"
        else:
            path = f"/files/{canonicalize_name(name)}/{dist.filename}"
        if isinstance(upload_time, datetime):
            upload_time = upload_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        entry = _File(
            filename=dist.filename,
            path=path,
            href=None,
            sha256=dist.sha256,
            size=len(dist.data),
            requires_python=requires_python or None,
            yanked=yanked,
            metadata_sha256=dist.metadata_sha256 if metadata else None,
            upload_time=upload_time,
            provenance=provenance,
        )
        with self._lock:
            self._list(name, entry)
            self._blobs[path] = dist.data
            if metadata:
                self._blobs[f"{path}.metadata"] = dist.metadata
        return path

    def add_raw_entry(
        self, project: str, filename: str, url: str, *, data: bytes = b"not a distribution\n"
    ) -> None:
        """List a file entry exactly as given (for hostile names and URLs).

        When ``url`` is local (relative, or on 127.0.0.1) ``data`` is served at its path, both as
        written and with dot segments resolved.
        """
        entry = _File(filename, None, url, hashlib.sha256(data).hexdigest(), len(data))
        parts = urlsplit(url)
        with self._lock:
            self._list(project, entry)
            if parts.netloc and parts.hostname != "127.0.0.1":
                return
            literal = unquote(posixpath.join(f"/simple/{canonicalize_name(project)}/", parts.path))
            for path in (literal, posixpath.normpath(literal)):
                self._blobs.setdefault(path, data)

    def remove(self, project: str, filename: str) -> None:
        """Take ``filename`` off ``project``'s page (its bytes stay downloadable, as on PyPI's
        CDN). Raises KeyError if it is not listed."""
        with self._lock:
            listed = self._projects[canonicalize_name(project)]
            del listed.files[filename]
            listed.serial = self._next_serial()

    def set_yanked(self, project: str, filename: str, yanked: bool | str) -> None:
        """Yank (``True`` or a reason) or un-yank (``False``) a listed file."""
        with self._lock:
            listed = self._projects[canonicalize_name(project)]
            listed.files[filename].yanked = yanked
            listed.serial = self._next_serial()

    def misstate_size(self, project: str, filename: str, size: int) -> None:
        """Make the page state a wrong ``size`` for a listed file (its bytes are unchanged)."""
        with self._lock:
            listed = self._projects[canonicalize_name(project)]
            listed.files[filename].size = size
            listed.serial = self._next_serial()

    def set_status(self, project: str, status: str | None, reason: str | None = None) -> None:
        """Set a PEP 792 status (``None`` for unstated); pages carrying one say API version 1.4."""
        with self._lock:
            listed = self._project(project)
            listed.status, listed.status_reason = status, reason
            listed.serial = self._next_serial()

    def file_path(self, filename: str) -> str:
        """Return the path ``filename`` is served at (for faults and counts); KeyError if none."""
        with self._lock:
            for listed in self._projects.values():
                entry = listed.files.get(filename)
                if entry is not None and entry.path is not None:
                    return entry.path
        raise KeyError(filename)

    # -- faults and the request log --------------------------------------------------------

    def fault(
        self,
        pattern: str,
        *,
        status: int | None = None,
        retry_after: str | None = None,
        delay: float = 0.0,
        wrong_bytes: bool = False,
        truncate: bool = False,
        malformed: bool = False,
        redirect_to: str | None = None,
        times: int | None = None,
        method: str | None = None,
    ) -> Fault:
        """Make requests matching ``pattern`` misbehave; return the fault (its ``hits`` count).

        Faults are tried in the order they were added; the first that applies wins. A delay comes
        first, then a redirect or a status; otherwise the normal answer is sent with its body
        corrupted (same length), made malformed, or truncated (full Content-Length, half the body,
        then the connection closes).
        """
        new = Fault(
            pattern,
            status,
            retry_after,
            delay,
            wrong_bytes,
            truncate,
            malformed,
            redirect_to,
            times,
            method,
        )
        if not (status or delay or wrong_bytes or truncate or malformed or redirect_to):
            raise ValueError("a fault needs at least one effect")
        with self._lock:
            self._faults.append(new)
        return new

    def answer_raw(self, path: str, answer: RawAnswer) -> None:
        """Answer every request for ``path`` (exact, unquoted, without the query) with ``answer``."""
        with self._lock:
            self._raw[path] = answer

    def clear_faults(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def count(self, pattern: str, method: str | None = None) -> int:
        """Return how many logged requests match ``pattern`` (as for faults) and ``method``."""
        return sum(
            1
            for record in self.requests
            if (method is None or record.method == method) and path_matches(pattern, record.path)
        )

    def reset_log(self) -> None:
        """Forget the logged requests."""
        with self._lock:
            self._log.clear()

    # -- internals (called with or taking the lock) -----------------------------------------

    def _next_serial(self) -> int:
        self._serial += 1
        return self._serial

    def _project(self, name: str) -> _Project:
        key = canonicalize_name(name)
        if key not in self._projects:
            self._projects[key] = _Project(name)
        return self._projects[key]

    def _list(self, name: str, entry: _File) -> None:
        listed = self._project(name)
        if entry.filename in listed.files:
            raise ValueError(f"{entry.filename} is already listed on {listed.name}")
        listed.files[entry.filename] = entry
        listed.serial = self._next_serial()

    def _arrive(self, method: str, target: str, headers: Message) -> tuple[str, Fault | None]:
        path = unquote(urlsplit(target).path)
        with self._lock:
            self._log.append(RequestRecord(method, path, target, headers))
            for candidate in self._faults:
                if candidate.applies_to(method, path):
                    candidate.hits += 1
                    return path, candidate
        return path, None

    def _route(self, path: str, target: str, headers: Message) -> _Response:
        query = urlsplit(target).query
        if path == "/simple":
            return self._redirect(301, "/simple/", query)
        if path.startswith("/simple/"):
            return self._simple_page(path.removeprefix("/simple/"), query, headers)
        with self._lock:
            data = self._blobs.get(path)
        if data is None:
            return _Response(404, b"Not Found\n")
        return _Response(200, data, _OCTET, (("Accept-Ranges", "bytes"),) if self.ranges else ())

    def _simple_page(self, name: str, query: str, headers: Message) -> _Response:
        media = self._negotiate(headers, query)
        if name == "":
            with self._lock:
                body = _render_root(media, self._projects, self._serial, self.relative_urls)
                return _page(media, body, self._serial)
        key = canonicalize_name(name.removesuffix("/"))
        if "/" in name.removesuffix("/"):
            return _Response(404, b"Not Found\n")
        if name != f"{key}/":
            return self._redirect(301, f"/simple/{key}/", query)
        with self._lock:
            listed = self._projects.get(key)
            if listed is None:
                return _Response(404, b"Not Found\n")
            return _page(media, self._render_project(media, key, listed), listed.serial)

    def _redirect(self, status: int, location: str, query: str) -> _Response:
        if location.startswith("/"):
            location = self.base + location
        if query:
            location = f"{location}?{query}"
        return _Response(status, headers=(("Location", location),))

    def _negotiate(self, headers: Message, query: str) -> str:
        if self.html_only:
            return HTML_LEGACY
        requested = parse_qs(query).get("format")
        accept = requested[0] if requested else headers.get("Accept", "")
        best, best_q = HTML_LEGACY, 0.0
        for item in accept.split(","):
            media, *params = (part.strip() for part in item.split(";"))
            weight = 1.0
            for param in params:
                key, _, value = param.partition("=")
                if key.strip().lower() == "q":
                    try:
                        weight = float(value)
                    except ValueError:
                        weight = 0.0
            if media.lower() in _OFFERS and weight > best_q:
                best, best_q = _OFFERS[media.lower()], weight
        return best

    def _render_project(self, media: str, key: str, listed: _Project) -> bytes:
        api_version = self.api_version
        if listed.status is not None and Version(api_version) < Version("1.4"):
            api_version = "1.4"
        provenance = any(entry.provenance for entry in listed.files.values())
        if provenance and Version(api_version) < Version("1.3"):
            api_version = "1.3"
        files = [] if listed.status == "quarantined" else list(listed.files.values())
        page_path = f"/simple/{key}/"

        def href(entry: _File) -> str:
            if entry.href is not None or entry.path is None:
                return entry.href or ""
            if self.relative_urls:
                return quote(posixpath.relpath(entry.path, page_path))
            return self.base + quote(entry.path)

        if media == JSON_V1:
            page: dict[str, object] = {
                "meta": {"api-version": api_version, "_last-serial": listed.serial},
                "name": key,
                "versions": _versions(files),
                "files": [_json_file(entry, href(entry)) for entry in files],
            }
            if listed.status is not None:
                page["project-status"] = {"status": listed.status, "reason": listed.status_reason}
            return json.dumps(page, indent=1).encode()
        metas = [("pypi:repository-version", api_version)]
        if listed.status is not None:
            metas.append(("pypi:project-status", listed.status))
            if listed.status_reason is not None:
                metas.append(("pypi:project-status-reason", listed.status_reason))
        links = [_html_link(entry, href(entry)) for entry in files]
        return _html_document(f"Links for {key}", metas, links)


def _page(media: str, body: bytes, serial: int) -> _Response:
    content_type = JSON_V1 if media == JSON_V1 else f"{media}; charset=utf-8"
    headers = (("X-PyPI-Last-Serial", str(serial)), ("Vary", "Accept"))
    return _Response(200, body, content_type, headers)


def _render_root(
    media: str, projects: Mapping[str, _Project], serial: int, relative: bool
) -> bytes:
    if media == JSON_V1:
        # As PyPI's root page: every project's serial, for mirrors that skip unchanged pages.
        names = [
            {"name": listed.name, "_last-serial": listed.serial} for listed in projects.values()
        ]
        root = {"meta": {"api-version": "1.1", "_last-serial": serial}, "projects": names}
        return json.dumps(root, indent=1).encode()
    links = [
        f'<a href="{"" if relative else "/simple/"}{key}/">{html.escape(listed.name)}</a>'
        for key, listed in projects.items()
    ]
    return _html_document("Simple index", [("pypi:repository-version", "1.1")], links)


def _html_document(title: str, metas: list[tuple[str, str]], links: list[str]) -> bytes:
    head = "".join(
        f'    <meta name="{name}" content="{html.escape(value)}">\n' for name, value in metas
    )
    body = "".join(f"    {link}<br />\n" for link in links)
    return (
        f"<!DOCTYPE html>\n<html>\n  <head>\n{head}    <title>{html.escape(title)}</title>\n"
        f"  </head>\n  <body>\n    <h1>{html.escape(title)}</h1>\n{body}  </body>\n</html>\n"
    ).encode()


def _html_link(entry: _File, href: str) -> str:
    attributes = [f'href="{html.escape(f"{href}#sha256={entry.sha256}")}"']
    if entry.requires_python is not None:
        attributes.append(f'data-requires-python="{html.escape(entry.requires_python)}"')
    if entry.yanked is not False:
        reason = entry.yanked if isinstance(entry.yanked, str) else ""
        attributes.append(f'data-yanked="{html.escape(reason)}"')
    if entry.metadata_sha256 is not None:
        value = f"sha256={entry.metadata_sha256}"
        attributes.append(f'data-core-metadata="{value}" data-dist-info-metadata="{value}"')
    if entry.provenance is not None:
        attributes.append(f'data-provenance="{html.escape(entry.provenance)}"')
    return f"<a {' '.join(attributes)}>{html.escape(entry.filename)}</a>"


def _json_file(entry: _File, href: str) -> dict[str, object]:
    metadata: object = False
    if entry.metadata_sha256 is not None:
        metadata = {"sha256": entry.metadata_sha256}
    yanked: bool | str = entry.yanked if entry.yanked != "" else True
    data: dict[str, object] = {
        "filename": entry.filename,
        "url": href,
        "hashes": {"sha256": entry.sha256},
        "requires-python": entry.requires_python,
        "yanked": yanked,
        "core-metadata": metadata,
        "dist-info-metadata": metadata,
        "size": entry.size,
    }
    if entry.upload_time is not None:
        data["upload-time"] = entry.upload_time
    if entry.provenance is not None:
        data["provenance"] = entry.provenance
    return data


def _versions(files: list[_File]) -> list[str]:
    found: set[Version] = set()
    for entry in files:
        try:
            if entry.filename.endswith(".whl"):
                found.add(parse_wheel_filename(entry.filename)[1])
            else:
                found.add(parse_sdist_filename(entry.filename)[1])
        except (InvalidWheelFilename, InvalidSdistFilename):
            continue  # hostile raw entries have no version
    return [str(version) for version in sorted(found)]


def _project_of(filename: str) -> str:
    if filename.endswith(".whl"):
        return parse_wheel_filename(filename)[0]
    return parse_sdist_filename(filename)[0]


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _malformed(content_type: str) -> bytes:
    if "json" in content_type:
        return b'{"meta": {"api-version": "1.1"}, "files": [{"filename": '
    if "html" in content_type:
        return b'<!DOCTYPE html>\n<html><body><a href="\xff\xfe\x00'
    return b"this is not what was asked for\n"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, index: LocalIndex) -> None:
        self.index = index
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut every open connection, so handlers waiting on idle keep-alive clients end."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                continue  # already closed by the client

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients that hang up mid-answer (timeouts, truncation tests) are not server errors.
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm a kept-alive connection
    # then waits for the client's delayed ACK (~40 ms a response), which no real server does.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._answer(head=False)

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: the index keeps its own request log."""

    def _answer(self, *, head: bool) -> None:  # noqa: PLR0912 - one branch per kind of fault
        index = cast(_Server, self.server).index
        path, fault = index._arrive(self.command, self.path, self.headers)
        with index._lock:
            raw = index._raw.get(path)
        if raw is not None:
            self._answer_raw(raw, head=head, stopping=index._stopping)
            return
        if fault is not None and fault.delay and index._stopping.wait(fault.delay):
            self.close_connection = True
            return
        if fault is not None and fault.redirect_to is not None:
            response = index._redirect(302, fault.redirect_to, "")
        elif fault is not None and fault.status is not None:
            phrase = _phrase(fault.status)
            extra = (("Retry-After", fault.retry_after),) if fault.retry_after else ()
            response = _Response(fault.status, f"{phrase}\n".encode(), headers=extra)
        else:
            response = index._route(path, self.path, self.headers)
        status, body, headers = response.status, response.body, list(response.headers)
        if fault is not None and fault.wrong_bytes:
            body = bytes(byte ^ 0xFF for byte in body)
        if fault is not None and fault.malformed:
            body = _malformed(response.content_type)
        ranged = index.ranges and "Range" in self.headers
        if status == 200 and response.content_type == _OCTET and ranged:
            status, body, headers = _ranged(self.headers["Range"], body, headers)
        if status == 200 and response.content_type != _OCTET and index.validators:
            # Pages carry an ETag and answer a matching If-None-Match with 304, as PyPI does.
            etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
            headers.append(("ETag", etag))
            if self.headers.get("If-None-Match") == etag:
                status, body = 304, b""

        self.send_response(status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if head:
            return
        if fault is not None and fault.truncate:
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.wfile.write(body)

    def _answer_raw(self, raw: RawAnswer, *, head: bool, stopping: threading.Event) -> None:
        self.send_response(raw.status)
        self.send_header("Content-Type", raw.content_type)
        if raw.length is None:
            self.send_header("Content-Length", str(len(raw.body) * raw.repeat))
        elif raw.length >= 0:
            self.send_header("Content-Length", str(raw.length))
        for name, value in raw.headers:
            self.send_header(name, value)
        if raw.length == -1:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if head:
            return
        try:
            if raw.drip:
                for byte in raw.body * raw.repeat:
                    if stopping.wait(raw.drip):
                        break
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
            else:
                for _ in range(raw.repeat):
                    self.wfile.write(raw.body)
        except OSError:
            self.close_connection = True  # the client gave up, as it should


def _ranged(
    spec: str, body: bytes, headers: list[tuple[str, str]]
) -> tuple[int, bytes, list[tuple[str, str]]]:
    """Answer one ``bytes=`` range: 206 with the slice, or 416 when it cannot be satisfied."""
    unit, _, ranges = spec.partition("=")
    first, _, last = ranges.partition("-")
    size = len(body)
    try:
        if unit.strip() != "bytes" or "," in ranges:
            raise ValueError(spec)
        if first == "":
            start, end = max(size - int(last), 0), size - 1
        else:
            start, end = int(first), min(int(last), size - 1) if last else size - 1
        if start > end or start >= size:
            raise ValueError(spec)
    except ValueError:
        return 416, b"", [*headers, ("Content-Range", f"bytes */{size}")]
    return 206, body[start : end + 1], [*headers, ("Content-Range", f"bytes {start}-{end}/{size}")]
