"""Core metadata without downloads: PEP 658 files, ranged wheel reads, whole files, the cache.

Everything runs against a real LocalIndex on 127.0.0.1; the index's request log proves what was
asked for and what was not.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import hashlib
import io
import logging
import struct
import tarfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest
from packaging.version import Version

from cellar.model import DistFile, frozen_mapping
from cellar.select.metadata import (
    DEFAULT_BUILD_REQUIRES,
    DistMetadata,
    InvalidMetadataError,
    build_requires_of,
    check_identity,
    file_identity,
    parse_metadata,
    parse_requires_txt,
    parse_sdist_metadata,
)
from cellar.state import MirrorState
from cellar.upstream import zipmeta
from cellar.upstream.client import ClientSettings, UpstreamClient
from cellar.upstream.errors import (
    UnreadableDistributionError,
    UpstreamDigestMismatchError,
    UpstreamHTTPError,
)
from cellar.upstream.metadata import FetcherStats, MetadataFetcher, metadata_cache_key
from cellar.upstream.retry import RetryPolicy
from tests.support.packages import Dist, build_sdist, build_wheel, core_metadata
from tests.support.upstream import LocalIndex

FAST_RETRY = RetryPolicy(retries=1, backoff=0.01, max_backoff=0.05)
MIB = 1024 * 1024


def blob(size: int) -> bytes:
    """Deterministic bytes that do not compress: a chain of sha256 digests."""
    blocks, digest = [], b"cellar"
    for _ in range(size // 32 + 1):
        digest = hashlib.sha256(digest).digest()
        blocks.append(digest)
    return b"".join(blocks)[:size]


def zip_of(members: Mapping[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip with ``members`` in the order given."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, content in members.items():
            info = zipfile.ZipInfo(path, date_time=(2020, 2, 2, 0, 0, 0))
            info.compress_type = method
            archive.writestr(info, content)
    return buffer.getvalue()


def tar_of(members: Mapping[str, bytes], mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:  # type: ignore[call-overload]
        for path, content in members.items():
            info = tarfile.TarInfo(path)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def as_zip64(data: bytes) -> bytes:
    """Rewrite a zip's central directory and end records in ZIP64 form (sizes in extra fields)."""
    end = data.rindex(b"PK\x05\x06")
    _, _, _, _, count, _, cd_offset, _ = struct.unpack_from("<4sHHHHIIH", data, end)
    directory, position = bytearray(), cd_offset
    for _ in range(count):
        fields = list(struct.unpack_from("<4sHHHHHHIIIHHHHHII", data, position))
        name_length, extra_length, comment_length = fields[10:13]
        name = data[position + 46 : position + 46 + name_length]
        extra = struct.pack("<HHQQQ", 1, 24, fields[9], fields[8], fields[16])
        fields[8] = fields[9] = fields[16] = 0xFFFFFFFF
        fields[11], fields[12] = len(extra), 0
        directory += struct.pack("<4sHHHHHHIIIHHHHHII", *fields) + name + extra
        position += 46 + name_length + extra_length + comment_length
    zip64_end = cd_offset + len(directory)
    record = struct.pack(
        "<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(directory), cd_offset
    )
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, zip64_end, 1)
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return data[:cd_offset] + bytes(directory) + record + locator + eocd


def custom_dist(filename: str, data: bytes, metadata: bytes = b"") -> Dist:
    return Dist(filename=filename, data=data, metadata=metadata)


def fetch(
    index: LocalIndex,
    project: str,
    filename: str,
    *,
    state_dir: Path | None = None,
    change: Mapping[str, object] | None = None,
    **options: object,
) -> tuple[DistMetadata, FetcherStats]:
    """Fetch ``filename``'s metadata from ``project``'s page; return it and the fetcher's stats."""

    async def main() -> tuple[DistMetadata, FetcherStats]:
        settings = ClientSettings(index.url, timeout=10.0, retry=FAST_RETRY)
        async with UpstreamClient(settings) as client:
            page = await client.fetch_project(project)
            file = next(f for f in page.files if f.filename == filename)
            file = dataclasses.replace(file, **(change or {}))  # type: ignore[arg-type]
            if state_dir is None:
                fetcher = MetadataFetcher(client, None, **options)  # type: ignore[arg-type]
                return await fetcher.fetch(project, file), fetcher.stats()
            with MirrorState.open(state_dir) as state:
                fetcher = MetadataFetcher(client, state, **options)  # type: ignore[arg-type]
                return await fetcher.fetch(project, file), fetcher.stats()

    return asyncio.run(main())


def file_requests(index: LocalIndex) -> list[tuple[str, str | None]]:
    """(path, Range header) of each request for a distribution or metadata file."""
    return [(r.path, r.headers.get("Range")) for r in index.requests if "/simple/" not in r.path]


def requirements(metadata: DistMetadata) -> list[str]:
    return [str(r) for r in metadata.requires_dist]


# -- PEP 658 -------------------------------------------------------------------------------


def test_pep658_metadata_file_is_one_verified_request(local_index: LocalIndex) -> None:
    wheel = build_wheel("alpha", "1.0", requires_dist=["beta>=2", "gamma; extra == 'x'"])
    path = local_index.add(wheel)
    metadata, stats = fetch(local_index, "alpha", wheel.filename)
    assert (metadata.name, metadata.version) == ("alpha", "1.0")
    assert requirements(metadata) == ["beta>=2", 'gamma; extra == "x"']
    assert file_requests(local_index) == [(f"{path}.metadata", None)]
    assert stats == FetcherStats(requests=1, bytes_received=len(wheel.metadata))


@pytest.mark.parametrize("fault", [{"wrong_bytes": True}, {"status": 404}])
def test_unusable_metadata_file_falls_back_to_the_wheel(
    local_index: LocalIndex, caplog: pytest.LogCaptureFixture, fault: dict[str, object]
) -> None:
    wheel = build_wheel("alpha", "1.0", requires_dist=["beta>=2"])
    path = local_index.add(wheel)
    local_index.fault(f"{path}.metadata", **fault)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="cellar.upstream"):
        metadata, stats = fetch(local_index, "alpha", wheel.filename)
    assert requirements(metadata) == ["beta>=2"]
    assert stats.fallbacks == 1
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert wheel.filename in caplog.records[0].getMessage()
    assert [p for p, _ in file_requests(local_index)] == [f"{path}.metadata", path]


# -- wheels by ranged reads ----------------------------------------------------------------


def test_big_wheel_is_read_with_one_ranged_request(local_index: LocalIndex) -> None:
    wheel = build_wheel(
        "alpha", "1.0", requires_dist=["beta"], extra_files={"alpha/blob": blob(2 * MIB)}
    )
    path = local_index.add(wheel, metadata=False)
    metadata, stats = fetch(local_index, "alpha", wheel.filename)
    assert requirements(metadata) == ["beta"]
    assert file_requests(local_index) == [(path, "bytes=-65536")]
    assert len(wheel.data) > 2 * MIB
    assert stats.requests == 1
    assert stats.bytes_received <= 65536 < len(wheel.data) // 30


def test_central_directory_outside_the_tail_takes_more_ranges(local_index: LocalIndex) -> None:
    wheel = build_wheel(
        "alpha", "1.0", requires_dist=["beta"], extra_files={"alpha/blob": blob(2 * MIB)}
    )
    path = local_index.add(wheel, metadata=False)
    metadata, stats = fetch(local_index, "alpha", wheel.filename, tail_size=64)
    assert {p for p, _ in file_requests(local_index)} == {path}
    assert requirements(metadata) == ["beta"]
    ranges = [header for _, header in file_requests(local_index)]
    assert len(ranges) == 3
    assert ranges[0] == "bytes=-64"
    assert all(header and header.startswith("bytes=") for header in ranges)
    assert stats.bytes_received < 8 * 1024


def test_metadata_far_from_the_end_is_read_with_a_second_range(local_index: LocalIndex) -> None:
    metadata_bytes = core_metadata("alpha", "1.0", requires_dist=["beta"])
    data = zip_of(
        {
            "alpha-1.0.dist-info/METADATA": metadata_bytes,
            "alpha/blob": blob(2 * MIB),
            "alpha-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\n",
        }
    )
    local_index.add(custom_dist("alpha-1.0-py3-none-any.whl", data, metadata_bytes), metadata=False)
    metadata, stats = fetch(local_index, "alpha", "alpha-1.0-py3-none-any.whl")
    assert requirements(metadata) == ["beta"]
    assert stats.requests == 2
    assert stats.bytes_received < 70 * 1024


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_zip64_wheel_is_read_with_ranges(local_index: LocalIndex, method: int) -> None:
    metadata_bytes = core_metadata("alpha", "1.0", requires_dist=["beta"])
    members = {
        "alpha/blob": blob(300 * 1024),
        "alpha-1.0.dist-info/METADATA": metadata_bytes,
        "alpha-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\n",
    }
    data = as_zip64(zip_of(members, method))
    with zipfile.ZipFile(io.BytesIO(data)) as check:  # the rewrite is a valid zip
        assert check.testzip() is None
    assert zipmeta.parse_end_record(data[-256:], len(data) - 256).zip64_offset is not None
    local_index.add(custom_dist("alpha-1.0-py3-none-any.whl", data, metadata_bytes), metadata=False)
    metadata, stats = fetch(local_index, "alpha", "alpha-1.0-py3-none-any.whl", tail_size=256)
    assert requirements(metadata) == ["beta"]
    assert stats.whole_files == 0
    assert stats.bytes_received < 4096


def test_server_ignoring_range_gives_the_whole_file_once(local_index: LocalIndex) -> None:
    wheel = build_wheel(
        "alpha", "1.0", requires_dist=["beta"], extra_files={"alpha/blob": blob(MIB)}
    )
    local_index.ranges = False
    path = local_index.add(wheel, metadata=False)
    metadata, stats = fetch(local_index, "alpha", wheel.filename)
    assert requirements(metadata) == ["beta"]
    assert file_requests(local_index) == [(path, "bytes=-65536")]
    assert (stats.requests, stats.bytes_received) == (1, len(wheel.data))
    assert (stats.fallbacks, stats.whole_files) == (1, 1)


def test_large_file_without_ranges_is_spooled_to_a_temporary_file(
    local_index: LocalIndex, tmp_path: Path
) -> None:
    wheel = build_wheel(
        "alpha", "1.0", requires_dist=["beta"], extra_files={"alpha/blob": blob(MIB)}
    )
    local_index.ranges = False
    local_index.add(wheel, metadata=False)
    spool = tmp_path / "spool"
    spool.mkdir()
    metadata, stats = fetch(
        local_index, "alpha", wheel.filename, memory_limit=100_000, temp_dir=spool
    )
    assert requirements(metadata) == ["beta"]
    assert stats.requests == 2  # the tail (abandoned past the limit), then the download
    assert list(spool.iterdir()) == []


def test_damaged_zip_falls_back_to_the_whole_file_and_says_why(local_index: LocalIndex) -> None:
    data = b"not a zip at all" * 100
    local_index.add(custom_dist("alpha-1.0-py3-none-any.whl", data), metadata=False)
    with pytest.raises(UnreadableDistributionError) as caught:
        fetch(local_index, "alpha", "alpha-1.0-py3-none-any.whl")
    assert "alpha-1.0-py3-none-any.whl" in str(caught.value)
    assert "not a readable zip" in caught.value.reason
    assert len(file_requests(local_index)) == 2


def test_wheel_without_its_metadata_is_an_error_naming_the_url(local_index: LocalIndex) -> None:
    data = zip_of({"alpha/__init__.py": b"", "other-1.0.dist-info/METADATA": b"Name: other\n"})
    path = local_index.add(custom_dist("alpha-1.0-py3-none-any.whl", data), metadata=False)
    with pytest.raises(UnreadableDistributionError) as caught:
        fetch(local_index, "alpha", "alpha-1.0-py3-none-any.whl")
    assert "no alpha-1.0.dist-info/METADATA in the wheel" in str(caught.value)
    assert caught.value.url.endswith(path)
    assert len(file_requests(local_index)) == 1  # no whole download just to fail again


def test_missing_file_is_an_http_error(local_index: LocalIndex) -> None:
    wheel = build_wheel("alpha", "1.0")
    path = local_index.add(wheel, metadata=False)
    local_index.fault(path, status=404)
    with pytest.raises(UpstreamHTTPError) as caught:
        fetch(local_index, "alpha", wheel.filename)
    assert caught.value.status == 404
    assert caught.value.url.endswith(path)


# -- sdists and identity -------------------------------------------------------------------


def test_sdist_pkg_info_and_build_requires_from_pyproject(local_index: LocalIndex) -> None:
    sdist = build_sdist(
        "alpha",
        "1.0",
        requires_dist=["beta>=1"],
        build_requires=["flit_core>=3.2,<4"],
        build_backend="flit_core.buildapi",
    )
    local_index.add(sdist)  # a .metadata file is offered, but sdists are read whole
    metadata, stats = fetch(local_index, "alpha", sdist.filename)
    assert requirements(metadata) == ["beta>=1"]
    assert [str(r) for r in metadata.build_requires or ()] == ["flit_core<4,>=3.2"]
    assert (stats.requests, stats.whole_files) == (1, 1)
    assert metadata.problems == ()


OLD_PKG_INFO = b"Metadata-Version: 1.1\nName: alpha\nVersion: 1.0\nSummary: old\n\n"
REQUIRES_TXT = b"""requests>=2
six

[socks]
PySocks!=1.5.7,>=1.5.6

[:python_version < "3.8"]
importlib-metadata

[tests:sys_platform == "win32"]
pywin32
"""
FROM_REQUIRES_TXT = [
    "requests>=2",
    "six",
    'PySocks!=1.5.7,>=1.5.6; extra == "socks"',
    'importlib-metadata; python_version < "3.8"',
    'pywin32; sys_platform == "win32" and extra == "tests"',
]


@pytest.mark.parametrize(
    ("filename", "pack"),
    [
        ("alpha-1.0.tar.gz", tar_of),
        ("alpha-1.0.tar.bz2", lambda members: tar_of(members, "w:bz2")),
        ("alpha-1.0.zip", zip_of),
    ],
)
def test_old_sdist_requirements_come_from_egg_info(
    local_index: LocalIndex, filename: str, pack: object
) -> None:
    members = {
        "alpha-1.0/PKG-INFO": OLD_PKG_INFO,
        "alpha-1.0/setup.py": b"from setuptools import setup; setup()\n",
        "alpha-1.0/alpha.egg-info/PKG-INFO": OLD_PKG_INFO,
        "alpha-1.0/alpha.egg-info/requires.txt": REQUIRES_TXT,
    }
    data = pack(members)  # type: ignore[operator]
    local_index.add(custom_dist(filename, data, OLD_PKG_INFO), metadata=False)
    metadata, _ = fetch(local_index, "alpha", filename)
    assert requirements(metadata) == FROM_REQUIRES_TXT
    assert metadata.provides_extra == ("socks", "tests")
    assert [str(r) for r in metadata.build_requires or ()] == list(DEFAULT_BUILD_REQUIRES)
    assert any("requires.txt" in problem for problem in metadata.problems)


def test_pyproject_without_build_system_gets_the_setuptools_default(
    local_index: LocalIndex,
) -> None:
    pkg_info = core_metadata("alpha", "1.0", requires_dist=["beta"])
    data = tar_of(
        {
            "alpha-1.0/PKG-INFO": pkg_info,
            "alpha-1.0/pyproject.toml": b"[tool.black]\nline-length = 100\n",
        }
    )
    local_index.add(custom_dist("alpha-1.0.tar.gz", data, pkg_info), metadata=False)
    metadata, _ = fetch(local_index, "alpha", "alpha-1.0.tar.gz")
    # What pip up to 23.3 asks for (pip 24 only the first): both must be in the mirror.
    assert [str(r) for r in metadata.build_requires or ()] == ["setuptools>=40.8.0", "wheel"]
    assert requirements(metadata) == ["beta"]


def test_whole_file_is_checked_against_its_hash(local_index: LocalIndex) -> None:
    sdist = build_sdist("alpha", "1.0")
    path = local_index.add(sdist, metadata=False)
    local_index.fault(path, wrong_bytes=True)
    with pytest.raises(UpstreamDigestMismatchError) as caught:
        fetch(local_index, "alpha", sdist.filename)
    assert (caught.value.algorithm, caught.value.expected) == ("sha256", sdist.sha256)
    assert caught.value.url.endswith(path)


def test_version_mismatch_is_invalid_metadata(local_index: LocalIndex) -> None:
    pkg_info = core_metadata("alpha", "1.0")
    data = tar_of({"alpha-2.0/PKG-INFO": pkg_info})
    path = local_index.add(custom_dist("alpha-2.0.tar.gz", data, pkg_info), metadata=False)
    with pytest.raises(InvalidMetadataError) as caught:
        fetch(local_index, "alpha", "alpha-2.0.tar.gz")
    assert caught.value.source.endswith(path)
    assert "version 1.0" in caught.value.reason and "2.0" in caught.value.reason


def test_name_mismatch_in_a_wheel_is_invalid_metadata(local_index: LocalIndex) -> None:
    data = zip_of({"alpha-1.0.dist-info/METADATA": core_metadata("beta", "1.0")})
    local_index.add(
        custom_dist("alpha-1.0-py3-none-any.whl", data), project="alpha", metadata=False
    )
    with pytest.raises(InvalidMetadataError, match="'beta'"):
        fetch(local_index, "alpha", "alpha-1.0-py3-none-any.whl")


def test_version_compared_as_a_version_and_name_normalised(local_index: LocalIndex) -> None:
    metadata_bytes = core_metadata("Alpha.Beta", "1.0.0")
    data = zip_of({"Alpha.Beta-1.0.0.dist-info/METADATA": metadata_bytes})
    filename = "alpha_beta-1.0-py3-none-any.whl"
    local_index.add(custom_dist(filename, data), project="alpha-beta", metadata=False)
    metadata, _ = fetch(local_index, "alpha-beta", filename)
    assert (metadata.name, metadata.version) == ("alpha-beta", "1.0.0")


# -- the cache and concurrency -------------------------------------------------------------


def test_second_fetch_asks_the_upstream_nothing(local_index: LocalIndex, tmp_path: Path) -> None:
    wheel = build_wheel(
        "alpha", "1.0", requires_dist=["beta"], extra_files={"alpha/blob": blob(MIB)}
    )
    sdist = custom_dist(
        "alpha-1.0.tar.gz",
        tar_of(
            {"alpha-1.0/PKG-INFO": OLD_PKG_INFO, "alpha-1.0/a.egg-info/requires.txt": REQUIRES_TXT}
        ),
    )
    local_index.add(wheel, metadata=False)
    local_index.add(sdist, project="alpha", metadata=False)

    async def twice(filename: str, **change: object) -> tuple[DistMetadata, ...]:
        settings = ClientSettings(local_index.url, retry=FAST_RETRY)
        async with UpstreamClient(settings) as client:
            page = await client.fetch_project("alpha")
            file = next(f for f in page.files if f.filename == filename)
            file = dataclasses.replace(file, **change)  # type: ignore[arg-type]
            local_index.reset_log()
            with MirrorState.open(tmp_path) as state:
                first_fetcher = MetadataFetcher(client, state)
                first = await first_fetcher.fetch("alpha", file)
                assert local_index.requests != []
                local_index.reset_log()
                second_fetcher = MetadataFetcher(client, state)
                second = await second_fetcher.fetch("alpha", file)
                assert second_fetcher.stats() == FetcherStats(cache_hits=1)
            with MirrorState.open(tmp_path, create=False) as reopened:
                third = await MetadataFetcher(client, reopened).fetch("alpha", file)
            assert local_index.requests == []
            return first, second, third

    for filename, change in [
        (wheel.filename, {}),
        (wheel.filename, {"hashes": frozen_mapping({})}),  # keyed by URL instead of sha256
        (sdist.filename, {}),
    ]:
        first, second, third = asyncio.run(twice(filename, **change))
        assert first == second == third
        assert first.problems == second.problems == third.problems
        assert first.build_requires == third.build_requires


def test_concurrent_fetches_of_one_file_share_one_request(local_index: LocalIndex) -> None:
    wheels = [build_wheel("alpha", version, requires_dist=["beta"]) for version in ("1.0", "2.0")]
    paths = [local_index.add(wheel) for wheel in wheels]
    local_index.fault(".metadata", delay=0.2)

    async def main() -> tuple[list[DistMetadata], FetcherStats]:
        settings = ClientSettings(local_index.url, retry=FAST_RETRY)
        async with UpstreamClient(settings) as client:
            page = await client.fetch_project("alpha")
            fetcher = MetadataFetcher(client, None)
            calls = [fetcher.fetch("alpha", file) for file in page.files for _ in range(10)]
            return list(await asyncio.gather(*calls)), fetcher.stats()

    results, stats = asyncio.run(main())
    assert {r.version for r in results} == {"1.0", "2.0"}
    assert [local_index.count(f"{path}.metadata") for path in paths] == [1, 1]
    assert (stats.requests, stats.joined) == (2, 18)


def test_a_failure_reaches_every_waiter_and_is_not_cached(
    local_index: LocalIndex, tmp_path: Path
) -> None:
    wheel = build_wheel("alpha", "1.0")
    path = local_index.add(wheel, metadata=False)
    local_index.fault(path, status=403, delay=0.1, times=1)

    async def main() -> list[object]:
        settings = ClientSettings(local_index.url, retry=FAST_RETRY)
        async with UpstreamClient(settings) as client:
            file = (await client.fetch_project("alpha")).files[0]
            with MirrorState.open(tmp_path) as state:
                fetcher = MetadataFetcher(client, state)
                calls = [fetcher.fetch("alpha", file) for _ in range(3)]
                outcomes: list[object] = [*await asyncio.gather(*calls, return_exceptions=True)]
                outcomes.append(await fetcher.fetch("alpha", file))
                return outcomes

    *failures, success = asyncio.run(main())
    assert all(isinstance(f, UpstreamHTTPError) and f.status == 403 for f in failures)
    assert isinstance(success, DistMetadata)


# -- pure parts ----------------------------------------------------------------------------


def test_requires_txt_sections_become_markers() -> None:
    text = REQUIRES_TXT + b"\n[url]\npkg @ https://example.invalid/pkg.zip\nbad requirement!!\n"
    found, extras, problems = parse_requires_txt(text)
    assert [str(r) for r in found] == [
        *FROM_REQUIRES_TXT,
        'pkg @ https://example.invalid/pkg.zip ; extra == "url"',
    ]
    assert extras == ("socks", "tests", "url")
    assert len(problems) == 1 and "bad requirement" in problems[0]


def test_build_requires_of_pyproject() -> None:
    assert build_requires_of(None) == (DEFAULT_BUILD_REQUIRES, ())
    assert build_requires_of(b'[build-system]\nrequires = ["hatchling"]\n') == (("hatchling",), ())
    assert build_requires_of(b"[project]\nname = 'x'\n") == (DEFAULT_BUILD_REQUIRES, ())
    # setuptools before 70.1 asks for wheel as well, so a setuptools backend gets it planned.
    capped = (
        b'[build-system]\nrequires = ["setuptools<65"]\nbuild-backend = "setuptools.build_meta"\n'
    )
    assert build_requires_of(capped) == (("setuptools<65", "wheel"), ())
    legacy = b'[build-system]\nrequires = ["setuptools", "Wheel>=0.30"]\n'
    assert build_requires_of(legacy) == (("setuptools", "Wheel>=0.30"), ())
    implied = b'[build-system]\nrequires = ["setuptools>=61", "wheelhouse"]\n'
    assert build_requires_of(implied) == (("setuptools>=61", "wheelhouse", "wheel"), ())
    default, problems = build_requires_of(b"[build-system\n")
    assert default == DEFAULT_BUILD_REQUIRES and "unreadable" in problems[0]
    default, problems = build_requires_of(b"[build-system]\nbuild-backend = 'x'\n")
    assert default == DEFAULT_BUILD_REQUIRES and "not a list" in problems[0]


def test_new_pkg_info_without_requirements_needs_no_egg_info() -> None:
    pkg_info = b"Metadata-Version: 2.2\nName: alpha\nVersion: 1.0\n\n"
    metadata = parse_sdist_metadata(
        pkg_info, "x", build_requires=["bad req!!"], requires_txt=b"six"
    )
    assert metadata.requires_dist == ()
    assert metadata.build_requires == ()
    assert metadata.problems and "bad req" in metadata.problems[0]
    dynamic = pkg_info.replace(b"\n\n", b"\nDynamic: Requires-Dist\n\n")
    metadata = parse_sdist_metadata(dynamic, "x", build_requires=[], requires_txt=b"six")
    assert requirements(metadata) == ["six"]


def test_identity_of_files() -> None:
    assert file_identity("Alpha_Beta-1.0.tar.bz2") == ("alpha-beta", Version("1.0"))
    assert file_identity("alpha-1.0-py3-none-any.whl") == ("alpha", Version("1.0"))
    assert file_identity("alpha.exe") is None
    metadata = parse_metadata(core_metadata("alpha", "1.0"), "x")
    check_identity(metadata, "alpha.egg", "alpha", "x")
    with pytest.raises(InvalidMetadataError, match="not 'beta'"):
        check_identity(metadata, "alpha.egg", "beta", "x")


def test_spans_merge_and_report_what_is_missing() -> None:
    spans = zipmeta.Spans(100)
    spans.add(80, b"t" * 20)
    assert spans.missing(85, 100) is None and spans.read(85, 90) == b"ttttt"
    assert spans.missing(10, 90) == (10, 80)
    spans.add(10, b"m" * 70)
    assert spans.read(10, 100) == b"m" * 70 + b"t" * 20
    assert spans.missing(0, 20) == (0, 10)


def test_zip_structure_errors() -> None:
    with pytest.raises(zipmeta.ZipFormatError, match="no end of central directory"):
        zipmeta.parse_end_record(b"x" * 100, 0)
    data = zip_of({"a": b"hello"})
    end = zipmeta.parse_end_record(data, 0)
    (entry,) = zipmeta.parse_central_directory(data[end.cd_offset :], end.entries)
    start = zipmeta.member_data_offset(data[entry.header_offset :], entry)
    assert zipmeta.extract(data[start : start + entry.compressed_size], entry, limit=10) == b"hello"
    with pytest.raises(zipmeta.ZipFormatError, match="more than 4"):
        zipmeta.extract(b"", entry, limit=4)
    with pytest.raises(zipmeta.ZipFormatError, match="CRC"):
        zipmeta.extract(gzip.compress(b"hellp")[10:-8], entry, limit=10)


def test_cache_key_is_the_sha256_else_the_url() -> None:
    file = DistFile(
        "a-1.0.tar.gz", "http://127.0.0.1/a-1.0.tar.gz", frozen_mapping({"sha256": "ab"})
    )
    assert metadata_cache_key(file) == "sha256:ab"
    assert metadata_cache_key(dataclasses.replace(file, hashes={})) == f"url:{file.url}"
