"""Where a distribution file lives in the mirror, refusing names that would escape it (pure).

Files go under ``web/packages/``. When the upstream URL has PyPI's shape
(``/packages/<2 hex>/<2 hex>/<60 hex>/<file name>``) that path is kept, so a Cellar mirror
lines up with a bandersnatch one; otherwise the path is content-addressed by sha256 in the
same shape (``packages/<h[:2]>/<h[2:4]>/<h[4:]>/<file name>``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from cellar.model import DistFile
from cellar.sync.errors import UnsafePathError
from cellar.upstream.hosts import HostPolicy

_PYPI_PATH = re.compile(r"/packages/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{60})/([^/]+)")
_SHA256 = re.compile(r"[0-9a-f]{64}")
METADATA_SUFFIX = ".metadata"


def check_filename(project: str, file: DistFile) -> None:
    """Raise ``UnsafePathError`` unless ``file.filename`` is a plain, safe file name."""
    name = file.filename
    reason = None
    if not name or name in (".", ".."):
        reason = "empty or dot file name"
    elif "/" in name or "\\" in name:
        reason = "the file name contains a path separator"
    elif "\x00" in name or any(ord(char) < 32 for char in name):
        reason = "the file name contains control characters"
    elif name.startswith("."):
        reason = "the file name starts with a dot"
    elif not _encodable(name):
        reason = "the file name is not valid Unicode text (a lone surrogate)"
    elif len(name.encode("utf-8")) > 200:
        reason = "the file name is longer than 200 bytes"
    if reason:
        raise UnsafePathError(project, name, file.url, reason)
    segments = unquote(urlsplit(file.url).path).split("/")
    if ".." in segments or "." in segments or any("\\" in part for part in segments):
        raise UnsafePathError(project, name, file.url, "the URL path contains '..' or '.'")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def split_unsafe(
    project: str, files: Iterable[DistFile], hosts: HostPolicy | None = None
) -> tuple[tuple[DistFile, ...], tuple[UnsafePathError, ...]]:
    """Return the files with safe names and URL paths on hosts ``hosts`` allows, and the
    refusals for the others."""
    safe: list[DistFile] = []
    refused: list[UnsafePathError] = []
    for file in files:
        try:
            check_filename(project, file)
            reason = hosts.refusal(file.url) if hosts is not None else None
            if reason is not None:
                raise UnsafePathError(project, file.filename, file.url, reason)
        except UnsafePathError as error:
            refused.append(error)
        else:
            safe.append(file)
    return tuple(safe), tuple(refused)


def pypi_path(file: DistFile) -> PurePosixPath | None:
    """Return the mirror path kept from a PyPI-shaped URL, or ``None`` if the URL is not one."""
    match = _PYPI_PATH.fullmatch(unquote(urlsplit(file.url).path))
    if match is None or match.group(4) != file.filename:
        return None
    return PurePosixPath("packages", *match.groups())


def content_path(sha256: str, filename: str) -> PurePosixPath:
    """Return the content-addressed mirror path for a file with this sha256 and name."""
    if not _SHA256.fullmatch(sha256):
        msg = f"not a sha256 hex digest: {sha256!r}"
        raise ValueError(msg)
    return PurePosixPath("packages", sha256[:2], sha256[2:4], sha256[4:], filename)


def mirror_path(project: str, file: DistFile, sha256: str | None) -> PurePosixPath | None:
    """Return where ``file`` lives below the web root, relative to it.

    Returns ``None`` when the path can only be known once the content's sha256 is (the
    upstream gives no sha256 and its URL is not PyPI-shaped). Raises ``UnsafePathError``
    for names and URL paths that would escape the mirror.
    """
    check_filename(project, file)
    kept = pypi_path(file)
    if kept is not None:
        return kept
    if sha256 is None:
        return None
    return content_path(sha256.lower(), file.filename)


def metadata_path(path: PurePosixPath) -> PurePosixPath:
    """Return the path of the PEP 658 metadata file beside the distribution at ``path``."""
    return path.with_name(path.name + METADATA_SUFFIX)
