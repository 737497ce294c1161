"""``cellar import``: check a bundle whole, then apply it to an inner mirror.

Nothing is applied until everything checks out, in this order: the signature (by a key the
inner configuration trusts) over the manifest's exact bytes; the manifest (``parse_manifest``:
every key inside the tree); the sequence (a bundle follows the last one applied, or is full; one
already applied changes nothing and says so); every volume (there, its size, its sha256); every
object in its volume (a regular member of exactly that name and size). Then, under the mirror's
lock, the objects are written in the order that keeps the mirror servable: files, pages and
documents, the root pages, the run records; then what the bundle removes (for a full bundle,
everything it does not carry). Each object's sha256 is checked again as it is written. The
state learns each project's pages, so ``status``, ``verify`` and the pages for people work on
the inner mirror. The bundle's id is recorded last: a killed import is run again and converges
(writes of unchanged bytes change nothing).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cellar.bundle.export import (
    MANIFEST_FILE,
    SIGNATURE_FILE,
    BundleProgress,
    Quiet,
    file_sha256,
)
from cellar.bundle.keys import PublicKey, SignatureError, check_signature
from cellar.bundle.manifest import Manifest, apply_order, bundle_id, parse_manifest
from cellar.errors import CellarError
from cellar.hosted.model import FILES
from cellar.hosted.records import read_hosted
from cellar.state import MirrorState
from cellar.state.bundles import ImportRecord
from cellar.sync.pages import listing_from_json, page_marks, publish_root, record_published
from cellar.tree.storage import Storage

log = logging.getLogger("cellar.bundle")

#: Objects written together (one sync of each, then the renames, in order), at most.
_BATCH: Final = 256
_BATCH_BYTES: Final = 64 << 20
_PAGE_FILES: Final = ("index.html", "index.v1_html", "index.v1_json")


class BundleError(CellarError):
    """A bundle refused whole (a volume missing, cut or altered, out of sequence): ``reason``
    names what failed; nothing was applied."""

    exit_code = 1

    def __init__(self, reason: str) -> None:
        super().__init__(f"{reason}; nothing was applied")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Checked:
    """A bundle that checked out: its id, manifest, and who signed it."""

    bundle: str
    manifest: Manifest
    signer: PublicKey
    directory: Path


def check_bundle(
    directory: Path, trusted: list[PublicKey], progress: BundleProgress | None = None
) -> Checked:
    """Check the bundle in ``directory`` (signature, manifest, volumes, members). Raises
    ``SignatureError``, ``ManifestError`` or ``BundleError`` naming what failed."""
    try:
        data = (directory / MANIFEST_FILE).read_bytes()
    except OSError:
        raise BundleError(f"{directory / MANIFEST_FILE} cannot be read: not a bundle") from None
    signer = check_signature(data, _signature(directory), trusted)
    manifest = parse_manifest(data)
    shown = progress or Quiet()
    shown.stage("checking volumes", len(manifest.volumes))
    for volume in manifest.volumes:
        path = directory / volume.name
        try:
            size = path.stat().st_size
        except OSError:
            raise BundleError(f"volume {volume.name} is missing from {directory}") from None
        if size != volume.size:
            raise BundleError(
                f"volume {volume.name} has {size} bytes, not {volume.size}: cut short or altered"
            )
        if file_sha256(path) != volume.sha256:
            raise BundleError(f"volume {volume.name} is not what was signed (its sha256 differs)")
        log.info("checked %s (%d bytes)", volume.name, size)
        shown.advance(size)
    wanted = {o.key: o for o in manifest.objects}
    for volume in manifest.volumes:
        with _open_tar(directory / volume.name) as archive:
            for member in archive:
                expected = wanted.get(member.name)
                if expected is None or expected.volume != volume.name:
                    raise BundleError(f"volume {volume.name} holds {member.name!r}, not listed")
                if not member.isreg() or member.size != expected.size:
                    raise BundleError(f"{member.name} in {volume.name} is not as listed")
    return Checked(bundle_id(data), manifest, signer, directory)


def _signature(directory: Path) -> bytes:
    try:
        document = json.loads((directory / SIGNATURE_FILE).read_bytes())
        return base64.b64decode(document["signature"], validate=True)
    except OSError:
        raise SignatureError(f"the bundle is not signed: {SIGNATURE_FILE} is missing") from None
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise SignatureError(f"{SIGNATURE_FILE} is not a signature Cellar wrote") from None


def _open_tar(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, "r:")  # uncompressed only: no decompression bombs
    except (OSError, tarfile.TarError) as error:
        raise BundleError(f"{path.name} is not a tar volume: {error}") from None


def check_sequence(checked: Checked, record: ImportRecord) -> bool:
    """Return False when the bundle was applied already (nothing to do); raise
    ``BundleError`` when it does not follow the last one applied (naming the missing one)."""
    applied_last, applied = record.read()
    if checked.bundle in applied:
        return False
    last = applied_last.bundle if applied_last is not None else None
    sequence = applied_last.sequence if applied_last is not None else 0
    manifest = checked.manifest
    if manifest.full or manifest.follows == last:
        return True
    if last is None:
        raise BundleError(
            f"bundle {manifest.sequence} follows bundle {manifest.follows}, but this mirror has "
            "applied none: import a full bundle first (`cellar export --full` outside)"
        )
    raise BundleError(
        f"bundle {manifest.sequence} follows bundle {manifest.follows}, but the last one "
        f"applied here is {last} (number {sequence}): import the bundles in between first"
    )


def apply_bundle(
    checked: Checked,
    storage: Storage,
    state: MirrorState,
    progress: BundleProgress | None = None,
) -> tuple[int, int]:
    """Write the bundle's objects, then remove what it removes, then record its pages in the
    state; return how many objects were written and removed. Raises ``BundleError`` when an
    object's bytes are not what was signed (what was written before stays: the files of a
    bundle replace nothing a page lists until the pages come)."""
    manifest = checked.manifest
    order = {key: index for index, key in enumerate(apply_order(o.key for o in manifest.objects))}
    by_volume: dict[str, list[tuple[int, str]]] = {}
    for item in manifest.objects:
        by_volume.setdefault(item.volume, []).append((order[item.key], item.key))
    expected = {o.key: o for o in manifest.objects}
    written = 0
    pages: dict[str, dict[str, bytes]] = {}
    batch: dict[str, bytes] = {}
    shown = progress or Quiet()
    shown.stage("applying", len(manifest.objects))
    if storage.stat("simple/index.v1_json") is None:
        # A first import: the root pages (of what the state knows, perhaps nothing) come
        # before any project's pages, so a kill never leaves pages that no root lists.
        publish_root(storage, state)
    for volume in sorted(by_volume, key=lambda name: min(by_volume[name])):
        with _open_tar(checked.directory / volume) as archive:
            members = {member.name: member for member in archive}
            for _, key in sorted(by_volume[volume]):
                stream = archive.extractfile(members[key])
                if stream is None:
                    raise BundleError(f"{key} in {volume} cannot be read")
                body = stream.read(expected[key].size + 1)
                if hashlib.sha256(body).hexdigest() != expected[key].sha256:
                    raise BundleError(f"{key} in {volume} is not what was signed")
                batch[key] = body
                if sum(map(len, batch.values())) >= _BATCH_BYTES or len(batch) >= _BATCH:
                    storage.put(batch)  # in order, each durable before the first appears
                    batch = {}
                written += 1
                shown.advance(len(body))
                folder, _, name = key.rpartition("/")
                if folder.startswith("simple/") and name in _PAGE_FILES:
                    pages.setdefault(folder, {})[name] = body
    if batch:
        storage.put(batch)
    log.info("wrote %d objects", written)
    removing = set(manifest.removed)
    if manifest.full:  # the whole tree: what it does not carry goes
        removing |= {
            info.key
            for info in storage.objects("")
            if info.key not in expected
            and info.key != "cellar-state.json"
            and not info.key.startswith(("hosted/lock", "hosted/incoming/"))
        }
    removed, _ = storage.delete(apply_order(removing)[::-1])
    _record_pages(storage, state, pages, removing)
    return written, len(removed)


def _record_pages(
    storage: Storage, state: MirrorState, pages: dict[str, dict[str, bytes]], removed: set[str]
) -> None:
    """Tell the state of the project pages the bundle wrote or removed; publish the root from
    it if the bundle carried none."""
    hosted = read_hosted(storage).names
    for folder, files in pages.items():
        if folder == "simple" or "index.v1_json" not in files:
            continue
        listing = listing_from_json(files["index.v1_json"])
        name = folder.rpartition("/")[2]
        if name in hosted and all(file.path.startswith(FILES) for file in listing.files):
            state.forget_project(name)  # hosted: its record is the truth, not the state
            continue
        marks = page_marks(storage, name, hash_index=folder.count("/") == 2)
        record_published(state, listing, files, marks, display_name=listing.name)
    for key in removed:
        parts = key.split("/")
        if parts[0] == "simple" and len(parts) >= 3 and parts[-1] == "index.v1_json":
            state.forget_project(parts[-2])
    if "simple" not in pages:
        publish_root(storage, state)
