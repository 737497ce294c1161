"""bandersnatch's filter plugins on literal pages: each plugin's semantics, as bandersnatch has them."""

from __future__ import annotations

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from cellar.filters import (
    Filters,
    current_release,
    package_type,
    parse_size,
    platform_rules,
    python_tag_patterns,
)
from cellar.model import DistFile, ProjectPage
from cellar.select.releases import any_file_version


def dist(
    filename: str, *, size: int = 100, yanked: bool = False, uploaded: str | None = None
) -> DistFile:
    return DistFile(
        filename,
        f"http://127.0.0.1/files/{filename}",
        size=size,
        yanked=yanked,
        upload_time=uploaded,
    )


def page(name: str, *filenames: str) -> ProjectPage:
    return ProjectPage(name, tuple(dist(f) for f in filenames))


def kept(filters: Filters, project: ProjectPage) -> list[str]:
    result, reason = filters.apply(project)
    assert reason is None
    return sorted(file.filename for file in result.files)


def wheels(name: str, *versions: str) -> ProjectPage:
    return page(name, *(f"{name}-{v}-py3-none-any.whl" for v in versions))


def reqs(*lines: str) -> tuple[Requirement, ...]:
    return tuple(Requirement(line) for line in lines)


def test_no_filters_keep_every_file() -> None:
    project = page("foo", "foo-1.0.tar.gz", "foo-1.0-cp27-cp27m-win32.whl", "foo-1.0.win32.exe")
    assert kept(Filters(), project) == sorted(f.filename for f in project.files)


def test_project_blocklist_and_regex_leave_the_whole_project_out() -> None:
    filters = Filters(
        block_projects=frozenset({canonicalize_name("Evil_Thing")}), project_patterns=(r".+-evil$",)
    )
    for name in ("evil-thing", "EVIL.thing", "very-evil", "Very_Evil"):
        result, reason = filters.apply(wheels(name, "1.0"))
        assert result.files == ()
        assert reason is not None
    assert filters.project_excluded("good") is None
    assert "blocklist" in (filters.project_excluded("Evil.Thing") or "")
    assert "pattern" in (filters.project_excluded("x-evil") or "")


def test_allowlist_release_keeps_matching_releases_of_the_projects_it_names_only() -> None:
    filters = Filters(allow_releases=reqs("foo==1.2", "foo>=2.5", "bar<2"))
    assert kept(filters, wheels("foo", "1.0", "1.2", "2.0", "3.0rc1", "3.1")) == [
        "foo-1.2-py3-none-any.whl",
        "foo-3.0rc1-py3-none-any.whl",  # specifiers admit pre-releases, as in bandersnatch
        "foo-3.1-py3-none-any.whl",
    ]
    assert len(kept(filters, wheels("other", "1.0", "2.0"))) == 2


def test_blocklist_release_leaves_matching_releases_out() -> None:
    filters = Filters(block_releases=reqs("foo>=1.4.2,<1.9,!=1.5.*", "bar"))
    assert kept(filters, wheels("foo", "1.4", "1.5.1", "1.6", "2.0b1")) == [
        "foo-1.4-py3-none-any.whl",
        "foo-1.5.1-py3-none-any.whl",
        "foo-2.0b1-py3-none-any.whl",
    ]
    # A bare name in blocklist_release matches every release.
    assert kept(filters, wheels("bar", "1.0")) == []


def test_prerelease_filter_uses_bandersnatch_patterns_optionally_per_project() -> None:
    versions = ("1.0", "2.0rc1", "2.0a3", "2.0b2", "2.0.dev4", "2.0.post1", "1.0a1.post1")
    everything = Filters(drop_prereleases=True)
    assert kept(everything, wheels("foo", *versions)) == [
        "foo-1.0-py3-none-any.whl",
        "foo-1.0a1.post1-py3-none-any.whl",  # no pattern matches a post-release
        "foo-2.0.post1-py3-none-any.whl",
    ]
    only_duckdb = Filters(
        drop_prereleases=True, prerelease_projects=frozenset({canonicalize_name("DuckDB")})
    )
    assert len(kept(only_duckdb, wheels("foo", *versions))) == len(versions)
    assert kept(only_duckdb, wheels("duckdb", "1.0", "1.1.dev3")) == ["duckdb-1.0-py3-none-any.whl"]


def test_regex_release_matches_the_version_string() -> None:
    filters = Filters(release_patterns=(r".+alpha\d$", r"^0\."))
    # Versions are PEP 440-normalised first: 1.0alpha1 is 1.0a1, which the pattern misses.
    assert kept(filters, wheels("foo", "0.9", "1.0", "1.0alpha1")) == [
        "foo-1.0-py3-none-any.whl",
        "foo-1.0alpha1-py3-none-any.whl",
    ]


def test_latest_release_keeps_the_newest_and_the_current_release() -> None:
    filters = Filters(latest=2)
    assert kept(filters, wheels("foo", "1.0", "1.1", "2.0", "3.0")) == [
        "foo-2.0-py3-none-any.whl",
        "foo-3.0-py3-none-any.whl",
    ]
    # 1.1 is what PyPI calls current (newest final); it replaces the 2nd newest.
    assert kept(filters, wheels("foo", "1.0", "1.1", "2.0b1", "2.0rc1")) == [
        "foo-1.1-py3-none-any.whl",
        "foo-2.0rc1-py3-none-any.whl",
    ]
    assert len(kept(Filters(latest=10), wheels("foo", "1.0", "2.0"))) == 2


def test_latest_release_by_upload_time() -> None:
    files = (
        dist("foo-1.0-py3-none-any.whl", uploaded="2024-03-01T00:00:00Z"),
        dist("foo-2.0-py3-none-any.whl", uploaded="2020-01-01T00:00:00Z"),
        dist("foo-1.5-py3-none-any.whl", uploaded="2023-01-01T00:00:00.123456Z"),
        dist("foo-1.5.tar.gz", uploaded="2022-12-31T00:00:00Z"),
    )
    by_time = Filters(latest=2, latest_by="time")
    assert kept(by_time, ProjectPage("foo", files)) == [
        # 2.0 is current, so it replaces the second most recent upload (1.5).
        "foo-1.0-py3-none-any.whl",
        "foo-2.0-py3-none-any.whl",
    ]
    by_version = Filters(latest=2)
    assert kept(by_version, ProjectPage("foo", files)) == [
        "foo-1.5-py3-none-any.whl",
        "foo-1.5.tar.gz",
        "foo-2.0-py3-none-any.whl",
    ]


def test_latest_counts_among_releases_the_other_filters_keep() -> None:
    filters = Filters(latest=1, block_releases=reqs("foo==3.0"))
    assert kept(filters, wheels("foo", "1.0", "2.0", "3.0")) == ["foo-2.0-py3-none-any.whl"]


def test_pinned_requirements_override_every_other_release_filter() -> None:
    filters = Filters(
        pinned_releases=reqs("foo==1.0rc1", "foo==0.5"),
        drop_prereleases=True,
        latest=1,
        release_patterns=(r"^0\.",),
        block_releases=reqs("foo==0.5"),
    )
    assert kept(filters, wheels("foo", "0.5", "1.0rc1", "2.0")) == [
        "foo-0.5-py3-none-any.whl",
        "foo-1.0rc1-py3-none-any.whl",
    ]
    # Other projects get the other filters.
    assert kept(filters, wheels("bar", "0.5", "1.0rc1", "2.0", "1.5")) == [
        "bar-2.0-py3-none-any.whl"
    ]


def test_exclude_platform_leaves_binaries_out_and_never_sdists() -> None:
    project = page(
        "foo",
        "foo-1.0.tar.gz",
        "foo-1.0.zip",
        "foo-1.0-py3-none-any.whl",
        "foo-1.0-cp312-cp312-win_amd64.whl",
        "foo-1.0-cp312-cp312-win32.whl",
        "foo-1.0-cp312-cp312-macosx_11_0_arm64.whl",
        "foo-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "foo-1.0-cp27-cp27mu-manylinux1_x86_64.whl",
        "foo-1.0-py2.py3-none-any.whl",
        "foo-1.0.win32-py2.7.exe",
        "foo-1.0.win-amd64.msi",
        "foo-1.0-1.noarch.rpm",
        "foo-1.0.macosx-10.9-x86_64.dmg",
        "foo-1.0.linux-x86_64.tar.gz",
    )
    assert kept(Filters(exclude_platforms=("windows",)), project) == sorted(
        {f.filename for f in project.files}
        - {
            "foo-1.0-cp312-cp312-win_amd64.whl",
            "foo-1.0-cp312-cp312-win32.whl",
            "foo-1.0.win32-py2.7.exe",
            "foo-1.0.win-amd64.msi",
        }
    )
    linux = kept(Filters(exclude_platforms=("linux",)), project)
    assert not any("linux" in name for name in linux if not name.endswith(".tar.gz"))
    assert "foo-1.0-1.noarch.rpm" not in linux
    assert "foo-1.0.linux-x86_64.tar.gz" not in linux  # a built archive, not an sdist
    mac = kept(Filters(exclude_platforms=("macos",)), project)
    assert "foo-1.0-cp312-cp312-macosx_11_0_arm64.whl" not in mac
    assert "foo-1.0.macosx-10.9-x86_64.dmg" not in mac
    py27 = kept(Filters(exclude_platforms=("py2.7",)), project)
    assert "foo-1.0-cp27-cp27mu-manylinux1_x86_64.whl" not in py27
    assert "foo-1.0.win32-py2.7.exe" not in py27
    # bandersnatch's py2 matches "-py2." in universal wheels too.
    assert "foo-1.0-py2.py3-none-any.whl" not in kept(Filters(exclude_platforms=("py2",)), project)
    assert "foo-1.0-py3-none-any.whl" not in kept(Filters(exclude_platforms=("py3",)), project)
    assert "foo-1.0.tar.gz" in kept(Filters(exclude_platforms=("py3", "linux", "windows")), project)


def test_platform_rules_and_python_tags_are_bandersnatchs() -> None:
    assert python_tag_patterns("py2.7") == (
        "-cp27-",
        "-pp27-",
        "-ip27-",
        "-jy27-",
        "-py2.7-",
        "-py2.7.",
    )
    patterns, kinds = platform_rules(["Windows", "linux-i686"])
    assert "win_amd64" in patterns and "linux-i686" in patterns
    assert kinds == {"bdist_msi", "bdist_wininst"}
    with pytest.raises(ValueError, match="'solaris' is not a platform"):
        platform_rules(["solaris"])


def test_size_filter_counts_every_file_and_spares_the_exempt() -> None:
    big = ProjectPage(
        "huge", (dist("huge-1.0.tar.gz", size=600), dist("huge-2.0.tar.gz", size=500))
    )
    filters = Filters(max_project_size=1000)
    result, reason = filters.apply(big)
    assert result.files == ()
    assert reason == "its files total 1100 bytes, more than the limit of 1000"
    assert Filters(max_project_size=1100).apply(big)[1] is None
    exempt = Filters(max_project_size=1000, size_exempt=frozenset({canonicalize_name("Huge")}))
    assert len(exempt.apply(big)[0].files) == 2


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1024", 1024),
        ("1G", 1 << 30),
        ("1GB", 1 << 30),
        ("2 GiB", 2 << 30),
        ("1.5M", 3 << 19),
        ("500 kilobytes", 500 << 10),
        ("10 bytes", 10),
        ("3T", 3 << 40),
    ],
)
def test_sizes_read_as_humanfriendly_binary(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "G", "1 Q", "-1G", "one gigabyte"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(text)


def test_package_types_from_file_names() -> None:
    assert package_type("foo-1.0-py3-none-any.whl") == "bdist_wheel"
    assert package_type("foo-1.0.tar.gz") == "sdist"
    assert package_type("foo-1.0.zip") == "sdist"
    assert package_type("foo-1.0.win32.zip") == "bdist_dumb"
    assert package_type("foo-1.0-py2.7.egg") == "bdist_egg"
    assert package_type("foo-1.0.win32.exe") == "bdist_wininst"
    assert package_type("foo-1.0.msi") == "bdist_msi"
    assert package_type("foo-1.0.dmg") == "bdist_dmg"
    assert package_type("foo-1.0-1.noarch.rpm") == "bdist_rpm"
    assert package_type("README") == "unknown"


@pytest.mark.parametrize(
    ("filename", "version"),
    [
        ("foo_bar-1.0-py3-none-any.whl", "1.0"),
        ("foo-bar-2.0rc1.tar.gz", "2.0rc1"),
        ("Foo_Bar-1.0-py2.7.egg", "1.0"),
        ("foo-bar-1.0.win32-py2.7.exe", "1.0"),
        ("foo_bar-1.0.win-amd64.msi", "1.0"),
        ("foo-bar-1.0-1.noarch.rpm", "1.0"),
        ("foo-bar-1.0.tar.bz2", "1.0"),
        ("foo-bar-1.0.linux-x86_64.tar.gz", "1.0"),
        ("foo-bar-1.0.macosx-10.9-x86_64.dmg", "1.0"),
        ("foo-bar.txt", None),
        ("other-1.0.tar.bz2", None),
    ],
)
def test_any_file_version(filename: str, version: str | None) -> None:
    found = any_file_version(filename, canonicalize_name("foo-bar"))
    assert found == (Version(version) if version else None)


def test_current_release_is_pypis() -> None:
    def files(*yanked: bool) -> list[DistFile]:
        return [dist("x", yanked=flag) for flag in yanked]

    assert current_release(
        {Version("1.0"): files(False), Version("2.0b1"): files(False)}
    ) == Version("1.0")
    assert current_release(
        {Version("1.0"): files(True), Version("2.0b1"): files(False)}
    ) == Version("2.0b1")
    assert current_release(
        {Version("1.0"): files(True), Version("0.9"): files(True, True)}
    ) == Version("1.0")
    assert current_release({}) is None
