"""What ``cellar plan`` says of a plan, as plain data: made from a plan, or kept from the last.

A plan is a pure function of the configuration's selection and of the upstream pages it read
(``cellar.sync.memo``). So ``cellar plan`` keeps its report in the state with the digest of
every page the plan read, and the next ``cellar plan`` of the same selection whose pages are
all unchanged (by the root page's serials, else by conditional requests) says the kept report
again, resolving nothing. A plan that failed somewhere is not kept: it is made again, and its
failures said again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from packaging.utils import NormalizedName
from packaging.version import Version

from cellar.model import DistFile

if TYPE_CHECKING:
    from cellar.sync.planned import MirrorPlan

#: Bump when the report's stored form changes: older kept reports are then ignored.
REPORT_FORMAT = 2


@dataclass(frozen=True, slots=True)
class TargetReport:
    """One target's share: versions by project (oldest first), files, bytes and failures."""

    projects: Mapping[str, tuple[str, ...]]
    files: int
    bytes: int
    failures: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FailureReport:
    """A resolution that failed: the projects it blames, on which target, and why."""

    projects: tuple[str, ...]
    target: str
    message: str


@dataclass(frozen=True, slots=True)
class PlanReport:
    """Everything ``cellar plan`` prints: per target, per project (its versions, oldest first,
    and its files in page order), the failures, the plan's warnings and what it cost.
    ``kept`` says the report is the last plan's, said again because nothing it rested on
    changed."""

    targets: Mapping[str, TargetReport]
    versions: Mapping[str, tuple[str, ...]]
    files: Mapping[NormalizedName, tuple[DistFile, ...]]
    failures: tuple[FailureReport, ...] = ()
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0
    requests: int = 0
    kept: bool = False
    #: What the policy kept out, by project: one line per refused file or release.
    refused: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def report_of(plan: MirrorPlan) -> PlanReport:
    """Return what ``cellar plan`` says of ``plan``."""
    targets = {}
    versions: dict[str, set[Version]] = {}
    for name, target in plan.closure.targets.items():
        pins = target.pins()
        for project, pinned in pins.items():
            versions.setdefault(project, set()).update(pinned)
        files = {f.filename: f for found in target.files().values() for f in found}
        targets[name] = TargetReport(
            projects={project: _in_order(found) for project, found in sorted(pins.items())},
            files=len(files),
            bytes=sum(file.size or 0 for file in files.values()),
            failures=tuple(str(failure) for failure in target.failures),
        )
    return PlanReport(
        targets=targets,
        versions={name: _in_order(found) for name, found in sorted(versions.items())},
        files={name: plan.files(name) for name in plan.projects},
        failures=tuple(
            FailureReport(tuple(f.blamed), f.target, str(f)) for f in plan.closure.failures
        ),
        warnings=plan.warnings,
        seconds=plan.seconds,
        requests=plan.requests,
        refused=refused_lines(plan),
    )


def refused_lines(plan: MirrorPlan) -> dict[str, tuple[str, ...]]:
    """What the plan's policy refused, by project, as lines a person reads."""
    if plan.gate is None:
        return {}
    return {
        name: tuple(refusal.describe() for refusal in found)
        for name, found in sorted(plan.gate.refusals().items())
    }


def _in_order(versions: Sequence[Version] | set[Version]) -> tuple[str, ...]:
    """Versions as text, oldest first by PEP 440 (1.5.6 before 10.0.0), not as strings."""
    return tuple(str(version) for version in sorted(versions))


def stored_report(report: PlanReport) -> str:
    """Return ``report`` as the text the state keeps (JSON)."""
    return json.dumps(
        {
            "format": REPORT_FORMAT,
            "targets": {
                name: {
                    "projects": target.projects,
                    "files": target.files,
                    "bytes": target.bytes,
                    "failures": target.failures,
                }
                for name, target in report.targets.items()
            },
            "versions": report.versions,
            "files": {
                name: [[f.filename, f.url, f.sha256, f.size] for f in files]
                for name, files in report.files.items()
            },
            "warnings": report.warnings,
            "refused": report.refused,
        },
        separators=(",", ":"),
    )


def kept_report(text: str, *, seconds: float, requests: int) -> PlanReport | None:
    """Return the report the state kept as ``text``, or ``None`` if it is not one (damaged,
    or of another format): the plan is then made again."""
    try:
        data: Any = json.loads(text)
        if data["format"] != REPORT_FORMAT:
            return None
        return PlanReport(
            targets={
                name: TargetReport(
                    projects={p: tuple(v) for p, v in target["projects"].items()},
                    files=int(target["files"]),
                    bytes=int(target["bytes"]),
                    failures=tuple(target["failures"]),
                )
                for name, target in data["targets"].items()
            },
            versions={name: tuple(found) for name, found in data["versions"].items()},
            files={
                NormalizedName(name): tuple(
                    DistFile(
                        filename,
                        url,
                        hashes={"sha256": sha256} if sha256 else {},
                        size=size,
                    )
                    for filename, url, sha256, size in files
                )
                for name, files in data["files"].items()
            },
            warnings=tuple(data["warnings"]),
            refused={name: tuple(lines) for name, lines in data["refused"].items()},
            seconds=seconds,
            requests=requests,
            kept=True,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
