"""Keys that let a re-run skip what did not change: of settings, of requirement groups, of
what a project's pages were published from.

A plan is a pure function of the configuration's selection settings, its requirements and the
upstream pages it reads (metadata is keyed by file hash, so it cannot change under a name).
The requirements are split into groups planned independently: one group of everything when
dependencies are followed (any page may move the closure), one per project name when they are
not (a project's files then depend on its own page alone). A group whose key and pages are
those of a memo (``cellar.state.memo``) plans to the memo's projects, unplanned.

Bump ``MEMO_FORMAT`` whenever selection or page rendering changes what the same inputs give:
every memo and published key is then stale, and the next run plans and publishes in full.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import PurePath
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from cellar.config.model import Config
from cellar.model import DistFile, ProjectPage
from cellar.policy.gate import policy_fingerprint
from cellar.select.sources import RequirementSet

MEMO_FORMAT = 2

#: The entry of a memo's pages that says until when its plan holds (a POSIX time): the
#: earliest moment a file the policy held for its age becomes old enough. Never a project
#: name (which cannot start with ``~``).
HELD_UNTIL = "~held-until"


@dataclass(frozen=True, slots=True)
class PlanGroup:
    """Requirements planned together, apart from every other group; ``key`` names them with
    the settings they are planned under."""

    key: str
    requirements: tuple[Requirement, ...]
    sets: tuple[RequirementSet, ...]
    #: The projects the group names (every project its plan can reach, when dependencies
    #: are not followed; None when they are, and any project may be reached).
    names: tuple[NormalizedName, ...] | None


def settings_key(config: Config) -> str:
    """Return a key of everything but the requirements that decides what a plan selects."""
    packages = dataclasses.replace(config.packages, requirements=(), sets=())
    return _digest(
        {
            "format": MEMO_FORMAT,
            "upstream": config.mirror.upstream,
            "file-hosts": config.mirror.limits.file_hosts,
            "layout": layout(config),
            "packages": packages,
            "targets": config.targets,
            "filters": config.filters,
            "policy": [config.policy, policy_fingerprint(config.policy)],
            # What hosted releases there are is in the requirement sets (hosted/overlay.py).
            "hosted": [
                sorted(str(pattern) for pattern in config.hosted.reserve),
                sorted(config.hosted.allow_upstream),
            ],
        }
    )


def report_key(config: Config, uv: str | None) -> str:
    """Return the key of everything that decides what ``cellar plan`` says but the pages:
    ``uv`` is the uv that adds its pins (its path), if one does."""
    packages = config.packages
    return _digest(["report", settings_key(config), packages.requirements, packages.sets, uv])


def plan_groups(config: Config) -> list[PlanGroup]:
    """Split ``config``'s requirements into groups that can be planned one without another."""
    packages = config.packages
    settings = settings_key(config)
    if packages.dependencies:
        key = _digest([settings, packages.requirements, packages.sets])
        return [PlanGroup(key, packages.requirements, packages.sets, None)]
    by_name: dict[NormalizedName, tuple[list[Requirement], list[RequirementSet]]] = {}
    for requirement in packages.requirements:
        by_name.setdefault(_normalized(requirement.name), ([], []))[0].append(requirement)
    for requirement_set in packages.sets:
        for requirement in requirement_set.requirements:
            name = canonicalize_name(requirement.name)
            members = tuple(r for r in requirement_set.requirements if r.name == requirement.name)
            sets = by_name.setdefault(name, ([], []))[1]
            part = dataclasses.replace(requirement_set, requirements=members)
            if part not in sets:
                sets.append(part)
    groups = []
    for name, (requirements, sets) in sorted(by_name.items()):
        # Text straight to the hash: a full-index mirror has 700k groups, most of them one
        # requirement alone.
        if len(requirements) == 1 and not sets:
            key = _hash_text(settings, name, _text(requirements[0]))
        else:
            key = _hash_text(settings, name, *map(_text, requirements), *map(_set, sets))
        groups.append(PlanGroup(key, tuple(requirements), tuple(sets), (name,)))
    return groups


def _normalized(name: str) -> NormalizedName:
    """Return ``canonicalize_name(name)``, at once for a name already in that form."""
    if name.islower() and "_" not in name and "." not in name and "--" not in name:
        return NormalizedName(name)
    return canonicalize_name(name)


def _text(requirement: Requirement) -> str:
    """Return ``str(requirement)``, quickly for a bare name (most lines of a long list)."""
    if (
        requirement.marker is None
        and requirement.url is None
        and not requirement.extras
        and not requirement.specifier
    ):
        return requirement.name
    return str(requirement)


def _set(requirement_set: RequirementSet) -> str:
    members = "\x1f".join(map(_text, requirement_set.requirements))
    return f"set\x1f{requirement_set.source}\x1f{requirement_set.alone}\x1f{members}"


def _hash_text(*parts: str) -> str:
    """Return the sha256 of ``parts`` joined by a separator no requirement or name holds."""
    return hashlib.sha256("\x1e".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def merged(
    groups: Iterable[PlanGroup],
) -> tuple[tuple[Requirement, ...], tuple[RequirementSet, ...]]:
    """Return the requirements and sets of ``groups`` together, each once, in order."""
    requirements: dict[str, Requirement] = {}
    sets: dict[tuple[str, bool], list[Requirement]] = {}
    for group in groups:
        requirements.update((str(r), r) for r in group.requirements)
        for requirement_set in group.sets:
            sets.setdefault((requirement_set.source, requirement_set.alone), []).extend(
                requirement_set.requirements
            )
    return tuple(requirements.values()), tuple(
        RequirementSet(source, tuple(members), alone) for (source, alone), members in sets.items()
    )


def layout(config: Config) -> str:
    """Return what, of ``config``'s settings, decides which files a project's pages make, and
    how its files are checked before they are listed (provenance mirrored, and required)."""
    mirror, policy = config.mirror, config.policy
    checks = [
        (name, rules.require_provenance, rules.provenance_repository)
        for name, rules in [("", policy.rules), *sorted(policy.projects.items())]
    ]
    provenance = _hash_text(str(policy.mirror_provenance), repr(checks))[:16]
    return f"hash-index={mirror.hash_index} json-api={mirror.json_api} provenance={provenance}"


def display_name(name: NormalizedName, page: ProjectPage) -> str:
    """Return how the pages spell project ``name``: as its upstream page does, if it can."""
    return page.name if canonicalize_name(page.name) == name else name


def published_key(
    name: NormalizedName, page: ProjectPage, files: Sequence[DistFile], *, layout: str
) -> str:
    """Return the key of what project ``name``'s pages list when ``files`` of ``page`` are
    published: equal keys, equal pages (and files), whatever else changed upstream."""
    return _hash(
        {
            "format": MEMO_FORMAT,
            "name": display_name(name, page),
            "status": [page.status, page.status_reason],
            "serial": page.last_serial,
            "layout": layout,
            "files": [[_flat(getattr(file, name)) for name in _FILE_FIELDS] for file in files],
        }
    )


#: Every field of a listed file, each part of the published key (a new field is too).
_FILE_FIELDS = tuple(f.name for f in dataclasses.fields(DistFile))


def _flat(value: object) -> object:
    """A ``DistFile`` field as JSON: its mappings (hashes) as sorted pairs. Faster than
    ``_plain`` by far, which matters for projects of thousands of files."""
    if isinstance(value, Mapping):
        return sorted(value.items())
    return value


def _digest(value: object) -> str:
    return _hash(_plain(value))


def _hash(plain: object) -> str:
    """Return the sha256 of ``plain`` (JSON values only) written as canonical JSON."""
    text = json.dumps(plain, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _plain(value: Any) -> Any:  # noqa: PLR0911 - one return per kind of value
    """Return ``value`` as JSON values whose text is the same in every process (sets sorted)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return [type(value).__name__, fields]
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(item) for item in value), key=json.dumps)
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, Enum):
        return _plain(value.value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (Requirement, PurePath)):
        return str(value)
    return repr(value)  # Version, SpecifierSet, Marker...: their text is stable
