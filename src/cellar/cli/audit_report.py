"""Say what ``cellar audit`` found, for people (text) and machines (JSON)."""

from __future__ import annotations

import json
from typing import Any

from cellar.keep.audit import AuditReport


def audit_text(report: AuditReport) -> str:
    """Lines a person reads: the database, each advisory on a listed release with what the
    policy does, then what is kept out and what was withdrawn."""
    lines = []
    if report.database is None:
        lines.append("no OSV database: set [policy] osv, or give --osv")
    else:
        lines.append(
            f"{report.database}: {report.advisories} advisories; the mirror lists "
            f"{report.releases} files of {report.projects} projects"
        )
        if not report.held:
            lines.append("no advisory names a release the mirror lists")
        for held in report.held:
            severity = "malicious" if held.malicious else held.severity or "severity unknown"
            also = f" (also {', '.join(held.aliases[:3])})" if held.aliases else ""
            action = {
                "refuse": "REFUSED by the policy: the next `cellar mirror` withdraws it",
                "report": "reported only",
                "excepted": f"let through by an exception: {held.why}",
            }[held.decision]
            lines.append(
                f"  {held.project} {held.version}: {held.advisory}{also}, {severity}: "
                f"{held.summary or '(no summary)'}; {action}"
            )
    if report.refused:
        lines.append(f"kept out by the policy ({len(report.refused)}):")
        for record in report.refused:
            what = record.filename or f"{record.project} {record.version}"
            lines.append(f"  {what}: {record.rule}: {record.detail}; since {record.since}")
    if report.withdrawn:
        lines.append(f"withdrawn from the mirror, kept aside ({len(report.withdrawn)}):")
        lines.extend(f"  {w.path} -> {w.aside}: {w.reason}; at {w.at}" for w in report.withdrawn)
    if report.to_withdraw:
        lines.append(
            f"{len(report.to_withdraw)} advisories on listed releases call for refusal: run "
            "`cellar mirror` to withdraw them"
        )
    return "\n".join(lines)


def audit_json(report: AuditReport) -> str:
    """The same as JSON."""
    data: dict[str, Any] = {
        "database": str(report.database) if report.database is not None else None,
        "advisories": report.advisories,
        "projects": report.projects,
        "files": report.releases,
        "held": [
            {
                "project": h.project,
                "version": h.version,
                "advisory": h.advisory,
                "aliases": list(h.aliases),
                "severity": h.severity,
                "malicious": h.malicious,
                "summary": h.summary,
                "decision": h.decision,
                "why": h.why,
            }
            for h in report.held
        ],
        "refused": [
            {
                "project": r.project,
                "version": r.version,
                "file": r.filename or None,
                "rule": r.rule,
                "detail": r.detail,
                "until": r.until,
                "since": r.since,
            }
            for r in report.refused
        ],
        "withdrawn": [
            {
                "path": w.path,
                "aside": w.aside,
                "project": w.project,
                "version": w.version,
                "reason": w.reason,
                "at": w.at,
            }
            for w in report.withdrawn
        ],
    }
    return json.dumps(data, indent=2)
