"""``[serve] workers`` > 1: a supervisor and N worker processes sharing one listening socket.

The supervisor binds the address itself (``sockets.py`` says why) and hands the listening socket
to every worker: a process started with multiprocessing's ``spawn`` method that runs
``app.start`` on the sockets (``worker.py``).

- **Start.** The supervisor binds, creates the metrics file (``metrics.py``) in a private
  temporary directory, starts the workers and waits until each reports that it serves, then
  calls ``on_ready``. A worker that cannot start (say, a TLS key it cannot read) says why; the
  supervisor then stops the others and raises ``WorkersFailedError`` with that reason.
- **A worker dies** (killed, crashed): it is restarted in its slot, logged as a warning. More
  than 10 restarts within 60 seconds means it will not get better: the supervisor stops
  everything and raises ``WorkersFailedError`` (the CLI exits with code 2). A replacement that
  cannot start ends the server the same way.
- **SIGTERM or SIGINT** to the supervisor: it closes its copy of the sockets and sends SIGTERM to
  each worker, which stops accepting, lets the requests in flight finish (up to
  ``SHUTDOWN_TIMEOUT``) and exits; once all have, ``serve_workers`` returns (the CLI exits 0).
  A second signal, or workers still running ``SHUTDOWN_TIMEOUT`` + 5 s later, get SIGKILL.
  Workers stop the same way on a signal of their own (systemd's default ``KillMode`` signals
  every process; Ctrl-C signals the terminal's process group).
- **The supervisor dies** (SIGKILL): each worker notices and stops gracefully.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import socket
import sys
import tempfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Final

from cellar.config.serve import ServeSettings
from cellar.serve.access_log import check_access_log
from cellar.serve.app import SHUTDOWN_TIMEOUT, served_tree
from cellar.serve.errors import ServeError
from cellar.serve.metrics import MetricsFile
from cellar.serve.sockets import bind_sockets
from cellar.serve.worker import Failed, Ready, WorkerSpec, read_report, run_worker
from cellar.tree.location import TreeLocation

__all__ = [
    "RESTART_LIMIT",
    "RESTART_WINDOW",
    "RestartBudget",
    "WorkerSpec",
    "WorkersFailedError",
    "bind_sockets",
    "run_worker",
    "serve_workers",
]

log = logging.getLogger(__name__)

#: More restarts than this within ``RESTART_WINDOW`` seconds end the server.
RESTART_LIMIT: Final = 10
RESTART_WINDOW: Final = 60.0
#: How long after ``SHUTDOWN_TIMEOUT`` workers still running are killed.
_STOP_GRACE: Final = 5.0


class WorkersFailedError(ServeError):
    """The worker processes could not start, or kept dying; ``reason`` says what happened."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"cellar serve stopped: {reason}")
        self.reason = reason


@dataclass(slots=True)
class RestartBudget:
    """Allows at most ``limit`` restarts within any ``window`` seconds."""

    limit: int
    window: float
    _times: deque[float] = field(default_factory=deque)

    def allow(self, now: float) -> bool:
        """Return True (and count it) if a restart at ``now`` (seconds) is within the budget."""
        while self._times and now - self._times[0] >= self.window:
            self._times.popleft()
        if len(self._times) >= self.limit:
            return False
        self._times.append(now)
        return True


def serve_workers(
    tree: TreeLocation,
    settings: ServeSettings,
    *,
    on_ready: Callable[[str], None] | None = None,
    index_url: str | None = None,
) -> None:
    """Serve the tree at ``tree`` with ``settings.workers`` worker processes until SIGTERM or
    SIGINT.

    ``on_ready`` gets the base URL once every worker serves. Returns after a graceful stop.
    Raises ``ServeError``: ``WebRootError``, ``AddressUnavailableError``, ``AccessLogError``
    before any worker starts, ``WorkersFailedError`` when workers cannot start or keep dying.
    """
    if sys.platform == "win32":
        raise ServeError("[serve] workers above 1 need a POSIX system; set workers = 1")
    served_tree(tree)  # refused here, before any worker starts
    # Each worker opens the log itself; the supervisor only makes sure it can, before any
    # starts (keeping it open would pin a rotated file, which the supervisor never writes to).
    check_access_log(settings.access_log)
    sockets = bind_sockets(settings.host, settings.port)
    try:
        with tempfile.TemporaryDirectory(prefix="cellar-serve-") as runtime:
            metrics = MetricsFile(Path(runtime) / "metrics", settings.workers)
            metrics.create()
            level = logging.getLogger("cellar").getEffectiveLevel()
            spec = WorkerSpec(tree, settings, index_url, metrics, level)
            port = sockets[0].getsockname()[1]
            url = _base_url("https" if settings.tls else "http", settings.host, port)
            asyncio.run(_Supervisor(spec, sockets, url, on_ready).run())
    finally:
        for listener in sockets:
            listener.close()


def _base_url(scheme: str, host: str, port: int) -> str:
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{port}/"


@dataclass(frozen=True, slots=True)
class _Exited:
    slot: int
    pid: int
    how: str


@dataclass(frozen=True, slots=True)
class _Stop:
    pass


_Event = Ready | Failed | _Exited | _Stop


@dataclass(slots=True)
class _Worker:
    slot: int
    process: BaseProcess
    #: The reading end of the pipe the worker reports on, until it has.
    channel: Connection | None
    ready: bool = False


class _Supervisor:
    """Starts, watches, restarts and stops the workers; all of it on one event loop."""

    def __init__(
        self,
        spec: WorkerSpec,
        sockets: list[socket.socket],
        url: str,
        on_ready: Callable[[str], None] | None,
    ) -> None:
        self._spec = spec
        self._sockets = sockets
        self._url = url
        self._on_ready = on_ready
        self._context = multiprocessing.get_context("spawn")
        self._workers: dict[int, _Worker] = {}
        self._events: asyncio.Queue[_Event] = asyncio.Queue()
        self._budget = RestartBudget(RESTART_LIMIT, RESTART_WINDOW)
        self._serving = False

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for signum in signals:
            loop.add_signal_handler(signum, self._events.put_nowait, _Stop())
        try:
            for slot in range(self._spec.metrics.slots):
                self._start(slot)
            while not isinstance(event := await self._events.get(), _Stop):
                self._handle(event)
        finally:
            await self._stop_all()
            for signum in signals:
                loop.remove_signal_handler(signum)

    def _start(self, slot: int) -> None:
        reader, writer = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=run_worker,
            args=(self._spec, slot, self._sockets, writer),
            name=f"cellar-serve-worker-{slot}",
            daemon=True,
        )
        try:
            process.start()
        finally:
            writer.close()
        worker = _Worker(slot, process, reader)
        self._workers[slot] = worker
        loop = asyncio.get_running_loop()
        loop.add_reader(reader.fileno(), self._read_report, worker)
        loop.add_reader(process.sentinel, self._reap, worker)

    def _read_report(self, worker: _Worker) -> None:
        channel = worker.channel
        if channel is None:
            return
        asyncio.get_running_loop().remove_reader(channel.fileno())
        worker.channel = None
        report = read_report(channel, worker.slot)
        if report is not None:  # None: it died before reporting; _reap tells
            self._events.put_nowait(report)

    def _reap(self, worker: _Worker) -> None:
        process = worker.process
        asyncio.get_running_loop().remove_reader(process.sentinel)
        if worker.channel is not None and worker.channel.poll():
            self._read_report(worker)  # a report sent just before exiting comes first
        process.join()
        pid = process.pid or 0
        how = _exit_description(process.exitcode)
        process.close()
        self._events.put_nowait(_Exited(worker.slot, pid, how))

    def _handle(self, event: _Event) -> None:
        if isinstance(event, Ready):
            self._workers[event.slot].ready = True
            log.info("worker %d is serving (pid %d)", event.slot, event.pid)
            if not self._serving and all(w.ready for w in self._workers.values()):
                self._serving = True
                if self._on_ready is not None:
                    self._on_ready(self._url)
        elif isinstance(event, Failed):
            raise WorkersFailedError(f"worker {event.slot} could not start: {event.reason}")
        elif isinstance(event, _Exited):
            self._workers.pop(event.slot)
            what = f"worker {event.slot} (pid {event.pid}) {event.how}"
            if not self._serving:
                raise WorkersFailedError(f"{what} before it was serving; see the messages above")
            if not self._budget.allow(asyncio.get_running_loop().time()):
                raise WorkersFailedError(
                    f"worker processes keep dying: more than {RESTART_LIMIT} restarts within "
                    f"{RESTART_WINDOW:.0f} seconds, the last {what}; see the messages above"
                )
            log.warning("%s; starting another", what)
            self._start(event.slot)

    async def _stop_all(self) -> None:
        """Stop accepting, ask every worker to finish, and wait (killing them if need be)."""
        for listener in self._sockets:
            listener.close()
        for worker in self._workers.values():
            worker.process.terminate()
        loop = asyncio.get_running_loop()
        deadline: float | None = loop.time() + SHUTDOWN_TIMEOUT + _STOP_GRACE
        while self._workers:
            timeout = None if deadline is None else max(deadline - loop.time(), 0)
            try:
                event = await asyncio.wait_for(self._events.get(), timeout)
            except TimeoutError:
                log.warning(
                    "workers still running %.0f s after SIGTERM: killing them",
                    SHUTDOWN_TIMEOUT + _STOP_GRACE,
                )
                self._kill_all()
                deadline = None
                continue
            if isinstance(event, _Exited):
                self._workers.pop(event.slot, None)
            elif isinstance(event, _Stop):
                log.warning("asked again to stop: killing the workers")
                self._kill_all()

    def _kill_all(self) -> None:
        for worker in self._workers.values():
            worker.process.kill()


def _exit_description(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"was killed by {name}"
    return f"exited with code {exitcode}"
