"""``cellar export`` and ``cellar import`` on a configured mirror: the lock, the state, the tree
and the records of bundles (``<directory>/.cellar/bundles/``) around ``export.py`` and
``importer.py``."""

from __future__ import annotations

import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from cellar.bundle.export import (
    BundleProgress,
    ExportError,
    ExportPlan,
    ExportRecord,
    plan_export,
    write_bundle,
)
from cellar.bundle.importer import apply_bundle, check_bundle, check_sequence
from cellar.bundle.keys import read_private, read_public
from cellar.bundle.manifest import Manifest
from cellar.config.model import Config
from cellar.state import STATE_DIR, MirrorState
from cellar.state.bundles import ImportRecord
from cellar.state.summary import publish_summary
from cellar.tree.lock import MirrorLock
from cellar.tree.open import open_tree


@dataclass(frozen=True, slots=True)
class Exported:
    """What ``export`` did (``bundle`` is None for a dry run)."""

    plan: ExportPlan
    bundle: str | None
    manifest: Manifest | None
    seconds: float


@dataclass(frozen=True, slots=True)
class Imported:
    """What ``import`` did: nothing (``applied`` False) for a bundle applied before."""

    bundle: str
    sequence: int
    applied: bool
    written: int
    removed: int
    signer: str
    seconds: float


def _records(config: Config) -> Path:
    return config.mirror.directory / STATE_DIR / "bundles"


def export_bundle(
    config: Config,
    output: Path | None,
    *,
    full: bool = False,
    since: str | None = None,
    volume_size: int | None = None,
    key: Path | None = None,
    dry_run: bool = False,
    progress: BundleProgress | None = None,
) -> Exported:
    """Plan (and unless ``dry_run`` write into ``output``) the next bundle of ``config``'s
    mirror. Raises ``ExportError`` without a signing key or output, ``KeyFileError`` for an
    unusable key, ``LockHeldError`` while the mirror is busy."""
    started = time.monotonic()
    signing = key or config.bundle.signing_key
    if not dry_run and signing is None:
        raise ExportError("no signing key: give --key or set [bundle] signing-key")
    if not dry_run and output is None:
        raise ExportError("give --output DIR for the bundle")
    signer = read_private(signing) if signing is not None and not dry_run else None
    directory = config.mirror.directory
    with (
        MirrorLock(directory / STATE_DIR / "lock"),
        closing(open_tree(config.mirror.tree)) as storage,
    ):
        record = ExportRecord(_records(config))
        since_id = _bundle_id(since) if since else None
        plan = plan_export(storage, record, full=full, since=since_id, progress=progress)
        if dry_run or signer is None or output is None:
            return Exported(plan, None, None, time.monotonic() - started)
        bundle, manifest = write_bundle(
            storage,
            plan,
            output,
            signer,
            volume_size=volume_size or config.bundle.volume_size,
            progress=progress,
        )
        record.keep(bundle, plan.sequence, plan.snapshot)
    return Exported(plan, bundle, manifest, time.monotonic() - started)


def _bundle_id(since: str) -> str:
    """A bundle's id, or the id of the bundle in the directory ``since``."""
    path = Path(since) / "manifest.json"
    if path.is_file():
        from cellar.bundle.manifest import bundle_id  # noqa: PLC0415

        return bundle_id(path.read_bytes())
    return since


def import_bundle(
    config: Config, directory: Path, progress: BundleProgress | None = None
) -> Imported:
    """Check the bundle in ``directory`` whole, then apply it to ``config``'s mirror. Raises
    ``SignatureError``, ``ManifestError`` or ``BundleError`` (nothing applied), ``KeyFileError``
    for a trusted key file that is not a key, ``LockHeldError`` while the mirror is busy."""
    started = time.monotonic()
    trusted = [read_public(path) for path in config.bundle.trusted_keys]
    checked = check_bundle(directory, trusted, progress)
    mirror = config.mirror.directory
    with (
        MirrorLock(mirror / STATE_DIR / "lock"),
        MirrorState.open(mirror) as state,
        closing(open_tree(config.mirror.tree, write=True)) as storage,
    ):
        record = ImportRecord(mirror)
        fresh = check_sequence(checked, record)
        written = removed = 0
        if fresh:
            # What a killed import (or run) left half written: never part of the tree.
            _, partials = storage.sweep()
            storage.drop_partials(partials)
            written, removed = apply_bundle(checked, storage, state, progress)
            record.note(checked.bundle, checked.manifest.sequence)
        # After the record (and again for a bundle applied before: a kill may have come
        # between the two), so servers of a bucket elsewhere show the last bundle.
        publish_summary(storage, state)
    signer = f"{checked.signer.name} ({checked.signer.key_id})"
    return Imported(
        checked.bundle,
        checked.manifest.sequence,
        fresh,
        written,
        removed,
        signer,
        time.monotonic() - started,
    )


def describe_export(result: Exported) -> str:
    """The summary ``cellar export`` prints."""
    plan = result.plan
    head = "would carry" if result.bundle is None else "carries"
    kind = "full" if plan.follows is None else f"after {plan.follows[:12]}"
    lines = [
        f"bundle {plan.sequence} ({kind}) {head} {len(plan.changed)} objects "
        f"({plan.size} bytes), removes {len(plan.removed)}"
    ]
    if result.manifest is not None and result.bundle is not None:
        lines.append(
            f"written in {len(result.manifest.volumes)} volume(s); id {result.bundle} "
            f"({result.seconds:.1f} s)"
        )
    return "\n".join(lines)


def describe_import(result: Imported) -> str:
    """The summary ``cellar import`` prints."""
    if not result.applied:
        return (
            f"bundle {result.sequence} ({result.bundle[:12]}) was applied before: nothing changed"
        )
    return (
        f"bundle {result.sequence} ({result.bundle[:12]}), signed by {result.signer}: "
        f"{result.written} objects written, {result.removed} removed ({result.seconds:.1f} s)"
    )
