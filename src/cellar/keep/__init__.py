"""Keeping a mirror right: verify files and pages, repair them, prune orphans, delete projects.

``keep.verify.verify_mirror`` (``cellar verify``) and ``keep.delete.delete_projects``
(``cellar delete``) take the mirror lock; ``keep.delete.prune_projects`` is for a caller that
holds it already (the engine). The values they share are in ``keep.model``. Nothing is imported
here, so that a module needing only ``keep.model`` does not load the HTTP client with verify.
"""
