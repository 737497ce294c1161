"""A file's PEP 740 provenance, mirrored: fetched from the URL the upstream page gives,
checked (and, for a project that requires it, verified) before the file is placed, kept
beside it as ``<file>.provenance``, and listed in the pages by a relative URL, so clients and
auditors behind the gap can read it from the mirror."""

from __future__ import annotations

import asyncio
import logging
from pathlib import PurePosixPath
from urllib.parse import quote

from cellar.model import DistFile
from cellar.policy.model import ProjectRules
from cellar.policy.provenance import MAX_PROVENANCE, check_shape, verify_provenance
from cellar.sync.errors import SyncFileError
from cellar.tree.storage import Storage, read_quietly
from cellar.upstream.client import UpstreamClient
from cellar.upstream.errors import UpstreamError

log = logging.getLogger("cellar.sync")

SUFFIX = ".provenance"


class ProvenanceError(SyncFileError):
    """A file whose provenance is required does not have one that verifies."""


def provenance_href(path: str) -> str:
    """The URL, relative to a project page, of the provenance kept beside the file at ``path``."""
    return "../../" + quote(path + SUFFIX, safe="/")


async def fetch_provenance(
    client: UpstreamClient,
    storage: Storage,
    project: str,
    entry: DistFile,
    *,
    path: PurePosixPath | None,
    rules: ProjectRules,
) -> bytes | None:
    """The provenance object of ``entry`` (kept from before, else fetched), checked, and
    verified when ``rules`` require it. None when it cannot be had and is not required (said);
    raises ``ProvenanceError`` when it is required."""
    assert entry.provenance is not None  # noqa: S101 - callers check
    body = None
    if path is not None:
        body = await asyncio.to_thread(read_quietly, storage, str(path) + SUFFIX)
    try:
        if body is None:
            fetched = await client.fetch_bytes(entry.provenance, max_bytes=MAX_PROVENANCE)
            body = fetched.body
        check_shape(body)
        if rules.require_provenance:
            sha256 = entry.sha256 or ""
            await asyncio.to_thread(
                verify_provenance,
                body,
                entry.filename,
                sha256.lower(),
                repository=rules.provenance_repository,
            )
    except (UpstreamError, ValueError) as error:
        message = f"provenance of {entry.filename} from {entry.provenance}: {error}"
        if rules.require_provenance:
            raise ProvenanceError(project, entry.filename, f"refused: {message}") from None
        log.warning("%s: %s; listed without it", project, message)
        return None
    return body
