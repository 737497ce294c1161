"""What a run's policy decided, kept: the refusals in the state (so ``cellar audit`` and the
pages for people show them), and each decision, change and exception used in the audit log."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName

from cellar.policy.audit import append_events
from cellar.policy.gate import PolicyGate
from cellar.policy.model import Refusal
from cellar.state import MirrorState, RefusalRecord, WithdrawnRecord
from cellar.state.schema import now

log = logging.getLogger("cellar.policy")


@dataclass(frozen=True, slots=True)
class PolicyOutcome:
    """What the policy did in one run."""

    refused: int
    held: int
    new: int
    admitted: int
    withdrawn: int
    restored: int
    excepted: int

    def describe(self) -> str:
        """One line for the run's summary."""
        parts = [
            f"{self.refused} refused ({self.held} held for their age)",
            f"{self.new} newly",
            f"{self.admitted} admitted since the last run",
        ]
        if self.withdrawn:
            parts.append(f"{self.withdrawn} files withdrawn (kept aside)")
        if self.restored:
            parts.append(f"{self.restored} put back")
        if self.excepted:
            parts.append(f"{self.excepted} let through by exceptions")
        return "policy: " + ", ".join(parts)


def settle_decisions(
    state: MirrorState,
    gate: PolicyGate,
    refusals: Mapping[NormalizedName, Sequence[Refusal]],
    withdrawn: Sequence[WithdrawnRecord],
    restored: Sequence[str],
    *,
    log_path: Path,
) -> PolicyOutcome:
    """Record ``refusals`` for every project the gate judged, and log what changed."""
    stamp = now()
    judged = sorted({*gate.judged, *(name for name, _ in gate.licences)})
    before = {(r.project, r.version, r.filename, r.rule): r for r in state.refusals()}
    records: dict[str, list[RefusalRecord]] = {
        name: [
            RefusalRecord(name, r.version, r.filename or "", r.rule, r.detail, r.until, stamp)
            for r in found
        ]
        for name, found in refusals.items()
    }
    new = state.record_refusals(judged, records)
    after = {
        (r.project, r.version, r.filename, r.rule) for found in records.values() for r in found
    }
    admitted = [r for key, r in before.items() if key[0] in judged and key not in after]
    events: list[dict[str, Any]] = []
    events += [_event("refused", r) for r in new]
    events += [_event("admitted", r) for r in admitted]
    events += [
        {
            "event": "withdrawn",
            "project": w.project,
            "version": w.version,
            "path": w.path,
            "aside": w.aside,
            "reason": w.reason,
        }
        for w in withdrawn
    ]
    events += [{"event": "restored", "path": path} for path in restored]
    used: dict[tuple[str, str, str], dict[str, Any]] = {}
    for name, judgement in gate.judged.items():
        for exception, version, what in judgement.excepted:
            used[name, version, what] = _exception_event(exception.reason, name, version, what)
    for exception, name, version in gate.licence_exceptions:
        used[name, version, "licence"] = _exception_event(
            exception.reason, name, version, "licence"
        )
    for name, judgement in gate.judged.items():
        for finding in judgement.reported:
            if finding.excepted is not None:
                key = (name, finding.version, finding.advisory)
                used[key] = _exception_event(
                    finding.excepted.reason, name, finding.version, finding.advisory
                )
    events += used.values()
    events += [
        {
            "event": "override",
            "project": refusal.project,
            "version": refusal.version,
            "file": refusal.filename,
            "lifted": refusal.rule,
            "reason": reason,
        }
        for refusal, reason in gate.overrides
    ]
    append_events(log_path, events)
    for record in admitted:
        log.info("%s %s: no longer refused (%s)", record.project, record.version, record.rule)
    every = [r for found in refusals.values() for r in found]
    return PolicyOutcome(
        refused=len(every),
        held=sum(r.rule == "min-release-age" for r in every),
        new=len(new),
        admitted=len(admitted),
        withdrawn=len(withdrawn),
        restored=len(restored),
        excepted=len(used) + len(gate.overrides),
    )


def _event(kind: str, record: RefusalRecord) -> dict[str, Any]:
    return {
        "event": kind,
        "project": record.project,
        "version": record.version,
        "file": record.filename or None,
        "rule": record.rule,
        "detail": record.detail,
    }


def _exception_event(reason: str, project: str, version: str, what: str) -> dict[str, Any]:
    return {
        "event": "excepted",
        "project": project,
        "version": version,
        "lifted": what,
        "reason": reason,
    }
