"""The real built-in server in a thread of the test process, and exact requests to it.

``serving`` runs ``cellar.serve.app.start`` on 127.0.0.1 in a thread with its own event loop;
``ask`` sends one request with exactly the path and headers given (nothing normalised, over
TLS when the server speaks it), so tests see what any client would.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import queue
import ssl
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt

from cellar.config.serve import ServeSettings
from cellar.serve.app import RunningServer, ServeError, start
from cellar.serve.loop import run_server
from cellar.tree.storage import Storage

LOOPBACK = ServeSettings(host="127.0.0.1", port=0)
WHEEL = "packages/ab/cd/foo_bar-1.0-py3-none-any.whl"
WHEEL_BYTES = bytes(range(256)) * 400  # 100 KiB, not text: sent from memory
#: Above the server's small-file size: sent with sendfile by aiohttp's FileResponse.
BIG_WHEEL = "packages/ab/cd/foo_bar-1.0-cp311-cp311-manylinux_2_28_x86_64.whl"
BIG_WHEEL_BYTES = bytes(range(255, -1, -1)) * 1600  # 400 KiB
METADATA_BYTES = b"Metadata-Version: 2.1\nName: foo-bar\nVersion: 1.0\n"


def project_json(project: str, versions: int = 40) -> bytes:
    """A PEP 691 project page big enough that compressing it is worth it."""
    files = ",".join(
        f'{{"filename":"{project}-1.{i}-py3-none-any.whl","url":"../../packages/{i:02x}/'
        f'{project}-1.{i}-py3-none-any.whl","hashes":{{"sha256":"{i:064x}"}},"size":{1000 + i}}}'
        for i in range(versions)
    )
    return f'{{"meta":{{"api-version":"1.1"}},"name":"{project}","files":[{files}]}}\n'.encode()


def make_web_root(root: Path) -> Path:
    """Write a small mirror tree (root page, project ``foo-bar``, one wheel) at ``root``."""
    for directory, label in ((root / "simple", "root"), (root / "simple" / "foo-bar", "foo-bar")):
        directory.mkdir(parents=True)
        (directory / "index.v1_json").write_bytes(project_json(label))
        (directory / "index.v1_html").write_bytes(f"<html>{label} v1</html>\n".encode())
        (directory / "index.html").write_bytes(f"<html>{label} legacy</html>\n".encode())
    wheel = root / WHEEL
    wheel.parent.mkdir(parents=True)
    wheel.write_bytes(WHEEL_BYTES)
    (root / BIG_WHEEL).write_bytes(BIG_WHEEL_BYTES)
    wheel.with_name(wheel.name + ".metadata").write_bytes(METADATA_BYTES)
    return root


@dataclass(frozen=True)
class Served:
    """A server running in this process: its port, and the TLS context that trusts it."""

    server: RunningServer
    context: ssl.SSLContext | None = None

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return self.server.url


@contextmanager
def serving(
    web_root: Path,
    settings: ServeSettings = LOOPBACK,
    context: ssl.SSLContext | None = None,
    *,
    storage: Storage | None = None,
) -> Iterator[Served]:
    """Run the real server for ``web_root`` in a thread; yield it (``context`` trusts its TLS).
    With ``storage``, the tree is read from it (``web_root`` then only names the mirror).

    Raises the ``ServeError`` that stopped it from starting.
    """
    started: queue.Queue[
        tuple[RunningServer, asyncio.AbstractEventLoop, asyncio.Event] | ServeError
    ]
    started = queue.Queue()

    async def main() -> None:
        try:
            server = await start(web_root, settings, storage=storage)
        except ServeError as error:
            started.put(error)
            return
        stop = asyncio.Event()
        async with server:
            started.put((server, asyncio.get_running_loop(), stop))
            await stop.wait()

    # On the event loop `cellar serve` runs on (uvloop where installed), as in production.
    thread = threading.Thread(target=run_server, args=(main(),))
    thread.start()
    item = started.get(timeout=30)
    if isinstance(item, ServeError):
        thread.join()
        raise item
    server, loop, stop = item
    try:
        yield Served(server, context)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        assert not thread.is_alive()


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes = field(repr=False)


def ask(
    served: Served,
    path: str,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    *,
    auth: tuple[str, str] | None = None,
) -> Reply:
    """Send one request with exactly this path and these headers (and basic ``auth``)."""
    sent = dict(headers or {})
    if auth is not None:
        sent["Authorization"] = basic(*auth)
    connection: http.client.HTTPConnection
    if served.context is not None:
        connection = http.client.HTTPSConnection(
            "127.0.0.1", served.port, timeout=30, context=served.context
        )
    else:
        connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    try:
        connection.request(method, path, headers=sent)
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        connection.close()


def bcrypt_hash(password: str | bytes, prefix: str = "$2y$") -> str:
    """A bcrypt hash at the lowest cost (fast tests), with Apache's ``$2y$`` or ``$2b$``."""
    secret = password.encode() if isinstance(password, str) else password
    hashed = bcrypt.hashpw(secret, bcrypt.gensalt(rounds=4)).decode("ascii")
    return prefix + hashed[4:]


def basic(user: str, password: str) -> str:
    """The Authorization header value for HTTP basic auth."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
