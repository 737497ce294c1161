"""Resolving for one target: data-driven cases (tests/resolver_cases/*.toml) and unit tests.

Each case file holds a small index snapshot and cases against it, in the spirit of resolvelib's
functional tests. ``SnapshotRepository`` is the test double of the index (files and metadata
from the snapshot); ``TagTarget`` is a minimal target built with ``packaging.tags``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from packaging import tags
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from cellar.model import DistFile
from cellar.select.metadata import DistMetadata, InvalidMetadataError
from cellar.select.releases import ReleaseRefused
from cellar.select.resolve import Resolution, ResolutionFailed, installable_releases, resolve

CASES_DIR = Path(__file__).parent / "resolver_cases"

# -- a target from (python, platform) --------------------------------------------------------

_SYSTEMS = {  # platform prefix -> sys_platform, platform_system, os_name
    "manylinux": ("linux", "Linux", "posix"),
    "musllinux": ("linux", "Linux", "posix"),
    "win": ("win32", "Windows", "nt"),
    "macosx": ("darwin", "Darwin", "posix"),
}


@cache
def _platforms(platform: str) -> tuple[str, ...]:
    """Expand a platform tag to every tag a target on it accepts, best first."""
    if match := re.fullmatch(r"manylinux_2_(\d+)_(\w+)", platform):
        glibc, arch = int(match[1]), match[2]
        legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
        found: list[str] = []
        for minor in range(glibc, 4, -1):
            found.append(f"manylinux_2_{minor}_{arch}")
            if minor in legacy:
                found.append(f"{legacy[minor]}_{arch}")
        return tuple(found)
    if match := re.fullmatch(r"macosx_(\d+)_(\d+)_(\w+)", platform):
        version = (int(match[1]), int(match[2]))
        return tuple(tags.mac_platforms(version, match[3]))
    return (platform,)


@cache
def _ranks(python: tuple[int, int], platform: str) -> dict[tags.Tag, int]:
    platforms = list(_platforms(platform))
    interpreter = f"cp{python[0]}{python[1]}"
    ordered = [
        *tags.cpython_tags(python, platforms=platforms),
        *tags.compatible_tags(python, interpreter, platforms),
    ]
    ranks: dict[tags.Tag, int] = {}
    for rank, tag in enumerate(ordered):
        ranks.setdefault(tag, rank)
    return ranks


@dataclass(frozen=True)
class TagTarget:
    """CPython ``python`` on ``platform``: the markers and wheel tags pip would use."""

    python: tuple[int, int] = (3, 11)
    platform: str = "manylinux_2_28_x86_64"

    @classmethod
    def from_case(cls, data: dict[str, str]) -> TagTarget:
        major, minor = data.get("python", "3.11").split(".")
        return cls((int(major), int(minor)), data.get("platform", "manylinux_2_28_x86_64"))

    @property
    def name(self) -> str:
        return f"cp{self.python[0]}{self.python[1]}-{self.platform}"

    @property
    def python_full_version(self) -> Version:
        return Version(f"{self.python[0]}.{self.python[1]}.0")

    def markers(self) -> dict[str, str]:
        system = next(v for k, v in _SYSTEMS.items() if self.platform.startswith(k))
        machine = self.platform.split("_", 3)[-1] if system[1] != "Windows" else "AMD64"
        full = str(self.python_full_version)
        return {
            "implementation_name": "cpython",
            "implementation_version": full,
            "os_name": system[2],
            "platform_machine": machine,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": system[1],
            "platform_version": "",
            "python_full_version": full,
            "python_version": f"{self.python[0]}.{self.python[1]}",
            "sys_platform": system[0],
        }

    def wheel_rank(self, filename: str) -> int | None:
        if not filename.endswith(".whl"):
            return None
        ranks = _ranks(self.python, self.platform)
        found = [ranks[t] for t in parse_wheel_filename(filename)[3] if t in ranks]
        return min(found) if found else None


# -- the index snapshot ----------------------------------------------------------------------

#: A snapshot of an index: project -> version -> what the release has.
Index = dict[str, dict[str, dict[str, Any]]]
_EXTRA = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")


@dataclass
class SnapshotRepository:
    """Files and metadata from a TOML snapshot; counts what the resolver asks for."""

    index: Index
    page_requests: list[str] = field(default_factory=list)
    metadata_requests: list[tuple[str, str]] = field(default_factory=list)
    by_name: dict[str, dict[str, dict[str, Any]]] = field(init=False)

    def __post_init__(self) -> None:
        self.by_name = {canonicalize_name(p): r for p, r in self.index.items()}

    def _releases(self, name: str) -> dict[str, dict[str, Any]]:
        return self.by_name[name]  # a KeyError is a LookupError, as the protocol allows

    def project_files(self, name: NormalizedName) -> tuple[DistFile, ...]:
        self.page_requests.append(name)
        files: list[DistFile] = []
        for version, release in self._releases(name).items():
            if release.get("refused"):
                continue  # kept off the page by a policy, as the upstream repository does
            stem = f"{name.replace('-', '_')}-{version}"
            index_python = release.get("index_requires_python", release.get("requires_python"))
            names = [f"{stem}-{tag}.whl" for tag in release.get("wheels", ["py3-none-any"])]
            names += [f"{stem}.tar.gz"] if release.get("sdist", False) else []
            names += release.get("files", [])
            files += [
                DistFile(
                    filename,
                    f"http://127.0.0.1/files/{filename}",
                    requires_python=index_python or None,
                    yanked=release.get("yanked", False),
                )
                for filename in names
            ]
        return tuple(files)

    def policy_refused(self, name: NormalizedName) -> dict[str, str]:
        releases = self.by_name.get(name, {})
        return {v: r["refused"] for v, r in releases.items() if r.get("refused")}

    def metadata(
        self, name: NormalizedName, version: Version, files: Sequence[DistFile]
    ) -> DistMetadata:
        assert files, "metadata is asked for a release with installable files"
        self.metadata_requests.append((name, str(version)))
        release = next(r for v, r in self._releases(name).items() if Version(v) == version)
        if release.get("broken_metadata"):
            raise InvalidMetadataError(files[0].filename, "no Name or no Version field")
        if release.get("licence_refused"):
            raise ReleaseRefused(release["licence_refused"])
        requires = [Requirement(r) for r in release.get("requires_dist", [])]
        extras = release.get("extras")
        if extras is None:
            extras = sorted(
                {m for r in release.get("requires_dist", []) for m in _EXTRA.findall(r)}
            )
        python = release.get("requires_python")
        return DistMetadata(
            name=name,
            version=str(version),
            requires_dist=tuple(requires),
            requires_python=SpecifierSet(python) if python else None,
            provides_extra=tuple(canonicalize_name(e) for e in extras),
        )


# -- the cases -------------------------------------------------------------------------------


#: The keys a case file may use, at each level: a misspelt key fails loudly, never silently
#: turning a check off or a release into a plain one.
FILE_KEYS = frozenset({"index", "case"})
RELEASE_KEYS = frozenset(
    {
        *("requires_python", "index_requires_python", "requires_dist", "extras", "wheels"),
        *("sdist", "files", "yanked", "broken_metadata", "refused", "licence_refused"),
    }
)
CASE_KEYS = frozenset(
    {
        *("name", "requirements", "target", "prereleases", "sdists", "constraints"),
        *("expect", "expect_error", "expect_reasons", "expect_build", "expect_extras"),
        *("expect_files", "expect_why", "expect_notes"),
    }
)
TARGET_KEYS = frozenset({"python", "platform"})


def unknown_keys(data: dict[str, Any]) -> list[str]:
    """Return every key of a case file that its reader does not know, with where it is."""
    found = [f"top level: {key}" for key in sorted(set(data) - FILE_KEYS)]
    for project, releases in data.get("index", {}).items():
        for version, release in releases.items():
            where = f"index.{project}.{version}"
            found += [f"{where}: {key}" for key in sorted(set(release) - RELEASE_KEYS)]
    for case in data.get("case", []):
        where = f"case {case.get('name', '?')}"
        found += [f"{where}: {key}" for key in sorted(set(case) - CASE_KEYS)]
        target = case.get("target", {})
        found += [f"{where}: target.{key}" for key in sorted(set(target) - TARGET_KEYS)]
    return found


def _load_cases() -> list[Any]:
    params = []
    for path in sorted(CASES_DIR.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for case in data["case"]:
            params.append(pytest.param(data["index"], case, id=f"{path.stem}:{case['name']}"))
    return params


CASES = _load_cases()


def _run(index: Index, case: dict[str, Any]) -> Resolution:
    return resolve(
        [Requirement(r) for r in case["requirements"]],
        TagTarget.from_case(case.get("target", {})),
        SnapshotRepository(index),
        prereleases=case.get("prereleases", False),
        sdists=case.get("sdists", "needed"),
        constraints=[Requirement(c) for c in case.get("constraints", [])],
    )


@pytest.mark.parametrize(("index", "case"), CASES)
def test_case(index: Index, case: dict[str, Any]) -> None:
    if "expect_error" in case:
        with pytest.raises(ResolutionFailed) as failure:
            _run(index, case)
        message = str(failure.value)
        for fragment in case["expect_error"]:
            assert fragment in message, message
        if "expect_reasons" in case:
            assert [c.reason for c in failure.value.causes] == case["expect_reasons"]
        return
    resolution = _run(index, case)
    assert {n: str(p.version) for n, p in resolution.pins.items()} == case["expect"]
    if "expect_build" in case:
        assert (
            sorted(n for n, p in resolution.pins.items() if p.needs_build) == case["expect_build"]
        )
    for name, extras in case.get("expect_extras", {}).items():
        assert sorted(resolution.pins[name].extras) == extras
    for name, files in case.get("expect_files", {}).items():
        assert [f.filename for f in resolution.pins[name].files] == files
    for name, chains in case.get("expect_why", {}).items():
        assert [list(chain) for chain in resolution.why(name)] == chains
    notes = " | ".join(resolution.notes)
    for fragment in case.get("expect_notes", []):
        assert fragment in notes, notes


@pytest.mark.parametrize("path", sorted(CASES_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_case_files_use_only_known_keys(path: Path) -> None:
    assert unknown_keys(tomllib.loads(path.read_text(encoding="utf-8"))) == []


def test_an_unknown_key_is_found_wherever_it_is() -> None:
    data = {
        "index": {"a": {"1.0": {"requires_dist": [], "requires-dist": []}}},
        "case": [
            {"name": "c", "requirements": [], "expect": {}, "expected": {}, "target": {"os": ""}}
        ],
        "cases": [],
    }
    assert unknown_keys(data) == [
        "top level: cases",
        "index.a.1.0: requires-dist",
        "case c: expected",
        "case c: target.os",
    ]


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 20
    assert len({c.id.split(":")[0] for c in CASES}) >= 3


# -- unit tests ------------------------------------------------------------------------------

INDEX: dict[str, Any] = {
    "app": {
        "1.0": {"requires_dist": ["lib>=1", "tool; sys_platform == 'win32'"]},
        "2.0": {"requires_dist": ["lib>=2"]},
    },
    "lib": {
        "1.0": {},
        "2.0": {"wheels": ["cp311-abi3-manylinux_2_17_x86_64", "py3-none-any"], "sdist": True},
        "3.0": {"requires_dist": ["missing"]},
    },
    "tool": {"1.0": {}},
    "old": {str(v): {} for v in range(1, 30)},
}


def test_metadata_is_read_only_for_releases_tried_and_once_each() -> None:
    repository = SnapshotRepository(INDEX)
    resolve(
        [Requirement("app"), Requirement("app>=1"), Requirement("old")], TagTarget(), repository
    )
    # lib 3.0 is tried (its dependency does not exist) and passed over for lib 2.0
    assert sorted(repository.metadata_requests) == [
        ("app", "2.0"),
        ("lib", "2.0"),
        ("lib", "3.0"),
        ("old", "29"),
    ]
    assert sorted(set(repository.page_requests)) == ["app", "lib", "missing", "old"]


def test_pin_files_are_wheels_best_first_then_sdists_by_policy() -> None:
    target, repository = TagTarget(), SnapshotRepository(INDEX)
    needed = resolve([Requirement("lib==2.0")], target, repository).pins[NormalizedName("lib")]
    assert [f.filename for f in needed.files] == [
        "lib-2.0-cp311-abi3-manylinux_2_17_x86_64.whl",
        "lib-2.0-py3-none-any.whl",
    ]
    assert not needed.needs_build
    every = resolve([Requirement("lib==2.0")], target, repository, sdists="all").pins[
        NormalizedName("lib")
    ]
    assert every.files[-1].filename == "lib-2.0.tar.gz"
    assert every.metadata.name == "lib"


def test_root_requirement_with_false_marker_is_dropped() -> None:
    resolution = resolve(
        [Requirement("tool; sys_platform == 'win32'")], TagTarget(), SnapshotRepository(INDEX)
    )
    assert dict(resolution.pins) == {}
    assert resolution.why("tool") == ()


def test_failure_carries_data_and_reads_as_a_sentence() -> None:
    index: Index = {
        "app": {"2.0": {"requires_dist": ["Lib>=2"]}},
        "lib": {"2.0": {"wheels": ["cp311-cp311-manylinux_2_17_x86_64"], "sdist": True}},
    }
    target = TagTarget((3, 11), "win_amd64")
    with pytest.raises(ResolutionFailed) as failure:
        resolve([Requirement("app>=2")], target, SnapshotRepository(index), sdists="none")
    error = failure.value
    assert error.target == "cp311-win_amd64"
    [cause] = error.causes
    assert (cause.requirement, cause.required_by, cause.reason, cause.project) == (
        "Lib>=2",
        ("app 2.0", "app>=2"),
        "no-file",
        "lib",
    )
    assert str(error) == (
        "for cp311-win_amd64: Lib>=2 (required by app 2.0 <- app>=2) cannot be satisfied: "
        "version 2.0 has no file this target can install (no wheel fits, and sdists are turned off)"
    )


def test_unusable_metadata_passes_the_release_over_with_a_note() -> None:
    index = {"a": {"1.0": {}, "2.0": {"broken_metadata": True}}}
    resolution = resolve([Requirement("a")], TagTarget(), SnapshotRepository(index))
    assert str(resolution.pins[NormalizedName("a")].version) == "1.0"
    assert any("skipped a 2.0: unusable metadata" in n for n in resolution.notes)


def test_no_dependencies_resolves_the_requirements_alone() -> None:
    resolution = resolve(
        [Requirement("app")], TagTarget(), SnapshotRepository(INDEX), dependencies=False
    )
    assert list(resolution.pins) == ["app"]


def test_installable_releases_are_newest_first_without_reading_metadata() -> None:
    repository = SnapshotRepository(INDEX)
    versions = [
        r.version for r in installable_releases(Requirement("lib<3"), TagTarget(), repository)
    ]
    assert versions == [Version("2.0"), Version("1.0")]
    assert repository.metadata_requests == []
    assert installable_releases(Requirement("lib; os_name == 'nt'"), TagTarget(), repository) == []


def test_why_is_empty_for_a_project_not_pinned() -> None:
    resolution = resolve([Requirement("tool")], TagTarget(), SnapshotRepository(INDEX))
    assert resolution.why("lib") == ()
    assert resolution.why("Tool") == (("tool",),)


def test_metadata_naming_another_release_is_passed_over() -> None:
    class Misnamed(SnapshotRepository):
        def metadata(
            self, name: NormalizedName, version: Version, files: Sequence[DistFile]
        ) -> DistMetadata:
            found = super().metadata(name, version, files)
            return DistMetadata(name=found.name, version="9.9") if version.major == 2 else found

    index: Index = {"a": {"1.0": {}, "2.0": {}}}
    resolution = resolve([Requirement("a")], TagTarget(), Misnamed(index))
    assert str(resolution.pins[NormalizedName("a")].version) == "1.0"
    assert resolution.notes == ("skipped a 2.0: unusable metadata (it names a 9.9)",)


def test_direct_reference_is_resolved_by_name_with_a_note() -> None:
    requirement = Requirement("tool @ http://127.0.0.1/tool-1.0-py3-none-any.whl")
    resolution = resolve([requirement], TagTarget(), SnapshotRepository(INDEX))
    assert str(resolution.pins[NormalizedName("tool")].version) == "1.0"
    assert resolution.notes == (
        "tool @ http://127.0.0.1/tool-1.0-py3-none-any.whl: resolved by name from the index",
    )
