"""The root of Cellar's error hierarchy.

Every error Cellar raises on purpose derives from ``CellarError`` and carries the data that
explains it (project, file, URL, config key) as attributes; ``str(error)`` is a sentence a
person can act on. Each class knows the exit code of the ``cellar`` command it ends
(``exit_code``: 2 unless drawn otherwise below); the CLI is the only place that prints the
message and exits with it. ``tests/test_errors.py`` checks this drawing against the classes.

    CellarError
    ├── ConfigError                    cellar.config.checks (exit code 2)
    ├── UvMissingError                 cellar.sync.plan (resolvers names uv, none installed)
    ├── LockHeldError                  cellar.tree.lock        (exit code 2)
    ├── MirrorDirectoryError           cellar.tree.lock        (exit code 2: a directory not usable)
    ├── InvalidTargetError             cellar.select.targets  (a Python/platform not targetable)
    ├── RequirementsFileError          cellar.select.sources  (names file and line)
    ├── InvalidMetadataError           cellar.select.metadata (core metadata without name/version)
    ├── ResolutionFailed               cellar.select.failure  (per target, with the chain)
    ├── NoReleaseError                 cellar.select.closure  (no release left to mirror)
    ├── MirrorStateError               cellar.state
    ├── UnsafeNameError                cellar.tree.paths (a project name that may not be a path)
    ├── OutsideTreeError               cellar.tree.paths (a path that would leave the web root)
    ├── StorageError                   cellar.tree.storage (an object store not usable as set)
    ├── PageFormatError                cellar.sync.pages (a published page not as Cellar writes)
    ├── ClientConfigError              cellar.clients     (client-config; exit code 2)
    │   ├── UnreadableClientFileError  cellar.clients.merge: a pip.conf/uv.toml its tool can't read
    │   ├── ScopeError                 cellar.clients.files: a scope that makes no sense here
    │   └── ClientFileError            cellar.clients.files: a file not read or written, named
    ├── ServeError                     cellar.serve.errors (cannot start serving)
    │   ├── WebRootError               the tree to serve is missing or not a mirror
    │   ├── AddressUnavailableError    the address is in use or cannot be bound
    │   ├── HtpasswdError              [serve] htpasswd unusable (names file and line)
    │   ├── TlsError                   [serve] tls-certificate / tls-key unusable or no pair
    │   ├── AccessLogError             cellar.serve.access_log: [serve] access-log not writable
    │   └── WorkersFailedError         cellar.serve.supervisor: workers cannot start, keep dying
    ├── NginxConfigError               cellar.nginx.site  (nginx-config; exit code 2)
    ├── KeyFileError                   cellar.bundle.keys (a key file unreadable or not a key)
    ├── SignatureError                 cellar.bundle.keys (signed by no trusted key; exit code 1)
    ├── ManifestError                  cellar.bundle.manifest (a bundle refused whole; exit code 1)
    ├── BundleError                    cellar.bundle.importer (a bundle refused whole; exit code 1)
    ├── ExportError                    cellar.bundle.export (a bundle not written as asked)
    ├── OsvError                       cellar.policy.osv (an OSV database that cannot be read)
    ├── HostedRecordError              cellar.hosted.model (a hosted project's record, damaged)
    ├── HostedProjectError             cellar.hosted.model (delete of a hosted project; exit code 1)
    ├── UploadRefused                  cellar.hosted.validate (an upload refused; its HTTP status)
    ├── LeaseHeldError                 cellar.tree.lease (another writer kept the tree's lease)
    ├── ProvenanceUnavailableError     cellar.policy.provenance (require-provenance, no verifier)
    ├── UpstreamError                  cellar.upstream.errors
    │   ├── UpstreamHTTPError          a status code the client does not retry, or retries ran out
    │   │   └── ProjectNotFoundError   a project page that is not there (404, 410)
    │   ├── UpstreamConnectionError    connection refused, reset or timed out after retries
    │   ├── MalformedPageError         a page that is not valid PEP 691 JSON or PEP 503 HTML
    │   ├── ResponseTooLargeError      a metadata response beyond the size Cellar reads
    │   │   ├── PageTooLargeError      a page beyond [mirror] max-page-size, once decoded
    │   │   └── LongerThanStatedError  a file that kept coming past its stated size
    │   ├── RefusedURLError            a URL or redirect outside file-hosts, or https -> http
    │   ├── UpstreamDigestMismatchError fetched bytes whose hash differs from the index's
    │   ├── UnreadableDistributionError a wheel or sdist whose metadata cannot be read
    │   └── UnsupportedAPIVersionError a page declaring a major API version above 1
    └── SyncFileError                  cellar.sync.errors (one file that could not be mirrored)
        ├── UnsafePathError            a name or URL path that would escape the mirror
        ├── ProvenanceError            cellar.sync.provenance: a required provenance that fails
        ├── DigestMismatchError        downloaded bytes whose hash differs from the index's
        ├── NoSpaceError               cellar.sync.space: the download would leave too little free
        └── SizeMismatchError          downloaded bytes whose length differs from the index's

Internal signals: raised and caught inside one package, never shown as they are.

    FailedAttempt                      cellar.upstream.answers: one request failed; retried, or
                                       raised as an UpstreamError
    RangesUnusable                     cellar.upstream.ranged: ranged reads cannot work here; the
                                       whole file is read instead
    ArchiveError                       cellar.upstream.archives: raised as an
                                       UnreadableDistributionError
    ZipFormatError                     cellar.upstream.zipmeta: ranged reads give up
                                       (RangesUnusable)
    ProjectExcluded                    cellar.select.releases: the filters leave a project out;
                                       the closure says so for its requirement
    ReleaseRefused                     cellar.select.releases: a policy refuses a release once
                                       its metadata is read; the resolver passes over it
"""

from __future__ import annotations

from typing import ClassVar

from cellar.exit_codes import EXIT_USAGE


class CellarError(Exception):
    """Base class of the errors Cellar raises on purpose."""

    #: The exit code of the ``cellar`` command when this error ends it (the README's table):
    #: a problem with the set-up (configuration, mirror directory, lock, state) unless a
    #: class says otherwise.
    exit_code: ClassVar[int] = EXIT_USAGE
