"""A bundle's manifest: what it carries, in what order, and from which bundle it follows. Pure:
no I/O, so every check of a manifest that arrives from the outer side is tested with literal
data.

A manifest lists every object the bundle carries (key, size, sha256, the volume it is in), the
keys the inner mirror must remove, the bundle's sequence number and the id of the bundle it
follows (None for a full one), and its volumes (name, size, sha256). Its bytes are canonical
JSON (sorted keys, no spaces), so the signature covers exactly what is read. The bundle's id is
the sha256 of those bytes.

Everything in a manifest is hostile until checked (``parse_manifest``): a key must be one of the
tree's (no empty or hidden segment, ``..`` included, no NUL, backslash or leading ``/``, under
``packages/``, ``simple/``, ``json/`` or ``pypi/``, or a top-level run record), sizes and
sequence numbers whole and in range, digests 64 hex digits, names of volumes plain, each key
once, each object in a listed volume.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cellar.errors import CellarError

FORMAT: Final = 1
_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_VOLUME: Final = re.compile(r"volume-[0-9]{4}\.tar")
_TOP_FOLDERS: Final = frozenset({"packages", "simple", "json", "pypi", "hosted"})
#: Below ``hosted/``, what is not a project's record: the writers' lease and uploads arriving.
_NOT_CARRIED: Final = ("hosted/lock", "hosted/incoming/")
_TOP_FILES: Final = frozenset({"last-modified", "cellar-state.json"})
#: Bounds a manifest is checked against (a hostile one cannot make the importer loop or
#: allocate without end): objects, key length, object size.
MAX_OBJECTS: Final = 10_000_000
MAX_KEY: Final = 1024
MAX_SIZE: Final = 1 << 40


class ManifestError(CellarError):
    """A manifest that is not one Cellar wrote, or that names something it may not: the bundle
    is refused whole. ``where`` names the entry, ``reason`` what is wrong."""

    exit_code = 1

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"the bundle's manifest, {where}: {reason}; nothing was applied")
        self.where = where
        self.reason = reason


@dataclass(frozen=True, slots=True)
class BundleObject:
    """One object the bundle carries."""

    key: str
    size: int
    sha256: str
    volume: str


@dataclass(frozen=True, slots=True)
class Volume:
    """One volume file of the bundle, each checkable alone."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a bundle says of itself."""

    sequence: int
    follows: str | None
    created: str
    objects: tuple[BundleObject, ...]
    removed: tuple[str, ...]
    volumes: tuple[Volume, ...]

    @property
    def full(self) -> bool:
        """A bundle that follows none: the whole tree."""
        return self.follows is None


def render_manifest(manifest: Manifest) -> bytes:
    """Return the manifest's canonical bytes (what is signed)."""
    document = {
        "format": FORMAT,
        "sequence": manifest.sequence,
        "follows": manifest.follows,
        "created": manifest.created,
        "objects": [[o.key, o.size, o.sha256, o.volume] for o in manifest.objects],
        "removed": list(manifest.removed),
        "volumes": [[v.name, v.size, v.sha256] for v in manifest.volumes],
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def bundle_id(manifest_bytes: bytes) -> str:
    """The id of the bundle whose manifest is ``manifest_bytes``."""
    return hashlib.sha256(manifest_bytes).hexdigest()


def is_tree_key(key: object) -> bool:
    """Whether ``key`` names an object a bundle may carry into a mirror's tree."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY:
        return False
    segments = key.split("/")
    if any(not s or s[0] == "." or "\x00" in s or "\\" in s for s in segments):
        return False  # also ".", "..", and hidden names (temporary files, never objects)
    if any(ord(c) < 0x20 or c == "\x7f" for c in key):
        return False
    if len(segments) == 1:
        return key in _TOP_FILES
    return segments[0] in _TOP_FOLDERS and not key.startswith(_NOT_CARRIED)


def parse_manifest(data: bytes) -> Manifest:
    """Return the manifest ``data`` holds, every entry checked (see the module docstring).

    Raises ``ManifestError`` naming the first entry that fails.
    """
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        raise ManifestError("the file", "not JSON") from None
    if not isinstance(document, dict):
        raise ManifestError("the file", "not a JSON object")
    if document.get("format") != FORMAT:
        raise ManifestError("format", f"{document.get('format')!r} is not {FORMAT}")
    sequence = _whole(document.get("sequence"), "sequence", low=1, high=10**12)
    follows = document.get("follows")
    if follows is not None and not (isinstance(follows, str) and _HEX64.fullmatch(follows)):
        raise ManifestError("follows", "not a bundle id (64 hex digits) or null")
    created = document.get("created")
    if not isinstance(created, str) or len(created) > 64:
        raise ManifestError("created", "not a time")
    volumes = _volumes(document.get("volumes"))
    names = {volume.name for volume in volumes}
    objects = _objects(document.get("objects"), names)
    removed = _removed(document.get("removed"), {o.key for o in objects})
    return Manifest(sequence, follows, created, objects, removed, volumes)


def _whole(value: object, where: str, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ManifestError(where, f"{value!r} is not a whole number from {low} to {high}")
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list) or len(value) > MAX_OBJECTS:
        raise ManifestError(where, "not a list (or far too long)")
    return value


def _digest(value: object, where: str) -> str:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise ManifestError(where, "the sha256 is not 64 lowercase hex digits")
    return value


def _volumes(value: object) -> tuple[Volume, ...]:
    volumes: list[Volume] = []
    for index, entry in enumerate(_list(value, "volumes")):
        where = f"volume {index + 1}"
        if not isinstance(entry, list) or len(entry) != 3:
            raise ManifestError(where, "not [name, size, sha256]")
        name, size, digest = entry
        if not isinstance(name, str) or not _VOLUME.fullmatch(name):
            raise ManifestError(where, f"{name!r} is not a volume name (volume-NNNN.tar)")
        volumes.append(
            Volume(name, _whole(size, where, low=0, high=MAX_SIZE), _digest(digest, where))
        )
    if len({v.name for v in volumes}) != len(volumes):
        raise ManifestError("volumes", "a volume is listed twice")
    return tuple(volumes)


def _objects(value: object, volumes: set[str]) -> tuple[BundleObject, ...]:
    objects: list[BundleObject] = []
    seen: set[str] = set()
    for index, entry in enumerate(_list(value, "objects")):
        if not isinstance(entry, list) or len(entry) != 4:
            raise ManifestError(f"object {index + 1}", "not [key, size, sha256, volume]")
        key, size, digest, volume = entry
        where = f"object {key!r}" if isinstance(key, str) else f"object {index + 1}"
        if not is_tree_key(key):
            raise ManifestError(where, "not a key of a mirror's tree (outside it, or hidden)")
        if key in seen:
            raise ManifestError(where, "listed twice")
        seen.add(key)
        if volume not in volumes:
            raise ManifestError(where, f"in {volume!r}, which is not one of the volumes")
        objects.append(
            BundleObject(
                key, _whole(size, where, low=0, high=MAX_SIZE), _digest(digest, where), volume
            )
        )
    return tuple(objects)


def _removed(value: object, carried: set[str]) -> tuple[str, ...]:
    removed = _list(value, "removed")
    for key in removed:
        if not is_tree_key(key):
            raise ManifestError(f"removed {key!r}", "not a key of a mirror's tree")
        if key in carried:
            raise ManifestError(f"removed {key!r}", "also carried by the bundle")
    if len(set(removed)) != len(removed):
        raise ManifestError("removed", "a key is listed twice")
    return tuple(removed)


def plan_volumes(sizes: Mapping[str, int], volume_size: int) -> list[list[str]]:
    """Split the objects ``sizes`` names (key to size) into volumes of at most ``volume_size``
    bytes each, in an order that applies safely (``apply_order``); an object larger than a
    volume has one of its own. Tar adds 512 bytes per object and 1,024 at the end, counted."""
    volumes: list[list[str]] = []
    current: list[str] = []
    used = 1024
    for key in apply_order(sizes):
        cost = 512 + -(-sizes[key] // 512) * 512
        if current and used + cost > volume_size:
            volumes.append(current)
            current, used = [], 1024
        current.append(key)
        used += cost
    if current:
        volumes.append(current)
    return volumes


def apply_order(keys: Iterable[str]) -> list[str]:
    """Return ``keys`` in the order an import applies them: files (and their metadata) first,
    then project pages and documents, then the root pages, then the run records; sorted within
    each group."""

    def rank(key: str) -> tuple[int, str]:
        if key.startswith("packages/"):
            return 0, key
        if key.startswith("simple/") and key.count("/") == 1:
            return 2, key  # simple/index.*: the root
        if key in _TOP_FILES:
            return 3, key
        return 1, key

    return sorted(keys, key=rank)


def volume_names(count: int) -> Sequence[str]:
    """The names of ``count`` volumes."""
    return [f"volume-{number:04d}.tar" for number in range(1, count + 1)]
