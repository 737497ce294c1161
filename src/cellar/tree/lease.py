"""A short lease on part of the tree, held by one writer at a time across processes and machines.

The mirror's own lock (``tree/lock.py``) is an ``flock`` on the mirror's machine, held for a
whole run. Hosted projects have writers that take no such lock and may run elsewhere: every
``cellar serve`` worker that takes uploads, on every machine serving the same bucket. They and
the mirror write the same root page, so each holds this lease while it reads what the root must
list and writes it, and while it writes a hosted project's record and pages: seconds at most.

The lease is an object created only if absent (``Storage.create``: ``O_EXCL`` locally, a
conditional PUT in S3). It names its holder and when it was taken; one older than ``stale``
seconds was left by a writer that died holding it, and is broken (said in the log).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from cellar.errors import CellarError
from cellar.tree.storage import Storage

log = logging.getLogger("cellar.tree")

#: How long a writer waits for the lease before giving up.
DEFAULT_WAIT: Final = 60.0
#: A lease older than this was left by a writer that died holding it.
DEFAULT_STALE: Final = 300.0
_FIRST_DELAY: Final = 0.01
_MAX_DELAY: Final = 0.25


class LeaseHeldError(CellarError):
    """The lease stayed taken for as long as a writer waits; ``holder`` says by whom."""

    def __init__(self, key: str, holder: str, waited: float) -> None:
        super().__init__(
            f"{key} has been held for {waited:.0f} s by another writer ({holder}); try again, "
            "or remove it if that writer is gone"
        )
        self.key = key
        self.holder = holder


@contextmanager
def lease(
    storage: Storage,
    key: str,
    *,
    wait: float = DEFAULT_WAIT,
    stale: float = DEFAULT_STALE,
) -> Iterator[None]:
    """Hold the lease at ``key`` in ``storage`` for the ``with`` block.

    Raises ``LeaseHeldError`` if another writer holds it for ``wait`` seconds, ``OSError`` if
    the storage cannot be written.
    """
    token = json.dumps(
        {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.time(),
            "nonce": secrets.token_hex(8),
        }
    ).encode()
    started = time.monotonic()
    delay = _FIRST_DELAY
    while not _create(storage, key, token):
        found = storage.read(key)
        if found is not None and _age(found) > stale:
            log.warning(
                "%s: breaking a lease left by a writer that died holding it: %s", key, found
            )
            if storage.read(key) == found:
                storage.delete([key])
            continue
        waited = time.monotonic() - started
        if waited > wait:
            raise LeaseHeldError(key, _holder(found), waited)
        time.sleep(delay)
        delay = min(delay * 2, _MAX_DELAY)
    try:
        yield
    finally:
        if storage.read(key) == token:
            storage.delete([key])


def _create(storage: Storage, key: str, token: bytes) -> bool:
    for _ in range(3):
        try:
            return storage.create(key, token)
        except FileNotFoundError:
            continue  # the folder went with another holder's release, between mkdir and open
    return storage.create(key, token)


def _age(body: bytes) -> float:
    try:
        since = float(json.loads(body)["since"])
    except (ValueError, KeyError, TypeError):
        return 0.0  # not a lease any writer of ours left: never broken, only waited for
    return time.time() - since


def _holder(body: bytes | None) -> str:
    try:
        data = json.loads(body or b"")
        return f"pid {data['pid']} on {data['host']}"
    except (ValueError, KeyError, TypeError):
        return "unknown"
