"""The configuration's values: one frozen ``Config`` of its tables (``[mirror]`` here, the
others in the modules that read them), built by ``cellar.config``'s readers and read by all."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cellar.config.bundle import BundleSettings
from cellar.config.hosted import HostedSettings
from cellar.config.limits import MirrorLimits
from cellar.config.packages import PackageSettings
from cellar.config.serve import ServeSettings
from cellar.filters import Filters
from cellar.policy.model import PolicySettings
from cellar.select.targets import TargetEnvironment
from cellar.tree.location import StorageSettings, TreeLocation

DEFAULT_WORKERS = 10
DEFAULT_TIMEOUT = 60.0
DEFAULT_RETRIES = 3
#: Files read as bandersnatch INI configurations whatever they hold.
INI_SUFFIXES = (".conf", ".ini", ".cfg")


def default_upstream() -> str:
    """Return the upstream used when the configuration names none: PyPI's Simple API, as
    pypi-simple names it (imported here, not at the top: it costs a third of a second, which
    commands that never talk to an upstream should not pay)."""
    from pypi_simple import PYPI_SIMPLE_ENDPOINT  # noqa: PLC0415

    return PYPI_SIMPLE_ENDPOINT


RootSerials = Literal["auto", "always", "never"]
ROOT_SERIALS: tuple[RootSerials, ...] = ("auto", "always", "never")


@dataclass(frozen=True, slots=True)
class MirrorSettings:
    """The ``[mirror]`` table: where the mirror lives and how to talk to the upstream."""

    directory: Path
    upstream: str = field(default_factory=default_upstream)
    workers: int = DEFAULT_WORKERS
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    #: Write PyPI-JSON-API documents at ``web/json/<name>`` and ``web/pypi/<name>/json``.
    json_api: bool = False
    #: Put project pages in ``web/simple/<first letter>/<name>/``, as bandersnatch's hash-index.
    hash_index: bool = False
    #: After each run, write the paths of the files it wrote here (bandersnatch's diff-file).
    diff_file: Path | None = None
    #: Append ``-<seconds since the epoch>`` to the diff file's name.
    diff_append_epoch: bool = False
    #: Stop the run at the first failure instead of mirroring everything else.
    stop_on_error: bool = False
    #: Read every project's serial from the upstream's root page and ask only for the pages
    #: whose serial moved: "always", "never", or "auto" (when, as measured, it costs less).
    root_serials: RootSerials = "auto"
    #: After a run without failures, remove projects no longer selected (or gone upstream)
    #: and files no page lists any more; off, they are kept on disk.
    prune: bool = False
    #: Page size, deadline, file hosts and free space: the limits on what an upstream may do.
    limits: MirrorLimits = field(default_factory=MirrorLimits)
    #: The HTTP proxy every upstream request goes through (``http://[user:password@]host:port``);
    #: None: the ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` environment, else none.
    proxy: str | None = None
    #: Where the tree lives (``[storage]``): ``web_root``, or an object store.
    storage: StorageSettings = field(default_factory=StorageSettings)

    @property
    def web_root(self) -> Path:
        """The directory that is served: ``<directory>/web``."""
        return self.directory / "web"

    @property
    def tree(self) -> TreeLocation:
        """Where the mirror's tree is (``tree.open.open_tree`` opens it)."""
        return TreeLocation(self.web_root, self.storage, self.directory / ".cellar" / "staging")


@dataclass(frozen=True, slots=True)
class Config:
    """A whole, validated configuration, and the file it was read from.

    ``targets`` empty means no target filtering: every file of the selected releases is
    mirrored, whatever Python or platform it is for (only with ``dependencies`` off).
    """

    source: Path
    mirror: MirrorSettings
    packages: PackageSettings = field(default_factory=PackageSettings)
    targets: tuple[TargetEnvironment, ...] = ()
    filters: Filters = field(default_factory=Filters)
    serve: ServeSettings = field(default_factory=ServeSettings)
    bundle: BundleSettings = field(default_factory=BundleSettings)
    policy: PolicySettings = field(default_factory=PolicySettings)
    hosted: HostedSettings = field(default_factory=HostedSettings)
