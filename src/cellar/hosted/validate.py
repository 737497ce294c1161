"""What an uploaded file must be before it is hosted: checked from a local copy, never unpacked.

The checks, in order, each refusal a ``UploadRefused`` with the HTTP status the upload API
answers and a sentence naming the file:

- the file name is a plain name (no separators, no dot first, no control characters, at most
  200 bytes) of a wheel (PEP 427) or an sdist (``.tar.gz``, or a legacy ``.zip``);
- it is not empty and not over the size limit;
- the digests the form states (``sha256_digest``, ``md5_digest``, ``blake2_256_digest``)
  are those of the bytes received;
- the archive is well formed: a wheel is a zip whose members all pass their CRC check, with
  no member path that is absolute or climbs out, a ``.dist-info/WHEEL`` and ``METADATA``; an
  sdist has ``PKG-INFO`` at its top directory and no member path that leaves it; and what the
  archive would inflate to is bounded;
- the metadata's Name and Version are the file name's, and the form's ``name`` and ``version``
  (when sent) are too.
"""

from __future__ import annotations

import hashlib
import tarfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from cellar.errors import CellarError
from cellar.select.metadata import (
    DistMetadata,
    InvalidMetadataError,
    build_requires_of,
    check_identity,
    file_identity,
    parse_metadata,
    parse_sdist_metadata,
)
from cellar.upstream import archives

#: What an archive may inflate to, as a multiple of the upload limit (a wheel of compiled
#: code compresses 3-5 times; a zip bomb thousands of times).
INFLATE_FACTOR: Final = 20
#: The most members an sdist may have (the largest real ones have tens of thousands).
MAX_MEMBERS: Final = 200_000
_CHUNK: Final = 1024 * 1024
#: The digests the upload API's form may state, by field, and how to compute each.
DIGEST_FIELDS: Final = {
    "sha256_digest": "sha256",
    "md5_digest": "md5",
    "blake2_256_digest": "blake2_256",
}


class UploadRefused(CellarError):
    """An upload the index will not take: ``status`` is the HTTP answer, ``str()`` why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class UploadForm:
    """What the upload API's form says of the file (the fields Cellar checks)."""

    name: str | None = None
    version: str | None = None
    #: Field (``sha256_digest``, ...) to the hex digest stated.
    digests: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class CheckedUpload:
    """A file that passed every check: what its record and pages need."""

    project: NormalizedName
    #: The name as the uploader spells it (the form's, else the metadata's).
    display_name: str
    filename: str
    version: str
    sha256: str
    size: int
    metadata: DistMetadata
    #: The core metadata served beside a wheel (PEP 658); None for an sdist.
    metadata_file: bytes | None


def hash_file(path: Path, algorithms: tuple[str, ...] = ("sha256",)) -> dict[str, str]:
    """Return the hex digests of the file at ``path`` by name (``blake2_256`` included)."""
    hashers = {name: _hasher(name) for name in algorithms}
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            for hasher in hashers.values():
                hasher.update(chunk)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}


def _hasher(name: str) -> Any:
    if name == "blake2_256":
        return hashlib.blake2b(digest_size=32)
    return hashlib.new(name, usedforsecurity=name != "md5")


def check_filename(filename: str) -> str | None:
    """Why ``filename`` is not a plain file name a tree can hold, or None if it is."""
    try:
        size = len(filename.encode("utf-8"))
    except UnicodeEncodeError:
        return "the file name is not valid Unicode text"
    checks = (
        (not filename or filename in (".", ".."), "the file name is empty"),
        ("/" in filename or "\\" in filename, "the file name contains a path separator"),
        (
            any(ord(char) < 32 or ord(char) == 127 for char in filename),
            "the file name contains control characters",
        ),
        (filename.startswith("."), "the file name starts with a dot"),
        (size > 200, "the file name is longer than 200 bytes"),
    )
    return next((reason for failed, reason in checks if failed), None)


def check_upload(path: Path, filename: str, form: UploadForm, *, max_size: int) -> CheckedUpload:
    """Check the file at ``path``, uploaded as ``filename`` with ``form``, and return what it is.

    Raises ``UploadRefused`` (status 400, or 413 for a file over ``max_size`` bytes).
    """
    problem = check_filename(filename)
    if problem is not None:
        raise UploadRefused(400, f"{filename!r}: {problem}")
    kind = archives.dist_kind(filename)
    identity = file_identity(filename)
    if kind is None or identity is None or filename.lower().endswith((".tgz", ".tar")):
        raise UploadRefused(
            400,
            f"{filename}: not a wheel or sdist file name (name-version.tar.gz, "
            "name-version-tags.whl)",
        )
    project, version = identity
    size = path.stat().st_size
    if size == 0:
        raise UploadRefused(400, f"{filename}: the file is empty")
    if size > max_size:
        raise UploadRefused(413, f"{filename}: {size} bytes is over the limit of {max_size}")
    _check_digests(path, filename, form)
    _check_form(filename, project, version, form)
    bound = max_size * INFLATE_FACTOR
    if kind == "wheel":
        _check_wheel(path, filename, bound)
    else:
        _check_sdist(path, filename, kind, bound)
    metadata, metadata_file = _read_metadata(path, filename, kind, project, version)
    digest = hash_file(path)["sha256"]
    display = form.name if form.name and canonicalize_name(form.name) == project else project
    return CheckedUpload(
        project=project,
        display_name=display,
        filename=filename,
        version=str(version),
        sha256=digest,
        size=size,
        metadata=metadata,
        metadata_file=metadata_file,
    )


def _check_digests(path: Path, filename: str, form: UploadForm) -> None:
    stated = {
        DIGEST_FIELDS[key]: value.strip().lower()
        for key, value in form.digests.items()
        if key in DIGEST_FIELDS and value.strip()
    }
    if not stated:
        return
    actual = hash_file(path, tuple(stated))
    for algorithm, value in stated.items():
        if actual[algorithm] != value:
            raise UploadRefused(
                400,
                f"{filename}: the {algorithm} digest sent ({value}) is not the file's "
                f"({actual[algorithm]}); the upload was damaged",
            )


def _check_form(filename: str, project: NormalizedName, version: Version, form: UploadForm) -> None:
    if form.name is not None and canonicalize_name(form.name) != project:
        raise UploadRefused(
            400, f"{filename}: the form names project {form.name!r}, the file name {project!r}"
        )
    if form.version is not None:
        try:
            same = Version(form.version) == version
        except InvalidVersion:
            same = False
        if not same:
            raise UploadRefused(
                400, f"{filename}: the form says version {form.version!r}, the file name {version}"
            )


def _climbs(member: str) -> bool:
    parts = member.replace("\\", "/").split("/")
    return member.startswith(("/", "\\")) or ".." in parts or (len(member) > 1 and member[1] == ":")


def _check_wheel(path: Path, filename: str, bound: int) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            bad = next((info.filename for info in infos if _climbs(info.filename)), None)
            if bad is not None:
                raise UploadRefused(400, f"{filename}: the member {bad!r} would leave the wheel")
            if sum(info.file_size for info in infos) > bound:
                raise UploadRefused(
                    400, f"{filename}: the wheel would inflate to over {bound} bytes"
                )
            if not any(info.filename.endswith(".dist-info/WHEEL") for info in infos):
                raise UploadRefused(400, f"{filename}: the wheel has no .dist-info/WHEEL")
            damaged = archive.testzip()
            if damaged is not None:
                raise UploadRefused(400, f"{filename}: the member {damaged!r} is damaged (CRC)")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as error:
        if isinstance(error, UploadRefused):
            raise
        raise UploadRefused(400, f"{filename}: not a readable wheel (zip): {error}") from None


def _check_sdist(path: Path, filename: str, kind: archives.DistKind, bound: int) -> None:
    try:
        if kind == "sdist-zip":
            with zipfile.ZipFile(path) as archive:
                names = [(info.filename, info.file_size) for info in archive.infolist()]
        else:
            with tarfile.open(path, "r:*") as archive:
                names = []
                total = 0
                for member in archive:
                    # Before the next header is read: reaching it inflates this member's data.
                    total += max(member.size, 0)
                    if total > bound:
                        reason = f"the sdist would inflate to over {bound} bytes"
                        raise UploadRefused(400, f"{filename}: {reason}")
                    if (member.issym() or member.islnk()) and (
                        _climbs(member.linkname) or member.linkname.startswith("/")
                    ):
                        raise UploadRefused(
                            400, f"{filename}: the link {member.name!r} leads out of the sdist"
                        )
                    names.append((member.name, member.size))
                    if len(names) > MAX_MEMBERS:
                        raise UploadRefused(
                            400, f"{filename}: more than {MAX_MEMBERS} members in the sdist"
                        )
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
        if isinstance(error, UploadRefused):
            raise
        raise UploadRefused(400, f"{filename}: not a readable sdist: {error}") from None
    bad = next((name for name, _ in names if _climbs(name)), None)
    if bad is not None:
        raise UploadRefused(400, f"{filename}: the member {bad!r} would leave the sdist")
    if sum(size for _, size in names) > bound:
        raise UploadRefused(400, f"{filename}: the sdist would inflate to over {bound} bytes")


def _read_metadata(
    path: Path,
    filename: str,
    kind: archives.DistKind,
    project: NormalizedName,
    version: Version,
) -> tuple[DistMetadata, bytes | None]:
    try:
        if kind == "wheel":
            body = archives.wheel_metadata(path, project, version)
            metadata = parse_metadata(body, filename)
            file_body: bytes | None = body
        else:
            files = archives.sdist_files(path, kind, project)
            build, _ = build_requires_of(files.pyproject)
            metadata = parse_sdist_metadata(
                files.pkg_info, filename, build_requires=build, requires_txt=files.requires_txt
            )
            file_body = None
        check_identity(metadata, filename, project, filename)
    except archives.ArchiveError as error:
        raise UploadRefused(400, f"{filename}: {error.reason}") from None
    except InvalidMetadataError as error:
        raise UploadRefused(400, f"{filename}: its metadata is not the file's: {error}") from None
    return metadata, file_body
