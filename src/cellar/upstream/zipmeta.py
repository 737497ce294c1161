"""The zip format as far as reading one wheel member takes (pure: bytes in, values out, no I/O).

Built for ranged reads: the caller holds the file's tail, asks :func:`parse_end_record` where the
central directory is, reads it if the tail does not hold it, picks ``.dist-info/METADATA`` with
:func:`find_dist_info_member`, then reads that member's local header and data and calls
:func:`extract`. Offsets are positions in the whole file. ZIP64 end records and extra fields are
understood; split archives, encryption and methods other than stored and deflate are not.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

_END = struct.Struct("<4sHHHHIIH")
_ZIP64_LOCATOR = struct.Struct("<4sIQI")
_ZIP64_END = struct.Struct("<4sQHHIIQQQQ")
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")
_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_ZIP64_EXTRA = 0x0001
_UTF8_FLAG = 0x800
_STORED, _DEFLATED = 0, 8

#: Size of a ZIP64 end of central directory record without its extensible data.
ZIP64_END_SIZE = _ZIP64_END.size
#: Bytes allowed for a local header's extra field when guessing how much to read at once.
LOCAL_EXTRA_ALLOWANCE = 1024


class ZipFormatError(ValueError):
    """Bytes that are not the zip structure expected there, or a zip feature not read here."""


@dataclass(frozen=True, slots=True)
class EndRecord:
    """Where the central directory is; ``zip64_offset`` is set when a ZIP64 record overrides it."""

    cd_offset: int
    cd_size: int
    entries: int
    zip64_offset: int | None = None


@dataclass(frozen=True, slots=True)
class ZipEntry:
    """One central directory entry: a member's name, how it is stored, and where."""

    name: str
    flags: int
    method: int
    crc: int
    compressed_size: int
    size: int
    header_offset: int
    extra_length: int

    @property
    def span_guess(self) -> int:
        """Bytes from ``header_offset`` that likely hold the local header and all the data."""
        name_length = len(self.name.encode("utf-8"))
        return _LOCAL.size + name_length + LOCAL_EXTRA_ALLOWANCE + self.compressed_size


class Spans:
    """Pieces of one file read so far, merged where they touch; ``size`` is the file's length."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._parts: list[tuple[int, bytes]] = []

    def add(self, start: int, data: bytes) -> None:
        """Keep ``data``, the file's bytes from ``start``."""
        merged: list[tuple[int, bytes]] = []
        for part_start, part in sorted([*self._parts, (start, data)], key=lambda p: p[0]):
            if merged and part_start <= merged[-1][0] + len(merged[-1][1]):
                last_start, last = merged[-1]
                overlap = last_start + len(last) - part_start
                merged[-1] = (last_start, last + part[overlap:])
            else:
                merged.append((part_start, part))
        self._parts = merged

    def read(self, start: int, end: int) -> bytes | None:
        """Return the bytes ``start`` to ``end`` (exclusive), or ``None`` if not all are held."""
        for part_start, part in self._parts:
            if part_start <= start and end <= part_start + len(part):
                return part[start - part_start : end - part_start]
        return None

    def missing(self, start: int, end: int) -> tuple[int, int] | None:
        """Return the one range to read so that ``start``-``end`` is held, or ``None``."""
        for part_start, part in self._parts:
            if part_start <= start < part_start + len(part):
                start = part_start + len(part)
        for part_start, _ in self._parts:
            if start < part_start < end:
                end = part_start
        return (start, end) if start < end else None


def parse_end_record(tail: bytes, start: int) -> EndRecord:
    """Read the end of central directory record in ``tail``, the file's last bytes from ``start``.

    Raises ``ZipFormatError`` when ``tail`` holds no such record, the archive spans disks, or
    its central directory does not end where the record starts (bytes before the zip shift
    every offset; ``zipfile`` copes with that, ranged reads do not try).
    """
    position = len(tail) - _END.size
    while position >= 0:
        position = tail.rfind(b"PK\x05\x06", 0, position + 4)
        if position < 0:
            break
        fields = _END.unpack_from(tail, position)
        if position + _END.size + fields[7] <= len(tail):
            break
        position -= 1
    if position < 0:
        raise ZipFormatError(f"no end of central directory record in the last {len(tail)} bytes")
    _, disk, cd_disk, _, entries, cd_size, cd_offset, _ = _END.unpack_from(tail, position)
    locator = position - _ZIP64_LOCATOR.size
    if locator >= 0 and tail[locator : locator + 4] == b"PK\x06\x07":
        _, _, zip64_offset, disks = _ZIP64_LOCATOR.unpack_from(tail, locator)
        if disks > 1:
            raise ZipFormatError("the archive spans several disks")
        return EndRecord(cd_offset, cd_size, entries, zip64_offset)
    if disk != 0 or cd_disk != 0:
        raise ZipFormatError("the archive spans several disks")
    if 0xFFFFFFFF in (cd_size, cd_offset) or entries == 0xFFFF:
        raise ZipFormatError("ZIP64 sizes without a ZIP64 end record locator")
    if cd_offset + cd_size != start + position:
        raise ZipFormatError("the central directory does not end where the end record starts")
    return EndRecord(cd_offset, cd_size, entries)


def parse_zip64_end_record(data: bytes) -> EndRecord:
    """Read a ZIP64 end of central directory record (the first ``ZIP64_END_SIZE`` bytes).

    Raises ``ZipFormatError`` when ``data`` does not start with one.
    """
    if len(data) < _ZIP64_END.size or data[:4] != b"PK\x06\x06":
        raise ZipFormatError("no ZIP64 end of central directory record where the locator points")
    fields = _ZIP64_END.unpack_from(data)
    return EndRecord(cd_offset=fields[9], cd_size=fields[8], entries=fields[7])


def parse_central_directory(data: bytes, entries: int) -> tuple[ZipEntry, ...]:
    """Read ``entries`` central directory entries from ``data``.

    Raises ``ZipFormatError`` for a damaged directory.
    """
    found: list[ZipEntry] = []
    position = 0
    for _ in range(entries):
        if len(data) < position + _CENTRAL.size or data[position : position + 4] != b"PK\x01\x02":
            raise ZipFormatError(f"damaged central directory at entry {len(found) + 1}")
        fields = _CENTRAL.unpack_from(data, position)
        flags, method, crc, compressed, size = fields[3], fields[4], fields[7], fields[8], fields[9]
        name_length, extra_length, comment_length, offset = (*fields[10:13], fields[16])
        name_start = position + _CENTRAL.size
        raw_name = data[name_start : name_start + name_length]
        extra = data[name_start + name_length : name_start + name_length + extra_length]
        size, compressed, offset = _apply_zip64(extra, size, compressed, offset)
        encoding = "utf-8" if flags & _UTF8_FLAG else "cp437"
        name = raw_name.decode(encoding, errors="replace")
        found.append(ZipEntry(name, flags, method, crc, compressed, size, offset, extra_length))
        position = name_start + name_length + extra_length + comment_length
    return tuple(found)


def member_data_offset(header: bytes, entry: ZipEntry) -> int:
    """Return where ``entry``'s data starts, from its local header (at least the first 30 bytes).

    Raises ``ZipFormatError`` when ``header`` is not a local file header.
    """
    if len(header) < _LOCAL.size or header[:4] != b"PK\x03\x04":
        raise ZipFormatError(f"no local file header for {entry.name} at {entry.header_offset}")
    name_length, extra_length = struct.unpack_from("<HH", header, _LOCAL.size - 4)
    return int(entry.header_offset + _LOCAL.size + name_length + extra_length)


def extract(data: bytes, entry: ZipEntry, *, limit: int) -> bytes:
    """Return ``entry``'s content from its stored ``data``, checked against its size and CRC-32.

    Raises ``ZipFormatError`` for encryption, an unsupported method, a size above ``limit`` or
    content that does not match the directory.
    """
    if entry.flags & 0x1:
        raise ZipFormatError(f"{entry.name} is encrypted")
    if entry.size > limit:
        raise ZipFormatError(f"{entry.name} is {entry.size} bytes, more than {limit}")
    if entry.method == _STORED:
        content = data
    elif entry.method == _DEFLATED:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            content = inflater.decompress(data, entry.size + 1)
        except zlib.error as error:
            raise ZipFormatError(f"{entry.name} does not inflate: {error}") from None
    else:
        raise ZipFormatError(f"{entry.name} uses compression method {entry.method}")
    if len(content) != entry.size or zlib.crc32(content) != entry.crc:
        raise ZipFormatError(f"{entry.name} does not match its size and CRC-32")
    return content


def find_dist_info_member(
    names: Iterable[str], name: NormalizedName, version: Version, member: str = "METADATA"
) -> str | None:
    """Return the path of ``member`` in the wheel's own ``<name>-<version>.dist-info``, if any.

    The directory's name and version are compared normalised, as installers compare them.
    """
    for path in names:
        directory, _, filename = path.partition("/")
        if filename != member or not directory.endswith(".dist-info"):
            continue
        dist_name, _, dist_version = directory.removesuffix(".dist-info").rpartition("-")
        try:
            if canonicalize_name(dist_name) == name and Version(dist_version) == version:
                return path
        except InvalidVersion:
            continue
    return None


def _apply_zip64(extra: bytes, size: int, compressed: int, offset: int) -> tuple[int, int, int]:
    """Replace the 32-bit fields saturated at 0xFFFFFFFF with their ZIP64 extra values."""
    position = 0
    while position + 4 <= len(extra):
        kind, length = struct.unpack_from("<HH", extra, position)
        body = extra[position + 4 : position + 4 + length]
        position += 4 + length
        if kind != _ZIP64_EXTRA:
            continue
        values = list(struct.unpack_from(f"<{len(body) // 8}Q", body))
        if size == 0xFFFFFFFF and values:
            size = values.pop(0)
        if compressed == 0xFFFFFFFF and values:
            compressed = values.pop(0)
        if offset == 0xFFFFFFFF and values:
            offset = values.pop(0)
        break
    if 0xFFFFFFFF in (size, compressed, offset):
        raise ZipFormatError("ZIP64 sizes without a ZIP64 extra field")
    return size, compressed, offset
