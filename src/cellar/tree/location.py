"""Where a mirror's tree lives: the local web root or an S3-compatible bucket (the values of
``[storage]``, which ``cellar.config.storage`` reads), and ``TreeLocation``, all a process needs
to open the tree (``tree.open.open_tree``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

Backend = Literal["local", "s3"]
AddressingStyle = Literal["auto", "path", "virtual"]
FileAnswer = Literal["stream", "redirect"]

#: How long a presigned URL a client is redirected to stays valid.
DEFAULT_REDIRECT_SECONDS: Final = 300
#: How long a server trusts what it last learnt of an object (its size and ETag).
DEFAULT_CACHE_SECONDS: Final = 1.0


@dataclass(frozen=True, slots=True)
class S3Settings:
    """Where in S3 the tree is, and how servers answer for its files."""

    bucket: str
    #: Keys go below ``<prefix>/`` ("" for the bucket's top).
    prefix: str = ""
    #: None: AWS's own endpoint for the region.
    endpoint_url: str | None = None
    region: str | None = None
    addressing_style: AddressingStyle = "auto"
    #: "stream": servers send file bytes themselves; "redirect": a 307 to a presigned URL.
    files: FileAnswer = "stream"
    redirect_seconds: int = DEFAULT_REDIRECT_SECONDS
    cache_seconds: float = DEFAULT_CACHE_SECONDS

    @property
    def url(self) -> str:
        """``s3://bucket/prefix/``, for messages."""
        return f"s3://{self.bucket}/{self.prefix}/" if self.prefix else f"s3://{self.bucket}/"


@dataclass(frozen=True, slots=True)
class StorageSettings:
    """The ``[storage]`` table, validated: ``s3`` is set exactly when the backend is S3."""

    backend: Backend = "local"
    s3: S3Settings | None = None


@dataclass(frozen=True, slots=True)
class TreeLocation:
    """Where a mirror's tree is (``tree.open.open_tree`` opens it), picklable for server
    workers: ``web_root`` (``<directory>/web``, the tree itself with the local backend),
    ``storage``, and ``staging``, the local directory where downloads wait before they are
    uploaded to an object store."""

    web_root: Path
    storage: StorageSettings = StorageSettings()
    staging: Path | None = None

    def describe(self) -> str:
        """The tree's place, for messages: a directory or ``s3://bucket/prefix/``."""
        s3 = self.storage.s3
        return s3.url if s3 is not None else str(self.web_root)
