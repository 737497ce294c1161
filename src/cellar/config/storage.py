"""The ``[storage]`` table: where the mirror's tree lives.

``backend = "local"`` (the default) keeps it in ``<directory>/web``. ``backend = "s3"`` keeps
it in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW), under an optional key prefix. Only
shape and value checks live here: credentials are never read from the configuration (boto3's
chain: the environment, the shared credentials file, an instance or container role), and the
bucket is checked when a command starts (``tree.s3.check_bucket``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, cast
from urllib.parse import urlsplit

from cellar.config.checks import ConfigProblem, check_range, get_value
from cellar.tree.location import (
    DEFAULT_CACHE_SECONDS,
    DEFAULT_REDIRECT_SECONDS,
    AddressingStyle,
    FileAnswer,
    S3Settings,
    StorageSettings,
)

STORAGE_KEYS: Final = frozenset(
    {
        *("backend", "bucket", "prefix", "endpoint-url", "region", "addressing-style"),
        *("files", "redirect-seconds", "cache-seconds"),
    }
)
_S3_ONLY: Final = STORAGE_KEYS - {"backend"}
#: S3's rules for bucket names (3 to 63 lowercase letters, digits, dots and hyphens).
_BUCKET: Final = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX_SEGMENT: Final = re.compile(r"[A-Za-z0-9._-]+")


def storage_table(table: Mapping[str, Any], problems: list[ConfigProblem]) -> StorageSettings:
    """Validate ``[storage]``."""
    backend = get_value(table, "storage", "backend", str, problems) or "local"
    if backend not in ("local", "s3"):
        problems.append(
            ConfigProblem("[storage] backend", f"must be 'local' or 's3', not {backend!r}")
        )
        return StorageSettings()
    if backend == "local":
        problems.extend(
            ConfigProblem(f"[storage] {key}", "has no meaning with backend = 'local'")
            for key in sorted(_S3_ONLY & set(table))
        )
        return StorageSettings()
    bucket = get_value(table, "storage", "bucket", str, problems, required=True)
    if bucket is not None and not _BUCKET.fullmatch(bucket):
        problems.append(
            ConfigProblem(
                "[storage] bucket",
                f"{bucket!r} is not a bucket name (3 to 63 lowercase letters, digits, dots "
                "and hyphens)",
            )
        )
    prefix = (get_value(table, "storage", "prefix", str, problems) or "").strip("/")
    if prefix and not all(
        _PREFIX_SEGMENT.fullmatch(part) and part not in (".", "..") for part in prefix.split("/")
    ):
        problems.append(
            ConfigProblem(
                "[storage] prefix",
                f"{prefix!r}: use folders of letters, digits, '.', '_' and '-' separated by '/'",
            )
        )
    endpoint = get_value(table, "storage", "endpoint-url", str, problems)
    if endpoint is not None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
            problems.append(
                ConfigProblem(
                    "[storage] endpoint-url",
                    f"must be an http:// or https:// URL with no path, not {endpoint!r}",
                )
            )
    region = get_value(table, "storage", "region", str, problems)
    style = get_value(table, "storage", "addressing-style", str, problems) or "auto"
    if style not in ("auto", "path", "virtual"):
        problems.append(
            ConfigProblem(
                "[storage] addressing-style", f"must be 'auto', 'path' or 'virtual', not {style!r}"
            )
        )
    files = get_value(table, "storage", "files", str, problems) or "stream"
    if files not in ("stream", "redirect"):
        problems.append(
            ConfigProblem("[storage] files", f"must be 'stream' or 'redirect', not {files!r}")
        )
    seconds = get_value(table, "storage", "redirect-seconds", int, problems)
    cache = get_value(table, "storage", "cache-seconds", (int, float), problems)
    if cache is not None and not 0 <= cache <= 3600:
        problems.append(ConfigProblem("[storage] cache-seconds", "must be 0 to 3600 seconds"))
        cache = None
    return StorageSettings(
        "s3",
        S3Settings(
            bucket=bucket or "",
            prefix=prefix,
            endpoint_url=endpoint.rstrip("/") if endpoint else None,
            region=region or None,
            addressing_style=cast(AddressingStyle, style),
            files=cast(FileAnswer, files),
            redirect_seconds=check_range(
                seconds,
                "[storage] redirect-seconds",
                problems,
                low=1,
                high=7 * 24 * 3600,
                default=DEFAULT_REDIRECT_SECONDS,
            ),
            cache_seconds=float(cache) if cache is not None else DEFAULT_CACHE_SECONDS,
        ),
    )
