"""Request metrics of ``cellar serve``, counted per server process and summed when scraped.

Every server process owns one *slot* of a table of float64 counters: requests by method, kind
of route and status class, response body bytes and a latency histogram by kind of route. A
process only ever adds to its own slot, so there are no locks; ``/metrics`` sums every slot,
so a scrape that lands on any one worker reports the whole server.

With ``[serve] workers = 1`` the table is private memory. With more, the supervisor creates a
file holding one slot per worker (``MetricsFile.create``) in its private runtime directory, and
each worker maps it (``MetricsFile.open``) with ``mmap(MAP_SHARED)``: the workers' additions
are plain stores to shared memory, readable by the others at once. A worker that is restarted
takes over its predecessor's slot, so the counters never go down. Each value is one aligned
8-byte word, which 64-bit machines store and load whole; a scrape that races an addition sees
the value before or after it.

Kinds of route (``route_kind``): ``page`` (``/simple/...``), ``file`` and ``metadata``
(``/packages/...``, PEP 658 ``.metadata`` files apart), ``json`` (``/pypi/...``), ``health``,
``metrics``, and ``other`` (pages for people, unknown paths). Methods: ``GET``, ``HEAD``,
``other``. ``exposition.py`` writes the table in Prometheus' text format.
"""

from __future__ import annotations

import bisect
import mmap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Final

METHODS: Final = ("GET", "HEAD", "other")
ROUTE_KINDS: Final = ("page", "file", "metadata", "json", "health", "metrics", "other")
STATUS_CLASSES: Final = ("1xx", "2xx", "3xx", "4xx", "5xx")
#: Upper bounds of the latency histogram's buckets, in seconds (``+Inf`` follows). Downloads of
#: large files take seconds, so the buckets reach a minute.
DURATION_BUCKETS: Final = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)

_METHOD_INDEX: Final = MappingProxyType({method: i for i, method in enumerate(METHODS)})
_KIND_INDEX: Final = MappingProxyType({kind: i for i, kind in enumerate(ROUTE_KINDS)})
_BUCKETS: Final = len(DURATION_BUCKETS) + 1  # the last one is +Inf
# Where each family starts in a slot: requests[method][kind][status class], bytes[kind],
# histogram[kind][bucket], duration sum[kind].
_REQUESTS: Final = 0
_BYTES: Final = _REQUESTS + len(METHODS) * len(ROUTE_KINDS) * len(STATUS_CLASSES)
_HISTOGRAM: Final = _BYTES + len(ROUTE_KINDS)
_DURATION_SUM: Final = _HISTOGRAM + len(ROUTE_KINDS) * _BUCKETS
#: How many float64 values one slot holds.
SLOT_SIZE: Final = _DURATION_SUM + len(ROUTE_KINDS)
_ITEM: Final = 8  # bytes per value ("d")


def route_kind(path: str) -> str:
    """Return the kind of route of a request for ``path`` (one of ``ROUTE_KINDS``)."""
    if path == "/simple" or path.startswith("/simple/"):
        return "page"
    if path.startswith("/packages/"):
        return "metadata" if path.endswith(".metadata") else "file"
    if path.startswith("/pypi/"):
        return "json"
    if path == "/health":
        return "health"
    if path == "/metrics":
        return "metrics"
    return "other"


def status_class(status: int) -> str:
    """Return ``"2xx"`` for 200-299 and so on; anything outside 100-599 counts as ``"5xx"``."""
    return STATUS_CLASSES[_status_index(status)]


def _status_index(status: int) -> int:
    index = status // 100 - 1
    return index if 0 <= index < len(STATUS_CLASSES) else len(STATUS_CLASSES) - 1


class MetricsTable:
    """``slots`` slots of ``SLOT_SIZE`` float64 values in one buffer; make it with ``private``
    or ``MetricsFile.open``."""

    def __init__(self, values: memoryview[float], slots: int) -> None:
        if len(values) != slots * SLOT_SIZE:
            raise ValueError(f"a table of {slots} slots needs {slots * SLOT_SIZE} values")
        self._values = values
        self.slots = slots

    @classmethod
    def private(cls) -> MetricsTable:
        """Return a one-slot table in this process's memory (a server without workers)."""
        return cls(memoryview(bytearray(SLOT_SIZE * _ITEM)).cast("d"), 1)

    def slot(self, index: int) -> list[float]:
        """Return a copy of slot ``index``'s values."""
        return list(self._values[index * SLOT_SIZE : (index + 1) * SLOT_SIZE])

    def totals(self) -> list[float]:
        """Return the element-wise sum of every slot."""
        totals = self.slot(0)
        for index in range(1, self.slots):
            for position, value in enumerate(self.slot(index)):
                totals[position] += value
        return totals

    def add(self, slot: int, position: int, amount: float) -> None:
        """Add ``amount`` to value ``position`` of slot ``slot`` (only its owner may)."""
        self._values[slot * SLOT_SIZE + position] += amount

    def add_request(
        self,
        slot: int,
        count: int,
        size: tuple[int, float],
        bucket: int,
        duration: tuple[int, float],
    ) -> None:
        """Count one request into slot ``slot``: 1 at positions ``count`` and ``bucket``, and
        each ``(position, amount)`` of ``size`` and ``duration`` (``add`` four times, in one
        call: this runs for every request)."""
        values, base = self._values, slot * SLOT_SIZE
        values[base + count] += 1
        values[base + bucket] += 1
        values[base + size[0]] += size[1]
        values[base + duration[0]] += duration[1]

    def release(self) -> None:
        """Let go of the buffer (a mapped file can then be unmapped)."""
        self._values.release()


@dataclass(frozen=True, slots=True)
class MetricsFile:
    """The file a supervisor shares with its ``slots`` workers; a value, passed to each."""

    path: Path
    slots: int

    def create(self) -> None:
        """Create the file, every value zero. Raises ``OSError`` (``FileExistsError`` if it
        exists: each server gets its own)."""
        with self.path.open("xb") as file:
            file.truncate(self.slots * SLOT_SIZE * _ITEM)

    @contextmanager
    def open(self) -> Iterator[MetricsTable]:
        """Map the file created by ``create`` shared, for the duration of the ``with`` block.

        Raises ``OSError`` if it cannot be opened, ``ValueError`` if its size is wrong.
        """
        with self.path.open("r+b") as file, mmap.mmap(file.fileno(), 0) as mapped:
            table = MetricsTable(memoryview(mapped).cast("d"), self.slots)
            try:
                yield table
            finally:
                table.release()


@dataclass(frozen=True, slots=True)
class ServerMetrics:
    """What one server process counts into: its ``slot`` of ``table``."""

    table: MetricsTable
    slot: int = 0

    @classmethod
    def private(cls) -> ServerMetrics:
        """Return the metrics of a server that is the only process (``[serve] workers = 1``)."""
        return cls(MetricsTable.private(), 0)

    def record(self, method: str, path: str, status: int, size: int, seconds: float) -> None:
        """Count one answered request: its method, path, final status, body bytes sent and the
        seconds from its arrival to its last byte."""
        kind = _KIND_INDEX[route_kind(path)]
        method_index = _METHOD_INDEX.get(method, _METHOD_INDEX["other"])
        request = (method_index * len(ROUTE_KINDS) + kind) * len(STATUS_CLASSES)
        # The first bucket whose bound is >= seconds ("le"); past the last bound, +Inf.
        bucket = bisect.bisect_left(DURATION_BUCKETS, seconds)
        self.table.add_request(
            self.slot,
            _REQUESTS + request + _status_index(status),
            (_BYTES + kind, size),
            _HISTOGRAM + kind * _BUCKETS + bucket,
            (_DURATION_SUM + kind, seconds),
        )

    def snapshot(self) -> MetricsSnapshot:
        """Return what every process of the server has counted so far."""
        per_worker = []
        for index in range(self.table.slots):
            values = self.table.slot(index)
            per_worker.append(sum(values[_REQUESTS:_BYTES]))
        return MetricsSnapshot(tuple(self.table.totals()), tuple(per_worker))


@dataclass(frozen=True, slots=True)
class Histogram:
    """One kind of route's latency histogram: cumulative bucket counts (``+Inf`` last)."""

    buckets: tuple[float, ...]
    sum: float

    @property
    def count(self) -> float:
        """How many requests were observed (the ``+Inf`` bucket)."""
        return self.buckets[-1]


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """The summed table at one moment, and each worker's request count."""

    totals: tuple[float, ...]
    worker_requests: tuple[float, ...]

    def requests(self) -> dict[tuple[str, str, str], float]:
        """Return request counts by (method, kind of route, status class), zeros left out."""
        counts = {}
        position = _REQUESTS
        for method in METHODS:
            for kind in ROUTE_KINDS:
                for status in STATUS_CLASSES:
                    if self.totals[position]:
                        counts[method, kind, status] = self.totals[position]
                    position += 1
        return counts

    def response_bytes(self) -> dict[str, float]:
        """Return body bytes sent by kind of route."""
        return {kind: self.totals[_BYTES + index] for index, kind in enumerate(ROUTE_KINDS)}

    def durations(self) -> dict[str, Histogram]:
        """Return the latency histogram of each kind of route."""
        histograms = {}
        for index, kind in enumerate(ROUTE_KINDS):
            start = _HISTOGRAM + index * _BUCKETS
            running = 0.0
            cumulative = []
            for count in self.totals[start : start + _BUCKETS]:
                running += count
                cumulative.append(running)
            histograms[kind] = Histogram(tuple(cumulative), self.totals[_DURATION_SUM + index])
        return histograms
