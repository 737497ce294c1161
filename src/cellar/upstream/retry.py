"""When a failed request to the upstream index is worth repeating, and how long to wait first.

Pure: no I/O and no clock of its own. The caller passes the current time and, if it wants
reproducible delays, its own ``random.Random``.

Statuses retried: 408 Request Timeout, 429 Too Many Requests, and 5xx — except 501, 505, 506,
508, 510 and 511, which state that the server cannot or will not ever handle the request as
sent (a missing feature, protocol, or configuration), so asking again only adds load. Every
other 4xx is the client's fault or the resource's absence and is final.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

_RETRYABLE_4XX = frozenset({408, 429})
_FINAL_5XX = frozenset({501, 505, 506, 508, 510, 511})
_DELTA_SECONDS = re.compile(r"\d+", re.ASCII)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often to retry a failed request and how long to wait between attempts.

    ``retries`` is the number of attempts after the first (0 disables retrying). The wait
    before retry *n* is ``backoff * 2 ** (n - 1)`` seconds, varied by up to ``±jitter`` (a
    fraction) so that many clients do not retry in step, and never more than ``max_backoff``.
    """

    retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 30.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"retries must be 0 or more, not {self.retries}")
        if self.backoff < 0 or self.max_backoff < 0:
            raise ValueError("backoff and max_backoff must be 0 or more seconds")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be a fraction between 0 and 1, not {self.jitter}")

    @property
    def attempts(self) -> int:
        """The most attempts a request gets: the first plus ``retries``."""
        return self.retries + 1

    def delay(
        self,
        attempt: int,
        retry_after: str | None,
        now: datetime,
        *,
        rng: random.Random | None = None,
    ) -> float:
        """Return the seconds to wait after failed attempt number ``attempt`` (1-based).

        A ``Retry-After`` header value (delta-seconds or an HTTP-date, compared with ``now``)
        is honoured as given, without jitter; one that cannot be read is ignored. Either way
        the result is at most ``max_backoff``. ``rng`` supplies the jitter (the ``random``
        module's generator when ``None``).
        """
        if retry_after is not None:
            asked = retry_after_seconds(retry_after, now)
            if asked is not None:
                return min(asked, self.max_backoff)
        base = self.backoff * 2.0 ** max(attempt - 1, 0)
        draw = rng.random() if rng is not None else random.random()  # noqa: S311 -- jitter only
        fraction = draw * 2 - 1
        return max(0.0, min(base * (1 + self.jitter * fraction), self.max_backoff))

    def is_retryable_status(self, status: int) -> bool:
        """Return whether an answer with HTTP ``status`` may succeed if asked again."""
        if 500 <= status < 600:
            return status not in _FINAL_5XX
        return status in _RETRYABLE_4XX


def retry_after_seconds(value: str, now: datetime) -> float | None:
    """Return the wait a ``Retry-After`` header ``value`` asks for, in seconds from ``now``.

    Returns ``None`` when ``value`` is neither delta-seconds nor an HTTP-date; a date in the
    past gives 0. A naive ``now`` or date is taken to be UTC.
    """
    text = value.strip()
    if _DELTA_SECONDS.fullmatch(text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
