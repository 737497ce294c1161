"""A real forwarding HTTP proxy on 127.0.0.1, for the sites that reach PyPI only through one.

It takes absolute-form requests (``GET http://host:port/path HTTP/1.1``), as clients send them
to a plain-HTTP proxy, forwards each to its origin and relays the answer; CONNECT (https) is not
needed by the tests and is refused. With ``credentials``, a request without the matching
``Proxy-Authorization`` gets 407. Every request is logged (URL and whether it was let through).
"""

from __future__ import annotations

import base64
import http.client
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self, cast
from urllib.parse import urlsplit

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authorization", "proxy-connection", "te", "upgrade"}
)


@dataclass(frozen=True, slots=True)
class Forwarded:
    """One request the proxy received: the absolute URL, and whether it was forwarded."""

    url: str
    forwarded: bool


@dataclass(slots=True)
class ForwardProxy:
    """The proxy; a context manager that serves in a daemon thread."""

    credentials: tuple[str, str] | None = None
    log: list[Forwarded] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Self:
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, the address clients are given."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url_with(self, user: str, password: str) -> str:
        """The proxy URL with credentials in it, as ``HTTP_PROXY`` or a config holds them."""
        return self.url.replace("http://", f"http://{user}:{password}@")

    def forwarded(self) -> list[str]:
        """The URLs forwarded so far."""
        with self._lock:
            return [entry.url for entry in self.log if entry.forwarded]

    def _note(self, url: str, *, forwarded: bool) -> None:
        with self._lock:
            self.log.append(Forwarded(url, forwarded))


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, proxy: ForwardProxy) -> None:
        self.proxy = proxy
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: the proxy keeps its own log."""

    def do_CONNECT(self) -> None:
        self.send_error(501, "CONNECT is not supported by this test proxy")

    def do_GET(self) -> None:
        proxy = cast(_Server, self.server).proxy
        if proxy.credentials is not None:
            user, password = proxy.credentials
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            if self.headers.get("Proxy-Authorization") != f"Basic {token}":
                proxy._note(self.path, forwarded=False)
                self.send_response(407)
                self.send_header("Proxy-Authenticate", 'Basic realm="proxy"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        target = urlsplit(self.path)
        if target.scheme != "http" or not target.hostname:
            proxy._note(self.path, forwarded=False)
            self.send_error(400, "absolute http:// URLs only")
            return
        proxy._note(self.path, forwarded=True)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        origin = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=30)
        try:
            path = target.path + (f"?{target.query}" if target.query else "")
            origin.request("GET", path or "/", headers=headers)
            answer = origin.getresponse()
            body = answer.read()
        finally:
            origin.close()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in (*_HOP_BY_HOP, "transfer-encoding", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
