"""Resolutions read off a wider one (``cellar.select.implied``) equal the resolutions they skip.

Random indexes (upper bounds, prereleases, yanked releases, extras, markers, Requires-Python,
broken metadata, wheels for other platforms, constraints) are resolved together; then each
root's newest release alone, both by the resolver and read off the resolution together. When
the reading answers, it must give exactly what the resolver gives: the same pins, files,
extras, requirement edges and explanations.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName

from cellar.select.closure import ClosureSettings, plan_target
from cellar.select.releases import TargetView
from cellar.select.resolve import Resolution, ResolutionFailed, installable_releases, resolve
from tests.test_resolve import Index, SnapshotRepository, TagTarget

VERSIONS = ["1.0", "1.5", "2.0b1", "2.0", "2.1", "3.0rc1", "3.0"]


def random_index(rng: random.Random, projects: int) -> dict[str, Any]:
    """Return a snapshot index of ``projects`` projects; each depends on later ones only."""
    names = [f"p{i}" for i in range(projects)]
    index: dict[str, Any] = {}
    for position, name in enumerate(names):
        later = names[position + 1 :]
        releases: dict[str, Any] = {}
        for version in sorted(rng.sample(VERSIONS, rng.randint(1, 4)), key=VERSIONS.index):
            requires = []
            for dep in rng.sample(later, k=min(len(later), rng.randint(0, 3))):
                spec = rng.choice(
                    ["", ">=1", ">=1.5", "<2", "<3", "!=2.0", "~=2.0", ">=2.0b1", "==1.0", ">=2"]
                )
                extra = rng.choice(["", "", "", "[x]"])
                marker = rng.choice(
                    ["", "", "; sys_platform == 'win32'", "; python_version < '3.12'"]
                )
                requires.append(f"{dep}{extra}{spec}{marker}")
            if later and rng.random() < 0.3:
                requires.append(f"{rng.choice(later)}>=1; extra == 'x'")
            release: dict[str, Any] = {"requires_dist": requires, "extras": ["x"]}
            roll = rng.random()
            if roll < 0.08:
                release["yanked"] = True
            elif roll < 0.14:
                release["wheels"] = ["cp311-cp311-win_amd64"]
            elif roll < 0.18:
                release["requires_python"] = ">=3.13"
            elif roll < 0.21:
                release["broken_metadata"] = True
            elif roll < 0.26:
                release["wheels"] = []
                release["sdist"] = True
            releases[version] = release
        index[name] = releases
    return index


def check_seed(seed: int) -> tuple[int, int]:
    """Resolve one random index; return (roots read off, roots resolved) where both ran."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible test index, not a secret
    index = random_index(rng, rng.randint(4, 12))
    repository = SnapshotRepository(index)
    target = TagTarget((3, 11), rng.choice(["manylinux_2_28_x86_64", "win_amd64"]))
    prereleases = rng.random() < 0.2
    constraints = [Requirement("p3<3")] if rng.random() < 0.3 else []
    view = TargetView(target, repository, "needed")
    names = sorted(index, key=lambda n: int(n[1:]))
    first = names[: max(3, len(names) // 2)]
    roots = [
        Requirement(name + rng.choice(["", "", "[x]", ">=1.5", "<3"]))
        for name in rng.sample(first, rng.randint(2, 3))
    ]
    try:
        together = resolve(
            roots, target, repository, prereleases=prereleases, constraints=constraints, view=view
        )
    except ResolutionFailed:
        return 0, 0
    read_off = resolved = 0
    for root in roots:
        kept = installable_releases(root, target, repository, prereleases=prereleases, view=view)
        if not kept:
            continue
        extras = f"[{','.join(sorted(root.extras))}]" if root.extras else ""
        alone = Requirement(f"{root.name}{extras}=={kept[0].version}")
        found = together.implied(
            alone, view, prereleases=prereleases, constraints=tuple(constraints)
        )
        try:
            expected = resolve(
                [alone],
                target,
                repository,
                prereleases=prereleases,
                constraints=constraints,
                view=view,
            )
        except ResolutionFailed:
            assert found is None, f"seed {seed}: {alone} fails alone, yet was read off"
            continue
        if found is None:
            resolved += 1
            continue
        read_off += 1
        context = f"seed {seed}, {alone}"
        assert {n: (p.version, p.extras, p.files) for n, p in found.pins.items()} == {
            n: (p.version, p.extras, p.files) for n, p in expected.pins.items()
        }, context
        assert {i: set(e) for i, e in found.edges.items()} == {
            i: set(e) for i, e in expected.edges.items()
        }, context
        for name in expected.pins:
            assert found.why(name) == expected.why(name), context
        assert set(found.notes) <= set(together.notes) | set(expected.notes), context
    return read_off, resolved


def test_read_off_resolutions_equal_the_resolver_s() -> None:
    read_off = resolved = 0
    for seed in range(400):
        took, ran = check_seed(seed)
        read_off += took
        resolved += ran
    # Both paths are exercised: most roots are read off, and the rules turn some away.
    assert read_off > 200, (read_off, resolved)
    assert resolved > 20, (read_off, resolved)


@pytest.mark.parametrize(
    ("newer", "requirement", "implied"),
    [
        # A newer release that the requirement on it excludes is never tried: implied.
        ({"2.0": {}}, "lib<2", True),
        # A newer release the requirement admits would be taken alone: resolve.
        ({"2.0": {}}, "lib", False),
        # A newer prerelease is never taken while the requirements name none: implied.
        ({"2.0b1": {}}, "lib", True),
        # ... but a requirement naming a prerelease admits it: resolve.
        ({"2.0b1": {}}, "lib>=1.0b1", False),
        # Newer, but only yanked files, or none the target can install: implied.
        ({"2.0": {"yanked": True}}, "lib", True),
        ({"2.0": {"wheels": ["cp311-cp311-win_amd64"]}}, "lib", True),
    ],
)
def test_which_newer_releases_stop_a_reading(
    newer: dict[str, dict[str, Any]], requirement: str, implied: bool
) -> None:
    # "app" pins lib 1.0 together with "pin", which caps lib below what "app" alone asks.
    index: Index = {
        "app": {"1.0": {"requires_dist": [requirement]}},
        "pin": {"1.0": {"requires_dist": ["lib==1.0"]}},
        "lib": {"1.0": {}, **newer},
    }
    repository = SnapshotRepository(index)
    target = TagTarget()
    view = TargetView(target, repository, "needed")
    together = resolve([Requirement("app"), Requirement("pin")], target, repository, view=view)
    assert str(together.pins[NormalizedName("lib")].version) == "1.0"
    found = together.implied(Requirement("app==1.0"), view, prereleases=False)
    assert (found is not None) is implied
    alone = resolve([Requirement("app==1.0")], target, repository, view=view)
    if found is not None:
        assert {n: p.version for n, p in found.pins.items()} == {
            n: p.version for n, p in alone.pins.items()
        }
    else:
        # Where the reading refuses, resolving alone may well differ.
        assert alone.pins.keys() == {"app", "lib"}


def test_a_plan_reads_roots_off_and_keeps_its_pins(monkeypatch: pytest.MonkeyPatch) -> None:
    # A plan of three roots on one target resolves together once; the roots alone are read
    # off it, and the plan's pins and chains are those of a plan that resolves each.
    index: Index = {
        "web": {"1.0": {"requires_dist": ["http>=1", "json"]}},
        "cli": {"1.0": {"requires_dist": ["http<3"]}},
        "json": {"1.0": {}, "2.0": {}},
        "http": {"1.0": {}, "2.0": {}, "3.0": {}},
        "tool": {"1.0": {"requires_dist": ["json"]}},
    }
    roots = [Requirement(r) for r in ("web", "cli", "tool")]
    settings = ClosureSettings()
    calls: list[int] = []
    from cellar.select import closure  # noqa: PLC0415

    real = resolve

    def counted(requirements: Sequence[Requirement], *args: Any, **kwargs: Any) -> Resolution:
        calls.append(len(requirements))
        return real(requirements, *args, **kwargs)

    monkeypatch.setattr(closure, "resolve", counted)
    plan = plan_target(roots, TagTarget(), SnapshotRepository(index), settings)
    # Together once; "web" alone reaches http 3.0, which "cli" caps together: resolved.
    assert calls == [3, 1]
    assert {n: sorted(str(v) for v in vs) for n, vs in plan.pins().items()} == {
        "web": ["1.0"],
        "cli": ["1.0"],
        "tool": ["1.0"],
        "json": ["2.0"],
        "http": ["2.0", "3.0"],
    }
    assert plan.why(NormalizedName("json")) == (
        ("tool", "json"),
        ("web", "json"),
        ("web==1.0", "json"),
        ("tool==1.0", "json"),
    )
