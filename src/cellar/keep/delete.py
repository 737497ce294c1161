"""``cellar delete``: remove named projects from the mirror, under its lock (``cellar.sync.prune``
does the removal, in the order that keeps the mirror servable)."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import closing

from packaging.utils import canonicalize_name

from cellar.config.model import Config
from cellar.hosted.model import HostedProjectError
from cellar.hosted.records import read_hosted
from cellar.state import STATE_DIR, MirrorState
from cellar.state.summary import publish_summary
from cellar.sync.prune import PruneResult, plan_prune, prune_projects
from cellar.tree.lock import MirrorLock
from cellar.tree.open import open_tree


def delete_projects(config: Config, names: Iterable[str], *, dry_run: bool = False) -> PruneResult:
    """``cellar delete``: under the mirror lock, remove projects ``names`` (or plan to).

    Nothing is removed when any name is unknown (``unknown`` says which). Raises
    ``HostedProjectError`` (nothing removed) when a name is a hosted project's,
    ``MirrorStateError`` with no usable state, ``LockHeldError`` if the mirror is busy,
    ``OSError`` as ``prune_projects``.
    """
    directory = config.mirror.directory
    with (
        MirrorState.open(directory, create=False) as state,
        MirrorLock(directory / STATE_DIR / "lock"),
        closing(open_tree(config.mirror.tree, write=not dry_run)) as storage,
    ):
        names = list(names)
        hosted = read_hosted(storage).names
        refused = sorted({canonicalize_name(name) for name in names} & hosted)
        if refused:
            raise HostedProjectError(refused)
        hash_index = config.mirror.hash_index
        plan = plan_prune(storage, state, names, hash_index=hash_index)
        if dry_run or plan.unknown:
            return plan
        result = prune_projects(storage, state, plan.projects, hash_index=hash_index)
        publish_summary(storage, state)
        return result
