"""The listening sockets of ``[serve] workers`` > 1: bound once by the supervisor, for every worker.

The supervisor binds the address itself and hands the listening socket to every worker, rather
than letting each worker bind it with ``SO_REUSEPORT``:

- the address is checked once, before any worker starts: a port in use is one clear error, and
  port 0 means one free port for all workers;
- the workers accept from one queue, so a waiting connection goes to whichever worker takes it
  first, and the connections waiting when a worker dies or stops are not lost (with
  ``SO_REUSEPORT`` the kernel assigns each connection to one worker's socket, and those queued
  at a socket that closes are reset);
- it behaves the same on every POSIX system (``SO_REUSEPORT`` spreads connections only on Linux).
"""

from __future__ import annotations

import errno
import socket
from typing import Final

from cellar.serve.errors import AddressUnavailableError

_BACKLOG: Final = 128  # aiohttp's, which each worker's site sets again


def bind_sockets(host: str, port: int) -> list[socket.socket]:
    """Return listening sockets for every address ``host`` resolves to, all on one port (with
    ``port`` 0, the one the first gets). Raises ``AddressUnavailableError``."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise AddressUnavailableError(
            host, port, error.strerror or str(error), in_use=False
        ) from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, resolved in dict.fromkeys(infos):
            listener = socket.socket(family, kind, proto)
            sockets.append(listener)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:  # as asyncio does: "::" must not take 0.0.0.0 too
                listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            address = resolved
            if port == 0 and len(sockets) > 1:
                address = (resolved[0], sockets[0].getsockname()[1], *resolved[2:])
            listener.bind(address)
            listener.listen(_BACKLOG)
    except OSError as error:
        for listener in sockets:
            listener.close()
        in_use = error.errno == errno.EADDRINUSE
        raise AddressUnavailableError(
            host, port, error.strerror or str(error), in_use=in_use
        ) from error
    return sockets
