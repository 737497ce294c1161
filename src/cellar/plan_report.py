"""Say what a plan holds, for people (text) and machines (JSON); and why a project is in it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from cellar.select.closure import PlanProblem, TargetPlan
from cellar.simple_api import DistFile
from cellar.sync.plan import MirrorPlan, Novelty
from cellar.units import counted, human_bytes


def _target_files(target: TargetPlan) -> dict[str, DistFile]:
    return {file.filename: file for files in target.files().values() for file in files}


def _versions(plan: MirrorPlan) -> dict[NormalizedName, list[str]]:
    versions: dict[NormalizedName, set[Version]] = {}
    for target in plan.closure.targets.values():
        for name, pinned in target.pins().items():
            versions.setdefault(name, set()).update(pinned)
    return {name: _in_order(found) for name, found in sorted(versions.items())}


def _in_order(versions: Iterable[Version]) -> list[str]:
    """Versions as text, oldest first by PEP 440 (1.5.6 before 10.0.0), not as strings."""
    return [str(version) for version in sorted(versions)]


def plan_text(plan: MirrorPlan, novelty: Novelty) -> str:
    """Return the plan as a few lines per target, the overall total, news and failures."""
    lines = []
    for name, target in plan.closure.targets.items():
        files = _target_files(target)
        size = sum(file.size or 0 for file in files.values())
        lines.append(
            f"{name}: {counted(len(target.pins()), 'project')}, {counted(len(files), 'file')}, "
            f"{human_bytes(size)}" + (f", {len(target.failures)} failed" if target.failures else "")
        )
    versions = _versions(plan)
    all_versions = sum(len(found) for found in versions.values())
    lines.append(
        f"overall: {counted(len(plan.projects), 'project')}, {counted(all_versions, 'version')}, "
        f"{counted(novelty.files, 'file')}, {human_bytes(novelty.bytes)}"
    )
    lines.append(
        f"new against the mirror: {counted(novelty.new_files, 'file')}, "
        f"{human_bytes(novelty.new_bytes)}"
    )
    lines.append(f"planned in {plan.seconds:.1f} s, {counted(plan.requests, 'request')} upstream")
    for project, found in versions.items():
        lines.append(f"  {project} {', '.join(found)}")
    if plan.failures:
        lines.append(f"{len(plan.failures)} could not be planned:")
        lines.extend(f"  {failure}" for failure in plan.failures)
    return "\n".join(lines)


def plan_json(plan: MirrorPlan, novelty: Novelty) -> str:
    """Return the plan as JSON: targets, projects with versions and files, totals, failures."""
    versions = _versions(plan)
    data: dict[str, Any] = {
        "targets": {
            name: {
                "projects": {
                    project: _in_order(found) for project, found in sorted(target.pins().items())
                },
                "files": len(files := _target_files(target)),
                "bytes": sum(file.size or 0 for file in files.values()),
                "failures": [str(failure) for failure in target.failures],
            }
            for name, target in plan.closure.targets.items()
        },
        "projects": {
            name: {
                "versions": versions.get(name, []),
                "files": [
                    {"filename": f.filename, "size": f.size, "sha256": f.sha256, "url": f.url}
                    for f in plan.files(name)
                ],
            }
            for name in plan.projects
        },
        "total": {"files": novelty.files, "bytes": novelty.bytes},
        "new": {"files": novelty.new_files, "bytes": novelty.new_bytes},
        "seconds": round(plan.seconds, 3),
        "requests": plan.requests,
        "failures": [
            {"projects": list(failure.blamed), "target": failure.target, "message": str(failure)}
            for failure in _distinct(plan.failures)
        ],
    }
    return json.dumps(data, indent=2)


def _distinct(failures: Iterable[PlanProblem]) -> list[PlanProblem]:
    """The failures, each message once (the same fault met resolving several sets)."""
    seen: dict[str, PlanProblem] = {}
    for failure in failures:
        seen.setdefault(str(failure), failure)
    return list(seen.values())


def why_text(plan: MirrorPlan, project: str) -> tuple[str, bool]:
    """Return, per target, the chains of requirements that pull ``project`` in.

    The flag is false when no target needs the project.
    """
    name = canonicalize_name(project)
    lines = []
    needed = False
    for target_name, target in plan.closure.targets.items():
        chains = target.why(name)
        if not chains:
            lines.append(f"{target_name}: not needed")
            continue
        needed = True
        lines.append(f"{target_name}:")
        lines.extend("  " + " -> ".join(chain) for chain in chains)
    return "\n".join(lines), needed
