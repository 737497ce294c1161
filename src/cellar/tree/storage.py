"""The mirror's tree as objects: the ``Storage`` protocol every reader and writer of the tree
uses, whatever holds it (a local directory: ``LocalStorage``; an object store, later).

An object is named by its key, the ``/``-separated path below the web root that clients ask
for (``simple/numpy/index.v1_json``, ``packages/ab/cd/<hash>/numpy-2.0.whl``). Keys come
from Cellar's own layout, never straight from an upstream; a backend still refuses one that
would leave the tree. The protocol is shaped for objects, not a filesystem: no directories,
no renames, no links. What a download becomes is staged first and appears at its key only
when committed, after it is verified; a set of pages is put together, each object whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from cellar.errors import CellarError
from cellar.tree.inventory import Inventory
from cellar.tree.paths import OutsideTreeError


class StorageError(CellarError):
    """The tree's storage cannot be used as configured (an object store that cannot be
    reached, read or written): ``what`` names the bucket or object, ``reason`` what is
    wrong."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"{what}: {reason}")
        self.what = what
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a backend says of an object: its key, size, modification time, and ``version``, a
    token that changes whenever the object is written (local: size, mtime and ctime; an
    object store: its ETag)."""

    key: str
    size: int
    mtime_ns: int
    version: str


class Resource(Protocol):
    """One version of an object, as a server found it to answer a request: what validators
    and headers are made from, and the ways its bytes may be had. Each backend answers with
    its own kind; the server sends a local file with ``sendfile``, redirects to ``location``
    where the backend gives one, and otherwise streams ``chunks``."""

    @property
    def key(self) -> str: ...

    @property
    def size(self) -> int: ...

    @property
    def mtime_ns(self) -> int: ...

    @property
    def tag(self) -> str:
        """A token (letters, digits and ``-``) that differs between any two versions of the
        object at this key (local: inode, mtime and size; an object store: its ETag)."""
        ...

    @property
    def path(self) -> str | None:
        """The local file holding this version (for ``sendfile``); None when there is none."""
        ...

    @property
    def location(self) -> str | None:
        """A URL where a client may fetch these bytes itself (an object store's presigned
        URL); None when the server sends them."""
        ...

    def current(self) -> bool:
        """Return whether the object at the key is still this version (and is there): a cheap
        check (one ``stat`` locally) for a server that kept an answer made from it."""
        ...

    def read(self) -> tuple[Resource, bytes] | None:
        """Return the object's bytes and the version they are: this one, or the one that has
        replaced it since it was found; None when it is gone. Blocking."""
        ...

    def chunks(self, start: int, stop: int) -> Iterator[bytes]:
        """Yield bytes ``start`` to ``stop`` (exclusive) of this version, in pieces. Blocking;
        raises ``OSError`` if the object changed or went in between."""
        ...


class Sink(Protocol):
    """Where a download's body goes, attempt by attempt (``UpstreamClient.download``)."""

    def held(self) -> int:
        """Return how many bytes an earlier attempt (or run) left that the next attempt may
        continue after (0: it starts from nothing)."""
        ...

    def held_chunks(self) -> Iterator[bytes]:
        """Yield those bytes, to hash them again. Blocking."""
        ...

    def begin(self, offset: int) -> None:
        """Start an attempt after ``offset`` held bytes (0: drop them, start from nothing)."""
        ...

    def write(self, chunk: bytes) -> None:
        """Add ``chunk`` to the body."""
        ...

    def end(self) -> None:
        """The attempt is over (whole or cut): close what it opened."""
        ...


class Staged(Sink, Protocol):
    """An object being written: invisible until ``commit``, and never visible when
    ``discard``-ed instead."""

    key: str

    def commit(self, key: str | None = None) -> ObjectInfo:
        """Make what was written durable and visible at ``key`` (by default the key it was
        staged for; another when the key is known only from the bytes, such as a
        content-addressed one), replacing what was there. Blocking: call it off the event
        loop. Raises ``OSError``; then the key is unchanged."""
        ...

    def discard(self, *, keep: bool = False) -> str | None:
        """Give up on the object. What was written is removed, unless ``keep`` and it may be
        resumed (staged with ``resume``, and large enough to be worth it): then it stays, and
        its partial's id is returned (``Storage.drop_partials``)."""
        ...


class Storage(Protocol):
    """A mirror's tree of objects. Blocking methods: call them off the event loop where the
    loop must not wait. Keys that would leave the tree raise ``OutsideTreeError``."""

    @property
    def local(self) -> bool:
        """Whether lookups and reads are local and cheap: a server may then run ``find`` and a
        small object's ``read`` in its event loop; otherwise (a network store) in a thread."""
        ...

    def stat(self, key: str) -> ObjectInfo | None:
        """Return what is known of the object at ``key``; None when there is none."""
        ...

    def read(self, key: str) -> bytes | None:
        """Return the bytes of the object at ``key``; None when there is none."""
        ...

    def open(self, key: str) -> BinaryIO | None:
        """Return a binary stream of the object at ``key`` (to hash or send it in chunks)."""
        ...

    def put(self, objects: Mapping[str, bytes], *, unchanged: bool = False) -> list[str]:
        """Write ``objects`` (key to bytes), each whole; every one is durable before the first
        appears, so a set of pages changes together but for the moments between them. Those
        whose bytes are already there are left alone (their versions kept) unless
        ``unchanged``. Return the keys written. Raises ``OSError``: then none has changed."""
        ...

    def find(self, key: str, *, links: bool = True) -> Resource | None:
        """Return the object at ``key`` as a server sends it; None when there is none, or when
        ``key`` is not one a client may ask for (an empty, hidden, NUL- or backslash-bearing
        segment; for a local tree, a symlink leading out, and with ``links`` false a final
        symlink). Decided without an open, and cheaply: a server's lookup per request."""
        ...

    def stage(self, key: str, *, resume: str | None = None, spool: int = 0) -> Staged:
        """Return a staged write of ``key``. With ``resume`` (a digest naming the bytes to
        come), what an interrupted attempt or run staged for the same digest is continued.
        With ``spool``, a body of at most that many bytes is held in memory until ``commit``
        writes it, in one call."""
        ...

    def delete(self, keys: Iterable[str]) -> tuple[list[str], int]:
        """Remove the objects at ``keys``; return the keys removed and their bytes."""
        ...

    def move(self, key: str, to: str) -> bool:
        """Put the object at ``key`` at ``to`` instead (replacing what is there); return
        False if there is none at ``key``."""
        ...

    def create(self, key: str, body: bytes) -> bool:
        """Write ``body`` at ``key`` only if no object is there, atomically (of two writers,
        one wins); return whether this call wrote it. The lease of ``tree/lease.py``: it need
        not outlive a crash of the machine."""
        ...

    def objects(self, prefix: str) -> Iterator[ObjectInfo]:
        """Yield every object whose key starts with ``prefix`` (a ``/``-ended folder)."""
        ...

    def inventory(self, page_files: tuple[str, ...] = ()) -> Inventory:
        """Take stock of the whole tree in one pass (locally a walk; an object store would
        list): every object under ``packages/``, the temporary objects elsewhere, and the marks
        of the ``page_files`` of each project folder (``tree.inventory``)."""
        ...

    def folders(self, prefix: str) -> list[str]:
        """Return the names of the folders one level below ``prefix`` (a ``/``-ended folder),
        sorted: where keys continue with ``<name>/`` (locally, every directory there that is
        not a link)."""
        ...

    def sweep(self) -> tuple[int, list[str]]:
        """After a run that did not finish: remove what it left staged, but the partials that
        may be resumed; return how many were removed and the partials' ids."""
        ...

    def drop_partials(self, partials: Iterable[str]) -> int:
        """Remove the partials ``partials`` (ids from ``discard`` or ``sweep``); return how
        many were there."""
        ...

    def local_path(self, key: str) -> Path | None:
        """Return the local file of the object at ``key``, where the backend has one (for
        ``sendfile`` and for tools that read files); None otherwise."""
        ...

    def free_bytes(self) -> int | None:
        """Return the room left for objects where the backend has a limit to tell (a local
        file system's free space); None otherwise, or when it cannot be measured."""
        ...

    def close(self) -> None:
        """Let go of what the storage holds open (a network store's connections)."""
        ...


def read_quietly(storage: Storage, key: str) -> bytes | None:
    """Return the object at ``key``; None when it is not there, cannot be read, or would be
    read from outside the tree (a reader that answers "not found" for all three)."""
    try:
        return storage.read(key)
    except (OutsideTreeError, OSError):
        return None


@dataclass(frozen=True, slots=True)
class StoredReader:
    """A ``ListedReader`` (``tree.inventory``) that reads what a listing of ``storage`` found
    through the storage itself (a backend whose listing is not a local walk)."""

    storage: Storage

    def open(self, key: str) -> BinaryIO:
        stream = self.storage.open(key)
        if stream is None:
            raise FileNotFoundError(key)
        return stream

    def read(self, key: str) -> bytes | None:
        return read_quietly(self.storage, key)
