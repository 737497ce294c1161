"""Running a coroutine to completion from synchronous code."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Return ``asyncio.run(main)``, without asyncio ever formatting the result.

    ``asyncio.run`` checks the SIGINT handler it installed, and ``signal.getsignal`` formats
    that handler (bound to the main task) into an error message it then discards: the task's
    text holds ``repr`` of its result. For a plan of a few hundred projects that is 0.15 s
    (CPython 3.11-3.13); the main task here returns nothing.
    """
    found: list[T] = []

    async def hold() -> None:
        found.append(await main)

    asyncio.run(hold())
    return found[0]
