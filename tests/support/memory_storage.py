"""``MemoryStorage``: a second, complete backend of the ``Storage`` protocol, holding the tree
in memory.

Not a mock: a real implementation with no local files, so a server over it has no path to
``sendfile`` and must stream large files (or redirect, with ``locations``), as an object store
will. Serving the same tree from it and from ``LocalStorage`` shows that the server reads the
tree only through the protocol. ``versions`` count writes, as an object store's ETags change.
"""

from __future__ import annotations

import io
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from cellar.tree.inventory import Inventory, Seen
from cellar.tree.paths import OutsideTreeError
from cellar.tree.storage import ObjectInfo, StoredReader


@dataclass(frozen=True, slots=True)
class MemoryObject:
    body: bytes
    mtime_ns: int
    serial: int


@dataclass(frozen=True, slots=True)
class MemoryResource:
    """One version of an object of a ``MemoryStorage``."""

    storage: MemoryStorage
    key: str
    size: int
    mtime_ns: int
    serial: int
    location: str | None = None

    @property
    def tag(self) -> str:
        return f"m{self.serial:x}-{self.size:x}"

    @property
    def path(self) -> None:
        return None

    def current(self) -> bool:
        now = self.storage.held.get(self.key)
        return now is not None and now.serial == self.serial

    def read(self) -> tuple[MemoryResource, bytes] | None:
        now = self.storage.held.get(self.key)
        if now is None:
            return None
        return self.storage.resource(self.key, now), now.body

    def chunks(self, start: int, stop: int) -> Iterator[bytes]:
        now = self.storage.held.get(self.key)
        if now is None or now.serial != self.serial:
            raise FileNotFoundError(f"{self.key} changed while being sent")
        for offset in range(start, stop, 64 * 1024):
            yield now.body[offset : min(offset + 64 * 1024, stop)]


def _checked(key: str) -> str:
    segments = key.split("/")
    if any(not s or s in (".", "..") or "\x00" in s or "\\" in s for s in segments):
        raise OutsideTreeError(Path("/memory"), key, "not a key of this tree")
    return key


@dataclass(slots=True)
class MemoryStaged:
    storage: MemoryStorage
    key: str
    _body: bytearray = field(default_factory=bytearray)

    def held(self) -> int:
        return 0

    def held_chunks(self) -> Iterator[bytes]:
        return iter(())

    def begin(self, offset: int) -> None:
        self._body = bytearray()

    def write(self, chunk: bytes) -> None:
        self._body += chunk

    def end(self) -> None:
        pass

    def commit(self, key: str | None = None) -> ObjectInfo:
        final = self.key if key is None else _checked(key)
        self.storage.put({final: bytes(self._body)}, unchanged=True)
        info = self.storage.stat(final)
        assert info is not None
        return info

    def discard(self, *, keep: bool = False) -> str | None:
        self._body = bytearray()
        return None


@dataclass(slots=True)
class MemoryStorage:
    """A tree of objects in memory. ``locations``, when given, makes each file below
    ``packages/`` a redirect to the URL it returns for the key (as presigned URLs would)."""

    held: dict[str, MemoryObject] = field(default_factory=dict)
    locations: Callable[[str], str] | None = None
    _serials: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def copy_of(cls, root: Path) -> MemoryStorage:
        """Return a memory tree holding every regular file below ``root``, keys and
        modification times as they are."""
        storage = cls()
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink():
                key = path.relative_to(root).as_posix()
                serial = next(storage._serials)
                status = path.stat()
                storage.held[key] = MemoryObject(path.read_bytes(), status.st_mtime_ns, serial)
        return storage

    @property
    def local(self) -> bool:
        return True

    def resource(self, key: str, held: MemoryObject) -> MemoryResource:
        location = None
        if self.locations is not None and key.startswith("packages/"):
            location = self.locations(key)
        return MemoryResource(self, key, len(held.body), held.mtime_ns, held.serial, location)

    def stat(self, key: str) -> ObjectInfo | None:
        held = self.held.get(_checked(key))
        if held is None:
            return None
        return ObjectInfo(key, len(held.body), held.mtime_ns, str(held.serial))

    def read(self, key: str) -> bytes | None:
        held = self.held.get(_checked(key))
        return None if held is None else held.body

    def open(self, key: str) -> BinaryIO | None:
        body = self.read(key)
        return None if body is None else io.BytesIO(body)

    def put(self, objects: Mapping[str, bytes], *, unchanged: bool = False) -> list[str]:
        written = []
        with self._lock:
            for key, body in objects.items():
                old = self.held.get(_checked(key))
                if unchanged or old is None or old.body != body:
                    mtime = max(old.mtime_ns + 1 if old else 0, 1_700_000_000 * 10**9)
                    self.held[key] = MemoryObject(body, mtime, next(self._serials))
                    written.append(key)
        return written

    def find(self, key: str, *, links: bool = True) -> MemoryResource | None:
        segments = key.split("/")
        if any(not s or s[0] == "." or "\x00" in s or "\\" in s for s in segments):
            return None
        held = self.held.get(key)
        return None if held is None else self.resource(key, held)

    def stage(self, key: str, *, resume: str | None = None, spool: int = 0) -> MemoryStaged:
        return MemoryStaged(self, _checked(key))

    def move(self, key: str, to: str) -> bool:
        with self._lock:
            held = self.held.pop(_checked(key), None)
            if held is None:
                return False
            self.held[_checked(to)] = held
        return True

    def create(self, key: str, body: bytes) -> bool:
        with self._lock:
            if _checked(key) in self.held:
                return False
            self.held[key] = MemoryObject(body, 1_700_000_000 * 10**9, next(self._serials))
        return True

    def delete(self, keys: Iterable[str]) -> tuple[list[str], int]:
        removed, size = [], 0
        with self._lock:
            for key in keys:
                held = self.held.pop(key, None)
                if held is not None:
                    removed.append(key)
                    size += len(held.body)
        return removed, size

    def objects(self, prefix: str) -> Iterator[ObjectInfo]:
        for key in sorted(self.held):
            if key.startswith(prefix):
                info = self.stat(key)
                if info is not None:
                    yield info

    def inventory(self, page_files: tuple[str, ...] = ()) -> Inventory:
        files: dict[str, Seen] = {}
        by_folder: dict[str, dict[str, MemoryObject]] = {}
        for key, held in self.held.items():
            if key.startswith("packages/"):
                files[key] = (len(held.body), held.mtime_ns)
            elif key.startswith("simple/"):
                folder, _, name = key.rpartition("/")
                by_folder.setdefault(folder, {})[name] = held
        marks = {
            folder: " ".join(
                f"{len(held[n].body)}:{held[n].mtime_ns}:{held[n].serial}" for n in page_files
            )
            for folder, held in by_folder.items()
            if page_files and all(name in held for name in page_files)
        }
        return Inventory(files, (), marks, StoredReader(self))

    def folders(self, prefix: str) -> list[str]:
        below = {
            rest.partition("/")[0]
            for key in self.held
            if key.startswith(prefix) and "/" in (rest := key[len(prefix) :])
        }
        return sorted(below)

    def sweep(self) -> tuple[int, list[str]]:
        return 0, []

    def drop_partials(self, partials: Iterable[str]) -> int:
        return 0

    def local_path(self, key: str) -> Path | None:
        return None

    def free_bytes(self) -> int | None:
        return None

    def close(self) -> None:
        pass
