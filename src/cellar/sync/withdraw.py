"""Files the policy refuses that are already in the tree: taken out of ``packages/`` after
the pages stop listing them, and kept aside under ``withdrawn/`` (which neither ``cellar
serve`` nor the nginx configuration serves, and bundles do not carry); put back when a later
decision admits them again (an exception, a corrected advisory)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence

from packaging.utils import NormalizedName

from cellar.model import DistFile
from cellar.policy.model import Refusal
from cellar.select.releases import any_file_version
from cellar.state import MirrorState, WithdrawnRecord
from cellar.state.schema import now
from cellar.sync.errors import UnsafePathError
from cellar.sync.paths import mirror_path
from cellar.tree.storage import Storage

log = logging.getLogger("cellar.sync")

#: Where withdrawn files are kept, below the tree's root.
WITHDRAWN = "withdrawn/"
#: What travels with a distribution file: its PEP 658 metadata file and its provenance.
_BESIDE = (".metadata", ".provenance")


def withdraw_refused(
    storage: Storage,
    state: MirrorState,
    refusals: Mapping[NormalizedName, Sequence[Refusal]],
    listed: set[str],
) -> list[WithdrawnRecord]:
    """Move each file in the tree that ``refusals`` refuse, and that no page lists (``listed``),
    to ``withdrawn/``; record and return them."""
    moved: list[WithdrawnRecord] = []
    for name, found in sorted(refusals.items()):
        by_file = {r.filename: r for r in found if r.filename}
        by_version = {r.version: r for r in found if not r.filename}
        for record in state.project_files(name):
            filename = record.path.rpartition("/")[2]
            version = any_file_version(filename, name)
            refusal = by_file.get(filename) or by_version.get(str(version))
            if refusal is None or record.path in listed:
                continue
            if not storage.move(record.path, WITHDRAWN + record.path):
                state.forget_files([record.path])
                continue
            for suffix in _BESIDE:
                storage.move(record.path + suffix, WITHDRAWN + record.path + suffix)
            reason = f"{refusal.rule}: {refusal.detail}"
            moved.append(
                WithdrawnRecord(
                    record.path, WITHDRAWN + record.path, name, refusal.version, reason, now()
                )
            )
            state.forget_files([record.path])
            log.warning("%s: withdrew %s from the mirror (kept aside): %s", name, filename, reason)
    if moved:
        state.record_withdrawn(moved)
    return moved


def restore_admitted(
    storage: Storage, state: MirrorState, planned: Iterable[tuple[str, DistFile]]
) -> list[str]:
    """Put back each withdrawn file a plan lists again (``planned``: project and file);
    return their paths."""
    aside = {record.path: record for record in state.withdrawn()}
    if not aside:
        return []
    restored = []
    for project, file in planned:
        try:
            path = mirror_path(project, file, file.sha256)
        except UnsafePathError:
            continue
        record = aside.get(str(path)) if path is not None else None
        if record is None:
            continue
        if storage.move(record.aside, record.path):
            for suffix in _BESIDE:
                storage.move(record.aside + suffix, record.path + suffix)
            restored.append(record.path)
            log.info("%s: put %s back (admitted again)", project, file.filename)
    state.forget_withdrawn(restored)
    return restored
