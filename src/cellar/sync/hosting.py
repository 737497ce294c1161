"""Hosted projects written into the tree: add a file, yank, publish their pages and the root.

Every change goes the same way, under the lease ``hosted/lock`` (``tree/lease.py``) so that
uploads to many workers or machines, and the mirror publishing its root, never lose each
other's writes:

1. the file is already in the tree at ``hosted/incoming/<nonce>-<file name>`` (written before
   the lease, so a slow upload holds no one up); it is moved to its place, unless the project
   has a file of that name (the same bytes: nothing to do; others: refused, never replaced);
2. its ``.metadata`` file beside it (a wheel's METADATA, PEP 658);
3. the record, ``hosted/<name>.json``;
4. the project's pages, rendered from the record (with the mirrored files of a project that
   allows upstream releases, taken from its page as it stands);
5. the root page, if it does not list the project yet.

A server or machine that dies between steps leaves the tree servable: no page lists a file
before it is in place, and a record ahead of its pages is published again by the next change
or ``cellar verify --repair``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from cellar.config.hosted import NamePattern, any_matches
from cellar.hosted.listing import hosted_listing, merged_listing
from cellar.hosted.model import (
    FILES,
    LEASE_KEY,
    RECORDS,
    HostedFile,
    HostedRecord,
    dump_record,
    record_key,
)
from cellar.hosted.records import METADATA_SUFFIX, read_record
from cellar.hosted.validate import CheckedUpload, UploadRefused
from cellar.sync.pages import publish_pages, published_listing, root_pages
from cellar.tree.lease import lease
from cellar.tree.storage import Storage

log = logging.getLogger("cellar.hosted")

INCOMING = f"{RECORDS}incoming/"
_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class HostedWriter:
    """Writes hosted projects into ``storage``: what ``cellar serve`` and ``cellar host`` share.

    ``merged`` names the hosted projects whose pages also list mirrored upstream files
    (``[hosted] allow-upstream``); ``hash_index`` is the mirror's page layout. A project the
    mirror lists from the upstream becomes hosted only if ``reserve`` names it (or it allows
    upstream releases): hosting it hides its upstream releases from every client, which
    takes the operator's word.
    """

    storage: Storage
    hash_index: bool = False
    merged: frozenset[NormalizedName] = frozenset()
    reserve: tuple[NamePattern, ...] = ()

    def receive(self, source: Path, filename: str) -> str:
        """Copy the local file ``source`` into the tree's incoming area; return its key.
        Blocking. Raises ``OSError``."""
        for attempt in range(3):
            key = f"{INCOMING}{secrets.token_hex(8)}-{filename}"
            try:
                self._copy(source, key)
            except FileNotFoundError:
                # The incoming folder went, emptied by another upload, as this one began.
                if attempt == 2 or not source.is_file():
                    raise
                continue
            return key
        raise AssertionError("unreachable")  # pragma: no cover

    def _copy(self, source: Path, key: str) -> None:
        staged = self.storage.stage(key)
        try:
            staged.begin(0)
            try:
                with source.open("rb") as stream:
                    while chunk := stream.read(_CHUNK):
                        staged.write(chunk)
            finally:
                staged.end()
            staged.commit()
        except BaseException:
            staged.discard()
            raise

    def add(
        self,
        incoming: str,
        upload: CheckedUpload,
        uploader: str,
        *,
        now: datetime | None = None,
    ) -> bool:
        """Host the checked file received at ``incoming``; return False when the project already
        has this file, byte for byte (nothing changes).

        Raises ``UploadRefused`` (400) when it has another file of that name, ``LeaseHeldError``
        and ``OSError``. The incoming object is gone afterwards, whatever happens.
        """
        name = upload.project
        placed = False
        try:
            with lease(self.storage, LEASE_KEY):
                record = read_record(self.storage, name)
                if record is None:
                    self._check_new(name)
                    record = HostedRecord(upload.display_name)
                there = record.file(upload.filename)
                if there is not None:
                    if there.sha256 == upload.sha256:
                        return False
                    raise UploadRefused(
                        400,
                        f"File already exists: {upload.filename} is hosted with other bytes "
                        f"(sha256 {there.sha256}); a file name is never replaced: upload a new "
                        "version",
                    )
                key = f"{FILES}{name}/{upload.filename}"
                if not self.storage.move(incoming, key):
                    raise OSError(f"the upload of {upload.filename} vanished from {incoming}")
                metadata_sha256 = None
                if upload.metadata_file is not None:
                    self.storage.put({key + METADATA_SUFFIX: upload.metadata_file})
                    metadata_sha256 = _sha256(upload.metadata_file)
                file = _hosted_file(upload, uploader, metadata_sha256, now)
                record = replace(record, files=(*record.files, file))
                self._publish(record)
                placed = True
        finally:
            if not placed:  # refused, or failed: the upload goes
                self.storage.delete([incoming])
        log.info(
            "hosted %s (%d bytes) in %s, uploaded by %s",
            upload.filename,
            upload.size,
            name,
            uploader,
        )
        return True

    def _check_new(self, name: NormalizedName) -> None:
        """Refuse to start hosting a project the mirror lists, unless the operator said so."""
        if name in self.merged or any_matches(self.reserve, name):
            return
        if name in {canonicalize_name(shown) for shown in listed_names(self.storage)}:
            raise UploadRefused(
                403,
                f"{name} is mirrored from the upstream: hosting it would hide its upstream "
                "releases from every client; to host it instead, add it to [hosted] reserve",
            )

    def set_yanked(self, name: str, version: str, yanked: bool | str, user: str) -> tuple[str, ...]:
        """Yank (``yanked`` True or the reason) or un-yank (False) every file of ``name``
        ``version``; return their names. Raises ``UploadRefused`` (404) when there is no such
        project or version, ``LeaseHeldError``, ``OSError``."""
        project = canonicalize_name(name)
        with lease(self.storage, LEASE_KEY):
            record = read_record(self.storage, project)
            if record is None:
                raise UploadRefused(404, f"{name} is not a hosted project")
            wanted = _parsed(version)
            changed = [
                replace(file, yanked=yanked) if _parsed(file.version) == wanted else file
                for file in record.files
            ]
            touched = tuple(
                file.filename for file in record.files if _parsed(file.version) == wanted
            )
            if not touched:
                raise UploadRefused(404, f"{record.name} has no version {version}")
            self._publish(replace(record, files=tuple(changed)))
        log.info(
            "%s %s %s by %s (%s)",
            "yanked" if yanked is not False else "un-yanked",
            record.name,
            version,
            user,
            yanked if isinstance(yanked, str) else "no reason given",
        )
        return touched

    def republish(self, record: HostedRecord) -> None:
        """Publish ``record``'s pages again (and list it in the root). Takes the lease."""
        with lease(self.storage, LEASE_KEY):
            self._publish(record)

    def _publish(self, record: HostedRecord) -> None:
        """Write the record, its pages, and the root if it lacks the project (lease held)."""
        self.storage.put({record_key(record.key): dump_record(record)})
        listing = hosted_listing(record)
        if record.key in self.merged:
            listing = merged_listing(record, published_listing(self.storage, record.key))
        publish_pages(self.storage, listing, hash_index=self.hash_index)
        listed = {canonicalize_name(shown): shown for shown in listed_names(self.storage)}
        if record.key in listed:
            return
        # The root as it stands, and this project: a hosted project a writer that died left
        # out is listed again by the mirror's next root (sync/pages.py) or by verify --repair.
        listed[record.key] = record.name
        self.storage.put(
            {f"simple/{page}": body for page, body in root_pages(listed.values()).items()}
        )


def listed_names(storage: Storage) -> list[str]:
    """The names the root JSON page lists now (none if there is none, or it is damaged)."""
    body = storage.read("simple/index.v1_json")
    try:
        data = json.loads(body or b"{}")
        return [str(item["name"]) for item in data.get("projects", ())]
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("the root page simple/index.v1_json cannot be read; it is written anew")
        return []


def _hosted_file(
    upload: CheckedUpload, uploader: str, metadata_sha256: str | None, now: datetime | None
) -> HostedFile:
    metadata = upload.metadata
    when = (now or datetime.now(UTC)).astimezone(UTC)
    return HostedFile(
        filename=upload.filename,
        version=upload.version,
        sha256=upload.sha256,
        size=upload.size,
        upload_time=when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        uploader=uploader,
        requires_python=str(metadata.requires_python) if metadata.requires_python else None,
        metadata_sha256=metadata_sha256,
        requires_dist=tuple(str(requirement) for requirement in metadata.requires_dist),
        provides_extra=tuple(metadata.provides_extra),
        build_requires=None
        if metadata.build_requires is None
        else tuple(str(requirement) for requirement in metadata.build_requires),
    )


def _parsed(version: str) -> Version | str:
    try:
        return Version(version)
    except InvalidVersion:
        return version


def _sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
