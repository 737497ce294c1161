"""Open a mirror's tree where its configuration puts it (``[storage]``)."""

from __future__ import annotations

from cellar.tree.local import LocalStorage
from cellar.tree.location import TreeLocation
from cellar.tree.storage import Storage


def open_tree(location: TreeLocation, *, write: bool = False) -> Storage:
    """Return the storage of the tree at ``location``: a ``LocalStorage`` of its web root, or
    an ``S3Storage`` of its bucket, checked first (reachable, in its region, readable, and
    with ``write`` writable).

    Raises ``StorageError`` (a ``CellarError``) naming what is wrong with the bucket.
    """
    s3 = location.storage.s3
    if s3 is None:
        return LocalStorage(location.web_root)
    from cellar.tree.s3 import S3Storage  # noqa: PLC0415 - boto3 only for S3

    staging = location.staging or location.web_root.parent / ".cellar" / "staging"
    storage = S3Storage.connect(s3, staging)
    storage.check(write=write)
    return storage
