"""A wheel's METADATA read with HTTP Range requests, never the whole wheel.

One request for the file's tail (which usually holds the end record, the central directory and
METADATA itself, written last), then only the ranges the tail lacks: a ZIP64 end record, the
central directory, the member. ``zipmeta`` parses; this module decides what to ask for, through
a ``get`` function, so it knows nothing of the client beyond the answer it returns.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from packaging.utils import NormalizedName
from packaging.version import Version

from cellar.upstream import zipmeta
from cellar.upstream.client import Fetched
from cellar.upstream.errors import (
    ResponseTooLargeError,
    UnreadableDistributionError,
    UpstreamHTTPError,
)

#: ``get(range_header)``: one GET of the file asking for that range; raises as the client does.
RangeGet = Callable[[str], Awaitable[Fetched]]

_TOO_LARGE = "the server ignored Range and the file is too large to hold in memory"


class RangesUnusable(Exception):
    """Ranged reads cannot go on; read the whole file instead.

    ``whole`` is the file when the server already sent all of it; ``too_large`` says it began
    to and the file passed the memory limit.
    """

    def __init__(self, reason: str, whole: bytes | None = None, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.whole = whole
        self.too_large = too_large


async def read_wheel_metadata(
    get: RangeGet,
    url: str,
    name: NormalizedName,
    version: Version,
    *,
    tail_size: int,
    limit: int,
) -> bytes:
    """Return the METADATA of the wheel at ``url`` whose dist-info is ``name``-``version``.

    ``limit`` bounds the member's size. Raises ``RangesUnusable`` when the server does not
    serve usable ranges or the zip has a shape ranged reads do not handle;
    ``UnreadableDistributionError`` when the wheel has no such METADATA; and what ``get``
    raises, except 416 and 501 answers, which mean ranges are unusable.
    """
    tail = await _ask(get, f"bytes=-{tail_size}")
    if tail.status != 206:
        raise RangesUnusable("the server ignores Range requests", whole=tail.body)
    content_range = tail.content_range()
    if content_range is None:
        raise RangesUnusable("the server's 206 answer has no usable Content-Range")
    first, last, total = content_range
    spans = zipmeta.Spans(total if total is not None else last + 1)
    spans.add(first, tail.body)
    try:
        end = zipmeta.parse_end_record(tail.body, first)
        if end.zip64_offset is not None:
            start = end.zip64_offset
            record = await _cover(get, spans, start, start + zipmeta.ZIP64_END_SIZE)
            end = zipmeta.parse_zip64_end_record(record)
        directory = await _cover(get, spans, end.cd_offset, end.cd_offset + end.cd_size)
        entries = {e.name: e for e in zipmeta.parse_central_directory(directory, end.entries)}
        path = zipmeta.find_dist_info_member(entries, name, version)
        if path is None:
            raise UnreadableDistributionError(
                url, f"no {name}-{version}.dist-info/METADATA in the wheel"
            )
        entry = entries[path]
        start = entry.header_offset
        header = await _cover(get, spans, start, min(start + entry.span_guess, spans.size))
        data_start = zipmeta.member_data_offset(header, entry)
        data = await _cover(get, spans, data_start, data_start + entry.compressed_size)
        return zipmeta.extract(data, entry, limit=limit)
    except zipmeta.ZipFormatError as error:
        raise RangesUnusable(f"ranged reads failed: {error}") from None


async def _cover(get: RangeGet, spans: zipmeta.Spans, start: int, end: int) -> bytes:
    """Return the file's bytes ``start`` to ``end``, asking for what ``spans`` lacks."""
    if not 0 <= start <= end <= spans.size:
        raise zipmeta.ZipFormatError(f"bytes {start}-{end} lie outside the {spans.size} bytes")
    gap = spans.missing(start, end)
    if gap is not None:
        answer = await _ask(get, f"bytes={gap[0]}-{gap[1] - 1}")
        content_range = answer.content_range()
        if answer.status != 206 or content_range is None:
            whole = answer.body if answer.status == 200 else None
            raise RangesUnusable("the server answered a Range request in full", whole)
        spans.add(content_range[0], answer.body)
    data = spans.read(start, end)
    if data is None:
        raise RangesUnusable(f"the server did not send bytes {start}-{end - 1}")
    return data


async def _ask(get: RangeGet, range_header: str) -> Fetched:
    try:
        return await get(range_header)
    except UpstreamHTTPError as error:
        if error.status in (416, 501):
            raise RangesUnusable(f"the server refuses Range requests ({error})") from None
        raise
    except ResponseTooLargeError:
        raise RangesUnusable(_TOO_LARGE, too_large=True) from None
