"""Core metadata of distribution files, fetched with as few bytes from the upstream as it takes.

In order of preference: the PEP 658 ``.metadata`` file where the index offers one (checked
against its hash); for a wheel, ranged reads of the zip's tail, central directory and METADATA
member (``ranged``); otherwise the whole file, in memory or in a temporary file when large
(``archives``). Sdists are always read whole: their build requirements are not in core metadata.
Results are cached in the mirror's state under the file's sha256 (its URL when the index states
none), and concurrent requests for one file share one fetch.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import Version

from cellar.model import DistFile
from cellar.select.metadata import (
    DistMetadata,
    InvalidMetadataError,
    build_requires_of,
    check_identity,
    file_identity,
    parse_metadata,
    parse_sdist_metadata,
)
from cellar.state import CachedMetadata, MirrorState
from cellar.tree.local import FileSink
from cellar.upstream import archives, ranged
from cellar.upstream.client import Fetched, UpstreamClient
from cellar.upstream.errors import (
    ResponseTooLargeError,
    UnreadableDistributionError,
    UpstreamDigestMismatchError,
    UpstreamHTTPError,
)

logger = logging.getLogger("cellar.upstream")

#: Failures of a PEP 658 file after which the distribution itself may still serve (the upstream
#: being unreachable is not one of them).
_METADATA_FILE_FAILURES = (
    UpstreamHTTPError,
    UpstreamDigestMismatchError,
    ResponseTooLargeError,
    InvalidMetadataError,
)

#: Bytes asked for in the first ranged read of a wheel: its end, usually with METADATA in it.
TAIL_SIZE = 64 * 1024
#: Files up to this size are read into memory; larger ones go through a temporary file.
MEMORY_LIMIT = 32 * 1024 * 1024
#: Hashes checked, best first: the first one the index states is verified.
_PREFERRED_HASHES = ("sha256", "sha512", "sha384", "blake2b", "sha3_256", "sha224", "sha1", "md5")


@dataclass(frozen=True, slots=True)
class FetcherStats:
    """What a ``MetadataFetcher`` has done so far, for reports and benchmarks.

    ``requests`` counts HTTP requests made (a retried request once); ``bytes_received`` their
    bodies; ``joined`` calls that waited for a fetch of the same file already under way;
    ``fallbacks`` times a cheaper way failed and a costlier one was taken; ``whole_files``
    distribution files downloaded whole.
    """

    requests: int = 0
    bytes_received: int = 0
    cache_hits: int = 0
    joined: int = 0
    fallbacks: int = 0
    whole_files: int = 0


def metadata_cache_key(file: DistFile) -> str:
    """Return the key ``file``'s metadata is cached under: its sha256, else its URL."""
    return f"sha256:{file.sha256}" if file.sha256 else f"url:{file.url}"


class MetadataFetcher:
    """Reads core metadata through an open ``client``, caching it in ``state`` (if not ``None``).

    ``temp_dir`` is where files larger than ``memory_limit`` are spooled (the system's
    temporary directory when ``None``).
    """

    def __init__(
        self,
        client: UpstreamClient,
        state: MirrorState | None,
        *,
        tail_size: int = TAIL_SIZE,
        memory_limit: int = MEMORY_LIMIT,
        temp_dir: Path | None = None,
    ) -> None:
        self._client = client
        self._state = state
        self._tail_size = tail_size
        self._memory_limit = memory_limit
        self._temp_dir = temp_dir
        self._in_flight: dict[str, asyncio.Task[DistMetadata]] = {}
        # Parsed once per run: every target's resolutions ask for the same releases.
        self._parsed: dict[str, DistMetadata] = {}
        self._counts = dict.fromkeys(FetcherStats.__dataclass_fields__, 0)

    def stats(self) -> FetcherStats:
        """Return a snapshot of the counters."""
        return FetcherStats(**self._counts)

    async def fetch(self, project: str, file: DistFile) -> DistMetadata:
        """Return the core metadata of ``file``, listed on ``project``'s page.

        Raises ``InvalidMetadataError`` when the metadata is unusable or names another
        project or version than the file; ``UnreadableDistributionError`` when the file is
        not an archive with metadata Cellar can read; ``UpstreamDigestMismatchError`` when a
        whole file differs from its hash; and ``UpstreamHTTPError`` /
        ``UpstreamConnectionError`` when the upstream fails.
        """
        key = metadata_cache_key(file)
        parsed = self._parsed.get(key)
        if parsed is not None:
            self._count(cache_hits=1)
            check_identity(parsed, file.filename, project, file.url)
            return parsed
        cached = self._state.cached_metadata(key) if self._state is not None else None
        if cached is not None:
            self._count(cache_hits=1)
            parsed = self._parsed[key] = _interpret(cached, project, file, file.url)
            return parsed
        task = self._in_flight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._fetch_and_record(key, project, file))
            self._in_flight[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        else:
            self._count(joined=1)
        # Shielded: one caller giving up must not cancel the fetch the others wait for.
        metadata = await asyncio.shield(task)
        # The same bytes may be listed under another name; the first caller's file was checked.
        check_identity(metadata, file.filename, project, file.url)
        self._parsed[key] = metadata
        return metadata

    def _forget(self, key: str, task: asyncio.Task[DistMetadata]) -> None:
        self._in_flight.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved here, so a failure nobody awaits any more is not logged

    def _count(self, **changes: int) -> None:
        for name, change in changes.items():
            self._counts[name] += change

    async def _fetch_and_record(self, key: str, project: str, file: DistFile) -> DistMetadata:
        found = None
        if file.core_metadata is not None and archives.dist_kind(file.filename) == "wheel":
            found = await self._from_metadata_file(project, file, file.core_metadata)
        if found is None:
            raw = await self._from_distribution(project, file)
            found = raw, _interpret(raw, project, file, file.url)
        raw, metadata = found
        if self._state is not None:
            self._state.record_metadata(key, raw, url=file.url)
        return metadata

    async def _from_metadata_file(
        self, project: str, file: DistFile, hashes: Mapping[str, str]
    ) -> tuple[CachedMetadata, DistMetadata] | None:
        url = file.url + ".metadata"
        try:
            answer = await self._get(url)
            _verify(url, answer.body, hashes)
            raw = CachedMetadata(answer.body)
            return raw, _interpret(raw, project, file, url)
        except _METADATA_FILE_FAILURES as error:
            self._count(fallbacks=1)
            logger.warning("PEP 658 metadata unusable, reading %s instead: %s", file.url, error)
            return None

    async def _from_distribution(self, project: str, file: DistFile) -> CachedMetadata:
        kind = archives.dist_kind(file.filename)
        if kind is None:
            reason = f"{file.filename} is neither a wheel nor an sdist"
            raise UnreadableDistributionError(file.url, reason)
        whole = None
        spool = file.size is not None and file.size > self._memory_limit
        if kind == "wheel":
            name, version = _wheel_identity(file)
            try:
                return CachedMetadata(
                    await ranged.read_wheel_metadata(
                        lambda header: self._get(file.url, range_header=header),
                        file.url,
                        name,
                        version,
                        tail_size=self._tail_size,
                        limit=archives.MAX_MEMBER_SIZE,
                    )
                )
            except ranged.RangesUnusable as unusable:
                self._count(fallbacks=1)
                logger.info("reading all of %s: %s", file.url, unusable.reason)
                whole, spool = unusable.whole, spool or unusable.too_large
        self._count(whole_files=1)
        if whole is None and not spool:
            # Too large: the index understated the size, or stated none; spool it instead.
            with contextlib.suppress(ResponseTooLargeError):
                whole = (await self._get(file.url)).body
        if whole is None:
            return await self._spooled(project, file, kind)
        _verify(file.url, whole, file.hashes)
        return _read_archive(whole, kind, project, file)

    async def _spooled(
        self, project: str, file: DistFile, kind: archives.DistKind
    ) -> CachedMetadata:
        with tempfile.TemporaryDirectory(prefix="cellar-metadata-", dir=self._temp_dir) as tmp:
            path = Path(tmp) / "distribution"
            algorithms = _algorithm(file.hashes)
            try:
                # Cut at the stated size: a file that keeps coming is a lie, not a glitch.
                download = await self._client.download(
                    file.url, FileSink(path), algorithms=algorithms, max_size=file.size
                )
            finally:
                self._count(requests=1)
            self._count(bytes_received=download.size)
            for name, actual in download.digests.items():
                if actual != file.hashes[name].lower():
                    raise UpstreamDigestMismatchError(file.url, name, file.hashes[name], actual)
            return await asyncio.to_thread(_read_archive, path, kind, project, file)

    async def _get(self, url: str, *, range_header: str | None = None) -> Fetched:
        try:
            answer = await self._client.fetch_bytes(
                url, range_header=range_header, max_bytes=self._memory_limit
            )
        except ResponseTooLargeError as error:
            self._count(requests=1, bytes_received=error.received)
            raise
        except BaseException:
            self._count(requests=1)
            raise
        self._count(requests=1, bytes_received=len(answer.body))
        return answer


def _interpret(raw: CachedMetadata, project: str, file: DistFile, source: str) -> DistMetadata:
    """Parse ``raw`` and check it describes ``file``; raises ``InvalidMetadataError``."""
    if raw.build_requires is None:
        metadata = parse_metadata(raw.metadata, source)
    else:
        metadata = parse_sdist_metadata(
            raw.metadata, source, build_requires=raw.build_requires, requires_txt=raw.requires_txt
        )
    check_identity(metadata, file.filename, project, source)
    return metadata


def _read_archive(
    source: bytes | Path, kind: archives.DistKind, project: str, file: DistFile
) -> CachedMetadata:
    """Read the metadata files of the whole distribution ``source`` (``file``'s content)."""
    try:
        if kind == "wheel":
            name, version = _wheel_identity(file)
            return CachedMetadata(archives.wheel_metadata(source, name, version))
        identity = file_identity(file.filename)
        name = identity[0] if identity is not None else canonicalize_name(project)
        files = archives.sdist_files(source, kind, name)
    except archives.ArchiveError as error:
        raise UnreadableDistributionError(file.url, error.reason) from None
    build_requires, problems = build_requires_of(files.pyproject)
    for problem in problems:
        logger.warning("%s: %s; assuming the setuptools default", file.url, problem)
    return CachedMetadata(files.pkg_info, files.requires_txt, build_requires)


def _wheel_identity(file: DistFile) -> tuple[NormalizedName, Version]:
    try:
        name, version, _, _ = parse_wheel_filename(file.filename)
    except InvalidWheelFilename as error:
        raise UnreadableDistributionError(file.url, str(error)) from None
    return name, version


def _algorithm(hashes: Mapping[str, str]) -> tuple[str, ...]:
    """Return the one algorithm to check ``hashes`` with (none when none is known)."""
    for algorithm in _PREFERRED_HASHES:
        if algorithm in hashes:
            return (algorithm,)
    return ()


def _verify(url: str, data: bytes, hashes: Mapping[str, str]) -> None:
    for algorithm in _algorithm(hashes):
        actual = hashlib.new(algorithm, data).hexdigest()
        if actual != hashes[algorithm].lower():
            raise UpstreamDigestMismatchError(url, algorithm, hashes[algorithm], actual)
