"""Work on many items with a bounded number in flight (one coroutine per item would not do)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


async def each_bounded(
    items: Iterable[T], limit: int, work: Callable[[T], Awaitable[None]]
) -> None:
    """Await ``work(item)`` for every item, at most ``limit`` at once.

    A few workers take items from one shared iterator, so memory follows ``limit``, not the
    number of items: a coroutine per project of a 700k-project mirror would not. ``work``
    keeps its own results. Cancelling the call cancels the work in flight; an exception
    from ``work`` propagates (the other workers go on, as with ``asyncio.gather``).
    """
    queue = iter(items)

    async def worker() -> None:
        for item in queue:  # shared: each item is taken by one worker
            await work(item)

    await asyncio.gather(*(worker() for _ in range(max(1, limit))))
