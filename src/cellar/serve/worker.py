"""One worker process of ``[serve] workers`` > 1: serve the supervisor's sockets until told to stop.

``supervisor.py`` starts each worker with multiprocessing's ``spawn`` method, with
``run_worker`` as its target: a fresh interpreter that receives the listening sockets (as file
descriptors), a ``WorkerSpec`` and its slot of the shared metrics, and nothing of the
supervisor's state (event loop, threads, locks). It runs ``app.start`` on the sockets, reports
``("ready", pid)`` or ``("failed", reason)`` on its pipe (``read_report`` reads that for the
supervisor), and stops gracefully on SIGTERM or SIGINT, or when the supervisor is gone.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import socket
import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection

from cellar.config.serve import ServeSettings
from cellar.serve.access_log import access_log_file
from cellar.serve.app import ACCESS_LOGGER, served_tree, start
from cellar.serve.errors import ServeError
from cellar.serve.loop import run_server
from cellar.serve.metrics import MetricsFile, ServerMetrics
from cellar.tree.location import TreeLocation

# The supervisor's logger: what a worker says about the supervisor is logged as it always was.
log = logging.getLogger("cellar.serve.supervisor")


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What every worker process gets (pickled to it): what to serve and where to count."""

    tree: TreeLocation
    settings: ServeSettings
    index_url: str | None
    metrics: MetricsFile
    log_level: int


@dataclass(frozen=True, slots=True)
class Ready:
    """Worker ``slot`` serves, as process ``pid``."""

    slot: int
    pid: int


@dataclass(frozen=True, slots=True)
class Failed:
    """Worker ``slot`` could not start; ``reason`` says why."""

    slot: int
    reason: str


def run_worker(
    spec: WorkerSpec, slot: int, sockets: list[socket.socket], channel: Connection
) -> None:
    """The body of worker process ``slot``: serve on ``sockets`` until SIGTERM or SIGINT.

    Reports ``("ready", pid)`` or, when it cannot start, ``("failed", reason)`` on ``channel``
    (the supervisor then ends the server).
    """
    _log_to_stderr(spec.log_level)
    try:
        with access_log_file(logging.getLogger(ACCESS_LOGGER), spec.settings.access_log):
            run_server(_serve(spec, slot, sockets, channel))
    except (ServeError, OSError) as error:
        _report(channel, ("failed", str(error)))
    except KeyboardInterrupt:  # SIGINT before the event loop's handlers were in place
        return
    finally:
        channel.close()


async def _serve(
    spec: WorkerSpec, slot: int, sockets: list[socket.socket], channel: Connection
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    parent = multiprocessing.parent_process()
    if parent is not None:  # readable when the supervisor is gone
        loop.add_reader(parent.sentinel, _orphaned, loop, parent.sentinel, stop)
    with spec.metrics.open() as table:
        storage = await asyncio.to_thread(served_tree, spec.tree)
        server = await start(
            spec.tree.web_root,
            spec.settings,
            index_url=spec.index_url,
            sockets=sockets,
            metrics=ServerMetrics(table, slot),
            storage=storage,
        )
        async with server:
            _report(channel, ("ready", os.getpid()))
            await stop.wait()


def read_report(channel: Connection, slot: int) -> Ready | Failed | None:
    """Return what worker ``slot`` reported on ``channel`` (which this closes), or None when
    the worker died before reporting."""
    try:
        kind, detail = channel.recv()
    except (EOFError, OSError):
        return None
    finally:
        channel.close()
    if kind == "ready":
        return Ready(slot, int(detail))
    return Failed(slot, str(detail))


def _orphaned(loop: asyncio.AbstractEventLoop, sentinel: int, stop: asyncio.Event) -> None:
    loop.remove_reader(sentinel)
    log.warning("the supervisor is gone: the worker with pid %d stops", os.getpid())
    stop.set()


def _report(channel: Connection, message: tuple[str, object]) -> None:
    try:
        channel.send(message)
    except OSError:  # the supervisor is gone
        return


def _log_to_stderr(level: int) -> None:
    """Log as ``cellar`` does in the supervisor without a terminal: plain lines on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("cellar")
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
