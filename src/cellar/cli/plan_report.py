"""Say what a plan holds, for people (text) and machines (JSON); and why a project is in it."""

from __future__ import annotations

import json
from typing import Any

from packaging.utils import canonicalize_name

from cellar.sync.planned import MirrorPlan, Novelty
from cellar.sync.report import FailureReport, PlanReport
from cellar.units import counted, human_bytes


def plan_text(report: PlanReport, novelty: Novelty) -> str:
    """Return the plan as a few lines per target, the overall total, news and failures."""
    lines = []
    for name, target in report.targets.items():
        lines.append(
            f"{name}: {counted(len(target.projects), 'project')}, "
            f"{counted(target.files, 'file')}, {human_bytes(target.bytes)}"
            + (f", {len(target.failures)} failed" if target.failures else "")
        )
    all_versions = sum(len(found) for found in report.versions.values())
    lines.append(
        f"overall: {counted(len(report.files), 'project')}, {counted(all_versions, 'version')}, "
        f"{counted(novelty.files, 'file')}, {human_bytes(novelty.bytes)}"
    )
    lines.append(
        f"new against the mirror: {counted(novelty.new_files, 'file')}, "
        f"{human_bytes(novelty.new_bytes)}"
    )
    lines.append(
        f"planned in {report.seconds:.1f} s, {counted(report.requests, 'request')} upstream"
        + (" (no page the last plan read has changed: its plan holds)" if report.kept else "")
    )
    for project, found in report.versions.items():
        lines.append(f"  {project} {', '.join(found)}")
    if report.failures:
        lines.append(f"{len(report.failures)} could not be planned:")
        lines.extend(f"  {failure.message}" for failure in report.failures)
    if report.refused:
        count = sum(len(found) for found in report.refused.values())
        lines.append(f"the policy keeps out {count} (files, or whole releases):")
        lines.extend(f"  {line}" for found in report.refused.values() for line in found)
    return "\n".join(lines)


def plan_json(report: PlanReport, novelty: Novelty) -> str:
    """Return the plan as JSON: targets, projects with versions and files, totals, failures."""
    data: dict[str, Any] = {
        "targets": {
            name: {
                "projects": {project: list(found) for project, found in target.projects.items()},
                "files": target.files,
                "bytes": target.bytes,
                "failures": list(target.failures),
            }
            for name, target in report.targets.items()
        },
        "projects": {
            name: {
                "versions": list(report.versions.get(name, ())),
                "files": [
                    {"filename": f.filename, "size": f.size, "sha256": f.sha256, "url": f.url}
                    for f in files
                ],
            }
            for name, files in report.files.items()
        },
        "total": {"files": novelty.files, "bytes": novelty.bytes},
        "new": {"files": novelty.new_files, "bytes": novelty.new_bytes},
        "seconds": round(report.seconds, 3),
        "requests": report.requests,
        "kept": report.kept,
        "refused": {name: list(found) for name, found in report.refused.items()},
        "failures": [
            {
                "projects": list(failure.projects),
                "target": failure.target,
                "message": failure.message,
            }
            for failure in _distinct(report.failures)
        ],
    }
    return json.dumps(data, indent=2)


def _distinct(failures: tuple[FailureReport, ...]) -> list[FailureReport]:
    """The failures, each message once (the same fault met resolving several sets)."""
    seen: dict[str, FailureReport] = {}
    for failure in failures:
        seen.setdefault(failure.message, failure)
    return list(seen.values())


def why_text(plan: MirrorPlan, project: str) -> tuple[str, bool]:
    """Return, per target, the chains of requirements that pull ``project`` in.

    The flag is false when no target needs the project.
    """
    name = canonicalize_name(project)
    lines = []
    needed = False
    refused = plan.gate.refusals().get(name, []) if plan.gate is not None else []
    for target_name, target in plan.closure.targets.items():
        chains = target.why(name)
        if not chains:
            lines.append(f"{target_name}: not needed")
            continue
        needed = True
        lines.append(f"{target_name}:")
        lines.extend("  " + " -> ".join(chain) for chain in chains)
    if refused:
        lines.append(f"kept out by the policy ({len(refused)}):")
        lines.extend(f"  {refusal.describe()}" for refusal in refused)
    return "\n".join(lines), needed
