"""``cellar serve``'s entry point: one process serving until a signal, or the supervisor and its
workers (``supervisor.py``) when ``[serve] workers`` asks for more than one."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from cellar.config.serve import ServeSettings
from cellar.serve.access_log import access_log_file
from cellar.serve.app import ACCESS_LOGGER, check_private_files, served_tree, start
from cellar.serve.loop import run_server
from cellar.serve.supervisor import serve_workers
from cellar.tree.location import TreeLocation


def serve_forever(
    tree: TreeLocation,
    settings: ServeSettings,
    *,
    on_ready: Callable[[str], None] | None = None,
    index_url: str | None = None,
) -> None:
    """Serve the tree at ``tree`` as ``settings`` say (see ``start``) until SIGINT or SIGTERM,
    then shut down gracefully.

    ``on_ready`` is called with the base URL (see ``RunningServer.url``) once the server listens.
    With ``settings.workers`` > 1 the requests are served by that many worker processes
    (``supervisor.py``); with ``settings.access_log`` the access log goes to that file.
    Returns normally after a signal; raises ``ServeError`` when the server cannot start.
    """
    if settings.workers > 1:
        # Each worker reads these files itself; checked here first, a bad one stops the server
        # with its own message before any worker starts.
        check_private_files(settings)
        serve_workers(tree, settings, on_ready=on_ready, index_url=index_url)
        return
    try:
        with access_log_file(logging.getLogger(ACCESS_LOGGER), settings.access_log):
            run_server(_serve_until_signalled(tree, settings, on_ready, index_url))
    except KeyboardInterrupt:  # where signal handlers are unavailable (Windows), Ctrl-C is this
        return


async def _serve_until_signalled(
    tree: TreeLocation,
    settings: ServeSettings,
    on_ready: Callable[[str], None] | None,
    index_url: str | None = None,
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed = []
    storage = await asyncio.to_thread(served_tree, tree)
    async with await start(tree.web_root, settings, index_url=index_url, storage=storage) as server:
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
