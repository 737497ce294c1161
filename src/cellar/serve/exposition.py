"""``/metrics``: the server's metrics and the mirror's age in Prometheus' text exposition format.

``render_exposition`` is pure; ``MetricsPage`` answers the route, reading ``web/last-modified``
(written by every ``cellar mirror`` run that ends without failures) for the mirror's age. The
families:

    cellar_http_requests_total{method,route,status}        counter, series appear when non-zero
    cellar_http_response_bytes_total{route}                 counter, body bytes sent
    cellar_http_request_duration_seconds{route}             histogram, arrival to last byte sent
    cellar_worker_requests_total{worker}                    counter, per server process
    cellar_workers                                          gauge, ``[serve] workers``
    cellar_mirror_last_success_timestamp_seconds            gauge, Unix time (absent: never)
    cellar_mirror_age_seconds                               gauge, now minus that (absent: never)
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from aiohttp import hdrs, web

from cellar.serve.metrics import DURATION_BUCKETS, MetricsSnapshot, ServerMetrics
from cellar.sync.compat import LAST_MODIFIED_FILE, parse_last_modified
from cellar.tree.storage import Storage, read_quietly

#: The Content-Type of the text exposition format, version 0.0.4.
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


def render_exposition(snapshot: MetricsSnapshot, *, last_success: float | None, now: float) -> str:
    """Return the exposition of ``snapshot``; ``last_success`` is the Unix time of the last
    ``cellar mirror`` run without failures (None: unknown), ``now`` the current Unix time."""
    lines: list[str] = []
    requests = snapshot.requests()
    _family(
        lines,
        "cellar_http_requests_total",
        "counter",
        "HTTP requests answered, by method, kind of route and status class.",
        (
            ({"method": method, "route": route, "status": status}, count)
            for (method, route, status), count in requests.items()
        ),
    )
    _family(
        lines,
        "cellar_http_response_bytes_total",
        "counter",
        "Response body bytes sent, by kind of route (a HEAD or a 304 sends none).",
        (({"route": route}, size) for route, size in snapshot.response_bytes().items()),
    )
    name = "cellar_http_request_duration_seconds"
    lines.append(f"# HELP {name} Seconds from a request's arrival to the last byte of its answer.")
    lines.append(f"# TYPE {name} histogram")
    for route, histogram in snapshot.durations().items():
        bounds = [*(repr(float(bound)) for bound in DURATION_BUCKETS), "+Inf"]
        for bound, count in zip(bounds, histogram.buckets, strict=True):
            lines.append(f"{name}_bucket{_labels({'route': route, 'le': bound})} {_number(count)}")
        lines.append(f"{name}_sum{_labels({'route': route})} {_number(histogram.sum)}")
        lines.append(f"{name}_count{_labels({'route': route})} {_number(histogram.count)}")
    _family(
        lines,
        "cellar_worker_requests_total",
        "counter",
        "HTTP requests answered by each server process.",
        (({"worker": str(i)}, count) for i, count in enumerate(snapshot.worker_requests)),
    )
    _family(
        lines,
        "cellar_workers",
        "gauge",
        "Server processes ([serve] workers).",
        [({}, len(snapshot.worker_requests))],
    )
    if last_success is not None:
        _family(
            lines,
            "cellar_mirror_last_success_timestamp_seconds",
            "gauge",
            "Unix time the last `cellar mirror` run without failures started.",
            [({}, last_success)],
        )
        _family(
            lines,
            "cellar_mirror_age_seconds",
            "gauge",
            "Seconds since the last `cellar mirror` run without failures started.",
            [({}, max(now - last_success, 0.0))],
        )
    return "\n".join(lines) + "\n"


def _family(
    lines: list[str],
    name: str,
    kind: str,
    help_text: str,
    samples: Iterable[tuple[dict[str, str], float]],
) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")
    lines.extend(f"{name}{_labels(labels)} {_number(value)}" for labels, value in samples)


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items())
    return f"{{{inner}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    """Integers without a fraction (counts), other numbers as Python's shortest repr."""
    if math.isfinite(value) and value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def last_success(storage: Storage) -> float | None:
    """Return the Unix time in the tree's ``last-modified``, or None if it is missing or odd."""
    body = read_quietly(storage, LAST_MODIFIED_FILE.as_posix())
    if body is None:
        return None
    stamp = parse_last_modified(body)
    return stamp.timestamp() if stamp is not None else None


@dataclass(frozen=True, slots=True)
class MetricsPage:
    """The ``/metrics`` route: ``metrics`` summed over every worker, and the mirror's age."""

    metrics: ServerMetrics
    storage: Storage

    async def get(self, request: web.Request) -> web.StreamResponse:
        """Answer a scrape."""
        updated = await asyncio.to_thread(last_success, self.storage)
        text = render_exposition(self.metrics.snapshot(), last_success=updated, now=time.time())
        headers = {hdrs.CONTENT_TYPE: CONTENT_TYPE, hdrs.CACHE_CONTROL: "no-store"}
        return web.Response(body=text.encode("utf-8"), headers=headers)
