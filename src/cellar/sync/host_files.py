"""Host files from this machine: ``cellar host add`` (and the way in from devpi or pypiserver,
whose package directories hold plain wheels and sdists).

The same checks and the same writer as an upload to ``cellar serve``, file by file: one that is
refused is said with its reason and the others go on.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cellar.hosted.validate import UploadForm, UploadRefused, check_upload
from cellar.sync.hosting import HostedWriter
from cellar.upstream.archives import dist_kind

#: What a directory walk takes: wheels and sdists (not signatures, not eggs, not checksums).
_SUFFIXES = (".whl", ".tar.gz", ".zip")


@dataclass(frozen=True, slots=True)
class Hosted:
    """What became of one file: ``added`` (False: the project had it already, byte for byte)
    or the ``refusal`` that kept it out."""

    path: Path
    added: bool = False
    refusal: str | None = None


def distributions(paths: Iterable[Path]) -> Iterator[Path]:
    """Each file named, and the wheels and sdists below each directory named (sorted)."""
    for path in paths:
        if path.is_dir():
            found = [
                Path(root) / name
                for root, _, names in os.walk(path)
                for name in names
                if name.lower().endswith(_SUFFIXES) and dist_kind(name) is not None
            ]
            yield from sorted(found)
        else:
            yield path


def host_files(
    writer: HostedWriter, paths: Iterable[Path], uploader: str, *, max_size: int
) -> list[Hosted]:
    """Check and host each of ``paths`` as ``uploader``; return what became of each.

    Raises ``LeaseHeldError`` and ``OSError`` (the tree cannot be written): then the files
    before are hosted, and the rest are not.
    """
    results = []
    for path in distributions(paths):
        try:
            if not path.is_file():
                raise UploadRefused(400, f"{path}: not a file")
            upload = check_upload(path, path.name, UploadForm(), max_size=max_size)
            added = writer.add(writer.receive(path, upload.filename), upload, uploader)
        except UploadRefused as refusal:
            results.append(Hosted(path, refusal=refusal.reason))
        else:
            results.append(Hosted(path, added=added))
    return results
