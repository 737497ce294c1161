"""``cellar export``: write a signed bundle of what changed in the tree since the last bundle
(or since a named one, or everything), for an inner mirror across an air gap.

Under the mirror's lock (no run changes the tree meanwhile), every object of the tree is listed;
one whose size and version (``ObjectInfo.version``) are those of the snapshot the last bundle
left is taken as unchanged with its recorded sha256, any other is read and hashed. What the
snapshot holds and the tree does not any more is ``removed``. The objects go into tar volumes
of at most ``volume-size`` bytes, in the order an import applies them; then the manifest (each
object's size and sha256 and volume, each volume's size and sha256), signed. A snapshot of the
whole tree is kept per bundle (``.cellar/bundles/exported/<id>.json``) for the next one.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import tarfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Protocol

from cellar.bundle.keys import PrivateKey
from cellar.bundle.manifest import (
    BundleObject,
    Manifest,
    Volume,
    bundle_id,
    is_tree_key,
    plan_volumes,
    render_manifest,
    volume_names,
)
from cellar.errors import CellarError
from cellar.tree.atomic import atomic_write, digest_stream
from cellar.tree.storage import Storage

log = logging.getLogger("cellar.bundle")

MANIFEST_FILE: Final = "manifest.json"
SIGNATURE_FILE: Final = "manifest.sig"
#: An object's snapshot: size, version (as the storage says) and sha256.
Snapshot = dict[str, tuple[int, str, str]]


class BundleProgress(Protocol):
    """What long bundle work tells (a bar on a terminal; nothing otherwise: the log says it)."""

    def stage(self, text: str, items: int) -> None:
        """A stage begins: ``text``, with ``items`` to do."""
        ...

    def advance(self, size: int) -> None:
        """One item done, of ``size`` bytes."""
        ...


class Quiet:
    """A ``BundleProgress`` that shows nothing."""

    def stage(self, text: str, items: int) -> None:
        pass

    def advance(self, size: int) -> None:
        pass


class ExportError(CellarError):
    """A bundle that cannot be written as asked (``reason`` says why)."""


@dataclass(frozen=True, slots=True)
class ExportRecord:
    """The bundles this mirror exported: the last one's id and sequence, and where their
    snapshots are."""

    directory: Path

    def last(self) -> tuple[str, int] | None:
        """The id and sequence of the last bundle exported; None before the first."""
        try:
            document = json.loads((self.directory / "last.json").read_bytes())
            return str(document["id"]), int(document["sequence"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def snapshot(self, bundle: str) -> Snapshot:
        """The tree as bundle ``bundle`` left it. Raises ``ExportError`` if it is unknown."""
        try:
            document = json.loads((self.directory / "exported" / f"{bundle}.json").read_bytes())
        except (OSError, ValueError):
            raise ExportError(
                f"no bundle {bundle} was exported from this mirror (or its record is gone): "
                "use --full"
            ) from None
        return {key: (int(s), str(v), str(h)) for key, (s, v, h) in document.items()}

    def keep(self, bundle: str, sequence: int, snapshot: Snapshot) -> None:
        (self.directory / "exported").mkdir(parents=True, exist_ok=True)
        body = json.dumps({key: list(entry) for key, entry in sorted(snapshot.items())})
        atomic_write(self.directory / "exported" / f"{bundle}.json", body.encode())
        atomic_write(
            self.directory / "last.json",
            json.dumps({"id": bundle, "sequence": sequence}).encode(),
        )


@dataclass(slots=True)
class ExportPlan:
    """What a bundle will carry: the changed objects (key to size), what they were hashed as,
    the removed keys, the sequence and the bundle it follows."""

    sequence: int
    follows: str | None
    changed: dict[str, int]
    removed: list[str]
    snapshot: Snapshot = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(self.changed.values())


def plan_export(
    storage: Storage,
    record: ExportRecord,
    *,
    full: bool = False,
    since: str | None = None,
    progress: BundleProgress | None = None,
) -> ExportPlan:
    """Work out what the next bundle carries: everything (``full``, or the first bundle), or
    what changed since bundle ``since`` (default: the last one exported). Blocking; reads and
    hashes every object whose version changed."""
    last = record.last()
    base = since or (last[0] if last and not full else None)
    before: Snapshot = record.snapshot(base) if base is not None else {}
    snapshot: Snapshot = {}
    changed: dict[str, int] = {}
    shown = progress or Quiet()
    listed = [i for i in storage.objects("") if _carried(i.key)]
    shown.stage("comparing the tree with the last bundle", len(listed))
    for info in listed:
        shown.advance(info.size)
        kept = before.get(info.key)
        if kept is not None and kept[:2] == (info.size, info.version):
            snapshot[info.key] = kept
            continue
        digest = _sha256(storage, info.key)
        snapshot[info.key] = (info.size, info.version, digest)
        if kept is None or kept[2] != digest:
            changed[info.key] = info.size
    removed = sorted(set(before) - set(snapshot))
    sequence = (last[1] if last else 0) + 1
    return ExportPlan(sequence, base, changed, removed, snapshot)


def _carried(key: str) -> bool:
    top = key.split("/", 1)[0]
    if top == "hosted":  # the records of hosted projects, not the lease or uploads arriving
        return is_tree_key(key)
    return top in ("packages", "simple", "json", "pypi", "last-modified")


def file_sha256(path: Path) -> str:
    """The sha256 of the local file ``path`` (a volume)."""
    with path.open("rb") as stream:
        return digest_stream(stream)[1]["sha256"]


def _sha256(storage: Storage, key: str) -> str:
    stream = storage.open(key)
    if stream is None:
        raise ExportError(f"{key} went from the tree while it was being exported")
    with stream:
        return digest_stream(stream)[1]["sha256"]


def write_bundle(
    storage: Storage,
    plan: ExportPlan,
    output: Path,
    signer: PrivateKey,
    *,
    volume_size: int,
    now: datetime | None = None,
    progress: BundleProgress | None = None,
) -> tuple[str, Manifest]:
    """Write the bundle ``plan`` describes into the directory ``output`` (which must be empty
    or new): its volumes, then the manifest and its signature. Return the bundle's id and
    manifest. Raises ``ExportError`` for a directory already in use, ``OSError`` when a file
    cannot be written."""
    if output.exists() and any(output.iterdir()):
        raise ExportError(f"{output} is not empty: give a new directory for the bundle")
    output.mkdir(parents=True, exist_ok=True)
    groups = plan_volumes(plan.changed, volume_size)
    shown = progress or Quiet()
    shown.stage("writing volumes", len(plan.changed))
    objects: list[BundleObject] = []
    volumes: list[Volume] = []
    for name, keys in zip(volume_names(len(groups)), groups, strict=True):
        path = output / name
        with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
            for key in keys:
                body = storage.read(key)
                if body is None:
                    raise ExportError(f"{key} went from the tree while it was being exported")
                digest = hashlib.sha256(body).hexdigest()
                if digest != plan.snapshot[key][2]:
                    raise ExportError(f"{key} changed while it was being exported")
                member = tarfile.TarInfo(key)
                member.size = len(body)
                member.mtime = 0
                member.mode = 0o644
                archive.addfile(member, io.BytesIO(body))
                objects.append(BundleObject(key, len(body), digest, name))
                shown.advance(len(body))
        volumes.append(Volume(name, path.stat().st_size, file_sha256(path)))
        log.info("wrote %s: %d objects, %d bytes", name, len(keys), volumes[-1].size)
    created = (now or datetime.now(UTC)).replace(microsecond=0).isoformat()
    manifest = Manifest(
        plan.sequence,
        plan.follows,
        created,
        tuple(objects),  # in the order an import applies them (``plan_volumes``)
        tuple(plan.removed),
        tuple(volumes),
    )
    data = render_manifest(manifest)
    signature = {
        "key": signer.public().key_id,
        "name": signer.name,
        "signature": base64.b64encode(signer.sign(data)).decode(),
    }
    atomic_write(output / MANIFEST_FILE, data)
    atomic_write(output / SIGNATURE_FILE, json.dumps(signature).encode())
    return bundle_id(data), manifest
