"""The mirror's state in brief, published in the tree for servers that have no state of their
own: several ``cellar serve`` machines reading one bucket show the same holdings and last run
on their pages for people as the machine that mirrors.

``cellar-state.json`` at the top of the tree (no route serves it): the totals, and the last
run with its failures. Written after every ``cellar mirror`` and ``cellar delete`` into an object
store; a local tree's servers read the state database beside it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Final

from cellar.state import MirrorState
from cellar.state.bundles import AppliedBundle, ImportRecord
from cellar.state.records import Failure, RunRecord, Totals
from cellar.tree.storage import Storage, read_quietly

SUMMARY_KEY: Final = "cellar-state.json"


@dataclass(frozen=True, slots=True)
class Summary:
    """The state in brief: totals, the last run, and the last bundle applied (an inner
    mirror fed across an air gap)."""

    totals: Totals
    last_run: RunRecord | None = None
    bundle: AppliedBundle | None = None


def render_summary(summary: Summary) -> bytes:
    """Return the document of ``summary``."""
    document = {
        "totals": asdict(summary.totals),
        "last_run": asdict(summary.last_run) if summary.last_run else None,
        "bundle": asdict(summary.bundle) if summary.bundle else None,
    }
    return json.dumps(document, sort_keys=True, indent=1).encode() + b"\n"


def read_summary(body: bytes) -> Summary | None:
    """Return what a summary document says; None when it is not one."""
    try:
        document = json.loads(body)
        totals = Totals(**document["totals"])
        run = document["last_run"]
        last_run = None
        if run is not None:
            failures = tuple(Failure(**failure) for failure in run.pop("failures"))
            last_run = RunRecord(**run, failures=failures)
        bundle = document.get("bundle")
        applied = AppliedBundle(**bundle) if bundle is not None else None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return Summary(totals, last_run, applied)


def publish_summary(storage: Storage, state: MirrorState) -> None:
    """Put the summary of ``state`` (and of the bundles applied to its mirror) into
    ``storage`` when it is not a local tree (whose servers read the state itself). Raises
    ``OSError`` when it cannot be written."""
    if not storage.local:
        bundle, _ = ImportRecord(state.path.parent.parent).read()
        summary = Summary(state.totals(), state.last_run(), bundle)
        storage.put({SUMMARY_KEY: render_summary(summary)})


def summary_in(storage: Storage) -> Summary | None:
    """Return the summary published in ``storage``; None when there is none or it is odd."""
    body = read_quietly(storage, SUMMARY_KEY)
    return None if body is None else read_summary(body)
