"""The audit log: one JSON line per decision of the policy and per exception used, appended
to ``<directory>/.cellar/audit.log`` (or ``[policy] audit-log``), for whoever must show later
why a release was or was not on the mirror."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("cellar.policy")

AUDIT_LOG = "audit.log"


def append_events(path: Path, events: Iterable[Mapping[str, Any]]) -> int:
    """Append ``events`` to the log at ``path``, each with the time; return how many. A log
    that cannot be written is said (the run's decisions stand: they are in the state too)."""
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    lines = [
        json.dumps({"time": stamp, **event}, ensure_ascii=False, sort_keys=True) + "\n"
        for event in events
    ]
    if not lines:
        return 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as stream:
            stream.writelines(lines)
            stream.flush()
            os.fsync(stream.fileno())
    except OSError as error:
        log.warning("the audit log %s was not written: %s", path, error)
        return 0
    return len(lines)
