"""``S3Storage``: the mirror's tree in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW).

An object's key is ``<prefix>/<key>``. The client is boto3's (botocore underneath): its
credential chain (the environment, the shared credentials file, an instance or container
role), retries, SigV4 signing, presigned URLs and multipart uploads (s3transfer), so Cellar
writes none of them. boto3 is imported only when a configuration asks for S3.

Writes keep the local backend's promises where an object store can: a download is staged in a
local directory (resumable there under its sha256, as locally), verified, then uploaded whole
(multipart above ``MULTIPART_BYTES``, each part checked by S3) and looked at again before the
commit returns, so no page lists an object that is not there; a PUT replaces an object
atomically; ``put`` skips an object whose ETag (the MD5 of a single-part object) already matches
its bytes. There is no rename and no directory: a set of pages is put object by object, in
order (the engine puts files, then pages, then the root). A killed upload is started again from
its staged copy by the next run; ``sweep`` aborts the multipart uploads a killed run left.

A server asks ``find`` for every request: what it learns (size, ETag, modification time, or
that nothing is there) is kept for ``cache_seconds``, so a hot page costs a HEAD a second, not
one per request. ``local`` is False: the server calls this backend off its event loop.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final

from cellar.tree.inventory import WRITTEN_ELSEWHERE, Inventory, Seen
from cellar.tree.local import LocalStaged, LocalStorage
from cellar.tree.location import S3Settings
from cellar.tree.paths import OutsideTreeError
from cellar.tree.storage import ObjectInfo, StorageError, StoredReader

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

#: Uploads larger than this go in parts (of ``PART_BYTES``), several at once.
MULTIPART_BYTES: Final = 64 << 20
PART_BYTES: Final = 16 << 20
#: What a server keeps of what it learnt of objects, at most (then it starts afresh).
FOUND_LIMIT: Final = 100_000
#: Beside a staged file, the record of its upload in parts, so that it can be resumed.
UPLOAD_SUFFIX: Final = ".cellar-upload"
#: An upload in parts not resumed within this many days is given up (aborted, its file removed).
RESUME_DAYS: Final = 7
_CHUNK: Final = 256 * 1024
_DELETE_BATCH: Final = 1000


def make_client(settings: S3Settings) -> S3Client:
    """Return a boto3 S3 client for ``settings`` (credentials from boto3's usual chain).

    Raises ``StorageError`` when boto3 is not installed.
    """
    try:
        import boto3  # noqa: PLC0415 - only for a configuration that asks for S3
        from botocore.config import Config  # noqa: PLC0415
    except ImportError:
        raise StorageError(
            settings.url, "[storage] backend = 's3' needs boto3: pip install 'cellar[s3]'"
        ) from None
    config = Config(
        s3={"addressing_style": settings.addressing_style},
        retries={"max_attempts": 5, "mode": "standard"},
        max_pool_connections=64,
        connect_timeout=10,
        read_timeout=60,
    )
    session = boto3.session.Session()
    return session.client(
        "s3", endpoint_url=settings.endpoint_url, region_name=settings.region, config=config
    )


def _status(error: Exception) -> str:
    """The HTTP status (or error code) of a botocore ``ClientError``, as text."""
    response: Any = getattr(error, "response", None) or {}
    meta = response.get("ResponseMetadata", {})
    return str(meta.get("HTTPStatusCode") or response.get("Error", {}).get("Code", ""))


def _is_missing(error: Exception) -> bool:
    code = str((getattr(error, "response", None) or {}).get("Error", {}).get("Code", ""))
    return _status(error) == "404" or code in ("NoSuchKey", "404", "NotFound")


def _botocore_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    return (BotoCoreError, ClientError)


def _mtime_ns(when: Any) -> int:
    return int(when.timestamp() * 1_000_000_000)


def _etag(value: str) -> str:
    return value.strip('"')


def check_bucket(client: S3Client, settings: S3Settings, *, write: bool) -> None:
    """Check that the bucket is there, in the configured region, readable, and (``write``)
    writable: a probe object put and removed. Raises ``StorageError`` with one message
    naming what is wrong."""
    what = settings.url
    try:
        answer = client.head_bucket(Bucket=settings.bucket)
    except _botocore_errors() as error:
        status = _status(error)
        if status == "404":
            raise StorageError(what, "no such bucket (create it first)") from None
        if status == "403":
            raise StorageError(
                what, "access denied: check the credentials (environment, shared file, role)"
            ) from None
        if status == "301":
            raise StorageError(
                what, "the bucket is in another region: set [storage] region"
            ) from None
        raise StorageError(what, f"cannot reach the bucket: {error}") from None
    headers = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    actual = headers.get("x-amz-bucket-region")
    if settings.region and actual and actual != settings.region:
        raise StorageError(
            what, f"the bucket is in {actual}, not {settings.region}: set [storage] region"
        )
    if not write:
        return
    probe = _full_key(settings, f".cellar-probe-{threading.get_ident():x}")
    try:
        client.put_object(Bucket=settings.bucket, Key=probe, Body=b"probe")
        client.delete_object(Bucket=settings.bucket, Key=probe)
    except _botocore_errors() as error:
        raise StorageError(what, f"cannot write to the bucket: {error}") from None


def upload_record(path: Path) -> Path:
    """The record of the upload in parts of the staged file ``path``."""
    return path.with_name(path.name + UPLOAD_SUFFIX)


def _full_key(settings: S3Settings, key: str) -> str:
    return f"{settings.prefix}/{key}" if settings.prefix else key


def _checked(key: str, settings: S3Settings) -> str:
    """Return ``key``'s object name; raises ``OutsideTreeError`` for one that is no key of the
    tree (empty, absolute, ``.``/``..``, NUL or backslash)."""
    segments = key.split("/")
    if any(not s or s in (".", "..") or "\x00" in s or "\\" in s for s in segments):
        raise OutsideTreeError(Path(settings.url), key, "not a key of this tree")
    return _full_key(settings, key)


def _client_key(key: str) -> bool:
    """Whether ``key`` is one a client may ask for (no hidden or empty segment)."""
    return not any(not s or s[0] == "." or "\x00" in s or "\\" in s for s in key.split("/"))


@dataclass(frozen=True, slots=True)
class S3Resource:
    """One version of an object of an ``S3Storage`` (its ETag), as a server found it."""

    storage: S3Storage
    key: str
    size: int
    mtime_ns: int
    etag: str
    location: str | None = None

    @property
    def tag(self) -> str:
        return "".join(c for c in self.etag if c.isalnum() or c == "-")

    @property
    def path(self) -> None:
        return None

    def current(self) -> bool:
        now = self.storage.find(self.key, links=True)
        return now is not None and now.etag == self.etag

    def read(self) -> tuple[S3Resource, bytes] | None:
        storage = self.storage
        try:
            answer = storage.client.get_object(
                Bucket=storage.settings.bucket, Key=_full_key(storage.settings, self.key)
            )
            body = answer["Body"].read()
        except _botocore_errors() as error:
            if _is_missing(error):
                storage.forget(self.key)
                return None
            raise OSError(f"{self.key}: {error}") from None
        found = S3Resource(
            storage,
            self.key,
            len(body),
            _mtime_ns(answer["LastModified"]),
            _etag(answer["ETag"]),
            self.location,
        )
        storage.remember(found)
        return found, body

    def chunks(self, start: int, stop: int) -> Iterator[bytes]:
        storage = self.storage
        try:
            answer = storage.client.get_object(
                Bucket=storage.settings.bucket,
                Key=_full_key(storage.settings, self.key),
                Range=f"bytes={start}-{stop - 1}",
                IfMatch=f'"{self.etag}"',
            )
        except _botocore_errors() as error:
            raise OSError(f"{self.key} changed or went while being sent: {error}") from None
        body = answer["Body"]
        try:
            yield from body.iter_chunks(_CHUNK)
        finally:
            body.close()


class _Stream(io.RawIOBase):
    """A botocore streaming body as a raw binary stream."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._body.close()
        super().close()


@dataclass(slots=True)
class S3Staged:
    """A staged write to S3: the bytes staged locally (``local``), uploaded at commit."""

    storage: S3Storage
    key: str
    local: LocalStaged

    def held(self) -> int:
        return self.local.held()

    def held_chunks(self) -> Iterator[bytes]:
        return self.local.held_chunks()

    def begin(self, offset: int) -> None:
        self.local.begin(offset)

    def write(self, chunk: bytes) -> None:
        self.local.write(chunk)

    def end(self) -> None:
        self.local.end()

    def commit(self, key: str | None = None) -> ObjectInfo:
        final = self.key if key is None else key
        name = _checked(final, self.storage.settings)
        self.local.end()
        body = self.local.in_memory()
        if body is not None:  # a small file: straight from memory, one PUT
            self.local.discard()
            return self.storage.put_checked(final, name, body)
        self.local.commit(final)
        staged = self.storage.staging.path(final)
        try:
            info = self.storage.upload(staged, final, name)
        except OSError:
            if not upload_record(staged).exists():  # nothing to resume: nothing to keep
                staged.unlink(missing_ok=True)
            raise
        staged.unlink(missing_ok=True)
        return info

    def discard(self, *, keep: bool = False) -> str | None:
        return self.local.discard(keep=keep)


@dataclass(slots=True)
class S3Storage:
    """The tree in ``settings``' bucket; ``staging`` is a local directory for downloads on
    their way. Its methods may be called from several threads at once."""

    client: S3Client
    settings: S3Settings
    staging: LocalStorage
    #: What servers learnt of objects: key -> (until, resource or None for "not there").
    _found: dict[str, tuple[float, S3Resource | None]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def connect(cls, settings: S3Settings, staging: Path) -> S3Storage:
        """Return the storage for ``settings`` (no request is made: see ``check``)."""
        return cls(make_client(settings), settings, LocalStorage(staging))

    @property
    def local(self) -> bool:
        return False

    def check(self, *, write: bool) -> None:
        """See ``check_bucket``."""
        check_bucket(self.client, self.settings, write=write)

    def describe(self) -> str:
        return self.settings.url

    # -- reading -------------------------------------------------------------------------

    def stat(self, key: str) -> ObjectInfo | None:
        name = _checked(key, self.settings)
        try:
            answer = self.client.head_object(Bucket=self.settings.bucket, Key=name)
        except _botocore_errors() as error:
            if _is_missing(error):
                return None
            raise OSError(f"{key}: {error}") from None
        return ObjectInfo(
            key,
            answer["ContentLength"],
            _mtime_ns(answer["LastModified"]),
            _etag(answer["ETag"]),
        )

    def read(self, key: str) -> bytes | None:
        name = _checked(key, self.settings)
        try:
            answer = self.client.get_object(Bucket=self.settings.bucket, Key=name)
            return answer["Body"].read()
        except _botocore_errors() as error:
            if _is_missing(error):
                return None
            raise OSError(f"{key}: {error}") from None

    def open(self, key: str) -> BinaryIO | None:
        name = _checked(key, self.settings)
        try:
            answer = self.client.get_object(Bucket=self.settings.bucket, Key=name)
        except _botocore_errors() as error:
            if _is_missing(error):
                return None
            raise OSError(f"{key}: {error}") from None
        return io.BufferedReader(_Stream(answer["Body"]), _CHUNK)

    def find(self, key: str, *, links: bool = True) -> S3Resource | None:
        if not _client_key(key):
            return None
        now = time.monotonic()
        kept = self._found.get(key)
        if kept is not None and now < kept[0]:
            return kept[1]
        try:
            info = self.stat(key)
        except (OSError, OutsideTreeError):
            return None
        found = (
            None if info is None else self._resource(key, info.size, info.mtime_ns, info.version)
        )
        self._keep(key, (now + self.settings.cache_seconds, found))
        return found

    def remember(self, found: S3Resource) -> None:
        """Keep what a read learnt of an object."""
        self._keep(found.key, (time.monotonic() + self.settings.cache_seconds, found))

    def _keep(self, key: str, entry: tuple[float, S3Resource | None]) -> None:
        with self._lock:
            if len(self._found) >= FOUND_LIMIT:  # clients asking for endless names
                self._found.clear()
            self._found[key] = entry

    def forget(self, key: str) -> None:
        with self._lock:
            self._found.pop(key, None)

    def _resource(self, key: str, size: int, mtime_ns: int, etag: str) -> S3Resource:
        location = None
        if self.settings.files == "redirect" and key.startswith("packages/"):
            location = self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.settings.bucket, "Key": _full_key(self.settings, key)},
                ExpiresIn=self.settings.redirect_seconds,
            )
        return S3Resource(self, key, size, mtime_ns, etag, location)

    def objects(self, prefix: str) -> Iterator[ObjectInfo]:
        base = _full_key(self.settings, "")
        start = prefix if not prefix or prefix.endswith("/") else f"{prefix}/"
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.settings.bucket, Prefix=base + start):
                for entry in page.get("Contents", []):
                    yield ObjectInfo(
                        entry["Key"][len(base) :],
                        entry["Size"],
                        _mtime_ns(entry["LastModified"]),
                        _etag(entry["ETag"]),
                    )
        except _botocore_errors() as error:
            raise OSError(f"listing {self.settings.url}{start}: {error}") from None

    def folders(self, prefix: str) -> list[str]:
        base = _full_key(self.settings, "") + prefix
        names: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.settings.bucket, Prefix=base, Delimiter="/"):
                names.extend(
                    entry["Prefix"][len(base) :].rstrip("/")
                    for entry in page.get("CommonPrefixes", [])
                )
        except _botocore_errors() as error:
            raise OSError(f"listing {self.settings.url}{prefix}: {error}") from None
        return sorted(names)

    def inventory(self, page_files: tuple[str, ...] = ()) -> Inventory:
        files: dict[str, Seen] = {}
        folders: dict[str, dict[str, ObjectInfo]] = {}
        for info in self.objects(""):
            if info.key.startswith("packages/"):
                files[info.key] = (info.size, info.mtime_ns)
            elif info.key.startswith("simple/"):
                folder, _, name = info.key.rpartition("/")
                if name in page_files:
                    folders.setdefault(folder, {})[name] = info
        marks = {
            folder: " ".join(found[name].version for name in page_files)
            for folder, found in folders.items()
            if page_files and len(found) == len(page_files)
        }
        return Inventory(files, (), marks, StoredReader(self))

    def local_path(self, key: str) -> Path | None:
        return None

    def free_bytes(self) -> int | None:
        return None

    def close(self) -> None:
        self.client.close()

    # -- writing -------------------------------------------------------------------------

    def put(self, objects: Mapping[str, bytes], *, unchanged: bool = False) -> list[str]:
        names = {key: _checked(key, self.settings) for key in objects}
        written: list[str] = []
        for key, body in objects.items():
            digest = hashlib.md5(body, usedforsecurity=False)
            if not unchanged:
                try:
                    there = self.stat(key)
                except OSError:
                    there = None
                if there is not None and there.version == digest.hexdigest():
                    continue
            try:
                self.client.put_object(
                    Bucket=self.settings.bucket,
                    Key=names[key],
                    Body=body,
                    ContentMD5=base64.b64encode(digest.digest()).decode(),
                )
            except _botocore_errors() as error:
                raise OSError(f"cannot write {self.settings.url}{key}: {error}") from None
            self.forget(key)
            written.append(key)
        return written

    def stage(self, key: str, *, resume: str | None = None, spool: int = 0) -> S3Staged:
        _checked(key, self.settings)
        return S3Staged(self, key, self.staging.stage(key, resume=resume, spool=spool))

    def put_checked(self, key: str, name: str, body: bytes) -> ObjectInfo:
        """PUT ``body`` as object ``key`` (``name`` in the bucket) with its MD5, which S3
        checks; return what S3 then holds."""
        digest = hashlib.md5(body, usedforsecurity=False).digest()
        try:
            self.client.put_object(
                Bucket=self.settings.bucket,
                Key=name,
                Body=body,
                ContentMD5=base64.b64encode(digest).decode(),
            )
        except _botocore_errors() as error:
            raise OSError(f"cannot upload {self.settings.url}{key}: {error}") from None
        return self._arrived(key, len(body))

    def upload(self, path: Path, key: str, name: str) -> ObjectInfo:
        """Upload the local file ``path`` as object ``key`` (``name`` in the bucket): one PUT,
        or above ``MULTIPART_BYTES`` in parts (``upload_parts``: several at once, resumable);
        return what S3 then holds, checked against the file's size."""
        size = path.stat().st_size
        failures: tuple[type[Exception], ...] = (OSError, *_botocore_errors())
        try:
            if size <= MULTIPART_BYTES:
                with path.open("rb") as stream:
                    self.client.put_object(Bucket=self.settings.bucket, Key=name, Body=stream)
            else:
                self.upload_parts(path, name, size)
        except failures as error:
            raise OSError(f"cannot upload {self.settings.url}{key}: {error}") from None
        return self._arrived(key, size)

    def upload_parts(self, path: Path, name: str, size: int) -> None:
        """Upload ``path`` in parts of ``PART_BYTES``, four at once, each with its MD5 (which
        S3 checks). The upload's id is kept beside the file (``upload_record``) until it is
        complete: an upload cut short (a lost connection, a killed run) is continued by the
        next attempt with the parts S3 already holds, each checked against the file's bytes."""
        record = upload_record(path)
        upload_id, held = self._resumable(record, name, size)
        if upload_id is None:
            answer = self.client.create_multipart_upload(Bucket=self.settings.bucket, Key=name)
            upload_id = answer["UploadId"]
            document = {"key": name, "size": size, "part_bytes": PART_BYTES, "id": upload_id}
            record.write_text(json.dumps(document), encoding="utf-8")
        count = -(-size // PART_BYTES)

        def send(number: int) -> CompletedPartTypeDef:
            with path.open("rb") as stream:
                stream.seek((number - 1) * PART_BYTES)
                data = stream.read(PART_BYTES)
            digest = hashlib.md5(data, usedforsecurity=False)
            etag = held.get(number)
            if etag != digest.hexdigest():
                answer = self.client.upload_part(
                    Bucket=self.settings.bucket,
                    Key=name,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=data,
                    ContentMD5=base64.b64encode(digest.digest()).decode(),
                )
                etag = _etag(answer["ETag"])
            return {"PartNumber": number, "ETag": f'"{etag}"'}

        with ThreadPoolExecutor(max_workers=4) as pool:
            parts = list(pool.map(send, range(1, count + 1)))
        self.client.complete_multipart_upload(
            Bucket=self.settings.bucket,
            Key=name,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
        )
        record.unlink(missing_ok=True)

    def _resumable(self, record: Path, name: str, size: int) -> tuple[str | None, dict[int, str]]:
        """Return the id of the upload ``record`` names, if it is this file's and S3 still has
        it, and the ETags of the parts it holds by number; else ``(None, {})``."""
        try:
            document = json.loads(record.read_text(encoding="utf-8"))
            upload_id = str(document["id"])
            same = (document["key"], document["size"], document["part_bytes"]) == (
                name,
                size,
                PART_BYTES,
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None, {}
        held: dict[int, str] = {}
        if same:
            try:
                pages = self.client.get_paginator("list_parts").paginate(
                    Bucket=self.settings.bucket, Key=name, UploadId=upload_id
                )
                for page in pages:
                    for part in page.get("Parts", []):
                        held[part["PartNumber"]] = _etag(part["ETag"])
            except _botocore_errors():
                same = False  # gone (aborted, expired): start again
        if not same:
            record.unlink(missing_ok=True)
            return None, {}
        return upload_id, held

    def _arrived(self, key: str, size: int) -> ObjectInfo:
        self.forget(key)
        info = self.stat(key)
        if info is None or info.size != size:
            raise OSError(f"{self.settings.url}{key}: the upload did not arrive whole")
        return info

    def delete(self, keys: Iterable[str]) -> tuple[list[str], int]:
        found: list[tuple[str, int]] = []
        for key in keys:
            try:
                info = self.stat(key)
            except (OutsideTreeError, OSError):
                continue
            if info is not None:
                found.append((key, info.size))
        for start in range(0, len(found), _DELETE_BATCH):
            batch = found[start : start + _DELETE_BATCH]
            try:
                self.client.delete_objects(
                    Bucket=self.settings.bucket,
                    Delete={
                        "Objects": [{"Key": _full_key(self.settings, k)} for k, _ in batch],
                        "Quiet": True,
                    },
                )
            except _botocore_errors() as error:
                raise OSError(f"cannot remove objects from {self.settings.url}: {error}") from None
            for key, _ in batch:
                self.forget(key)
        return [key for key, _ in found], sum(size for _, size in found)

    def move(self, key: str, to: str) -> bool:
        """A server-side copy, then the original removed (S3 has no rename)."""
        if self.stat(key) is None:
            return False
        try:
            self.client.copy_object(
                Bucket=self.settings.bucket,
                Key=_full_key(self.settings, to),
                CopySource={"Bucket": self.settings.bucket, "Key": _full_key(self.settings, key)},
            )
        except _botocore_errors() as error:
            raise OSError(f"cannot copy {key} in {self.settings.url}: {error}") from None
        self.forget(to)
        self.delete([key])
        return True

    def create(self, key: str, body: bytes) -> bool:
        """A conditional PUT (``If-None-Match: *``): S3 lets one writer of a key win."""
        try:
            self.client.put_object(
                Bucket=self.settings.bucket,
                Key=_checked(key, self.settings),
                Body=body,
                IfNoneMatch="*",
            )
        except _botocore_errors() as error:
            code = getattr(error, "response", {}).get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise OSError(f"cannot write {self.settings.url}{key}: {error}") from None
        self.forget(key)
        return True

    def sweep(self) -> tuple[int, list[str]]:
        """Abort the multipart uploads a killed run left, and clear the local staging of
        everything but the partial downloads that may be resumed (a file staged whole whose
        upload was cut is downloaded and uploaded again by the run that needs it)."""
        aborted = 0
        base = _full_key(self.settings, "")
        resumable = self._resumable_uploads()
        try:
            paginator = self.client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=self.settings.bucket, Prefix=base):
                for upload in page.get("Uploads", []):
                    if upload["UploadId"] in resumable.values():
                        continue
                    if str(upload["Key"])[len(base) :].startswith(WRITTEN_ELSEWHERE):
                        continue  # a server's upload of a hosted file, perhaps under way
                    self.client.abort_multipart_upload(
                        Bucket=self.settings.bucket,
                        Key=upload["Key"],
                        UploadId=upload["UploadId"],
                    )
                    aborted += 1
        except _botocore_errors() as error:
            raise OSError(f"cannot list the uploads to {self.settings.url}: {error}") from None
        removed, partials = self.staging.sweep()
        kept = {key for record in resumable for key in (record, record[: -len(UPLOAD_SUFFIX)])}
        staged = [
            info.key
            for info in self.staging.objects("")
            if info.key not in kept and not info.key.startswith(WRITTEN_ELSEWHERE)
        ]
        if staged:
            removed += len(self.staging.delete(staged)[0])
        return aborted + removed, partials

    def _resumable_uploads(self) -> dict[str, str]:
        """Return the staging's records of uploads that may be resumed (key of the record to
        the upload's id): those beside their file, younger than ``RESUME_DAYS``."""
        found: dict[str, str] = {}
        oldest = time.time_ns() - RESUME_DAYS * 86_400 * 1_000_000_000
        held = {info.key: info for info in self.staging.objects("")}
        for key, info in held.items():
            if not key.endswith(UPLOAD_SUFFIX) or info.mtime_ns < oldest:
                continue
            if key[: -len(UPLOAD_SUFFIX)] not in held:
                continue
            try:
                document = json.loads(self.staging.read(key) or b"")
                found[key] = str(document["id"])
            except (ValueError, KeyError, TypeError):
                continue
        return found

    def drop_partials(self, partials: Iterable[str]) -> int:
        return self.staging.drop_partials(partials)
