"""Target environments: the Pythons and platforms a mirror serves, their markers and wheel tags.

A target is one (Python, platform, implementation) triple. Its wheel tags are the ones an
installer running there accepts, in the installer's order of preference: the list
``packaging.tags.sys_tags()`` yields on such a machine (packaging 26.3, as vendored by pip 26.3).
For Linux targets that is the real-host list (``linux_<arch>`` first, then every manylinux glibc
from the target's down to the oldest, legacy aliases beside their PEP 600 twins), a superset of
what ``pip --platform manylinux_2_X_<arch>`` accepts, since pip expands only the legacy names.

Platform aliases (see ``PLATFORM_ALIASES``) choose conservative floors so that every machine of
that kind can install what the mirror holds: ``manylinux_2_28`` (RHEL 8+, Debian 10+, Ubuntu
20.04+; the default of today's wheel builders), ``musllinux_1_2`` (Alpine 3.13+) and macOS 11
(the first release on Apple silicon). ``macos`` means both Mac architectures, because Mac
fleets are still mixed; ``linux`` and ``windows`` mean x86-64 only.

Not modelled: free-threaded (``cp313t``) and debug CPython builds, Python before 3.8, and
``platform_release``/``platform_version`` markers (empty: they name a kernel build no target
can know).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

from packaging.tags import Tag, compatible_tags, cpython_tags, generic_tags, mac_platforms
from packaging.tags import platform_tags as host_platform_tags
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from cellar.errors import CellarError

_LINUX = "manylinux_2_28"
_MUSL = "musllinux_1_2"
_MAC = "macosx_11_0"
#: Friendly platform names and the wheel platform tags each stands for.
PLATFORM_ALIASES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "linux": (f"{_LINUX}_x86_64",),
        "linux-x86_64": (f"{_LINUX}_x86_64",),
        "linux-aarch64": (f"{_LINUX}_aarch64",),
        "musllinux": (f"{_MUSL}_x86_64",),
        "musllinux-x86_64": (f"{_MUSL}_x86_64",),
        "musllinux-aarch64": (f"{_MUSL}_aarch64",),
        "alpine": (f"{_MUSL}_x86_64",),
        "alpine-aarch64": (f"{_MUSL}_aarch64",),
        "windows": ("win_amd64",),
        "win": ("win_amd64",),
        "windows-x86_64": ("win_amd64",),
        "windows-arm64": ("win_arm64",),
        "windows-x86": ("win32",),
        "macos": (f"{_MAC}_arm64", f"{_MAC}_x86_64"),
        "macos-arm64": (f"{_MAC}_arm64",),
        "macos-x86_64": (f"{_MAC}_x86_64",),
    }
)

IMPLEMENTATIONS = ("cpython", "pypy")
LINUX_ARCHES = (
    *("x86_64", "i686", "aarch64", "armv7l", "armv8l"),
    *("ppc64le", "ppc64", "s390x", "riscv64", "loongarch64"),
)
_WINDOWS_MACHINES = {"win_amd64": "AMD64", "win_arm64": "ARM64", "win32": "x86"}
_LEGACY_MANYLINUX = {"manylinux1": 5, "manylinux2010": 12, "manylinux2014": 17}
_LEGACY_BY_GLIBC = {minor: name for name, minor in _LEGACY_MANYLINUX.items()}
_PYTHON = re.compile(r"3\.(?P<minor>[1-9][0-9]?)(?:\.(?P<micro>0|[1-9][0-9]{0,2}))?")
_MANYLINUX = re.compile(r"manylinux_2_(?P<minor>\d+)_(?P<arch>\w+)")
_MUSLLINUX = re.compile(r"musllinux_1_(?P<minor>\d+)_(?P<arch>\w+)")
_MACOS = re.compile(r"macosx_(?P<major>\d+)_(?P<minor>\d+)_(?P<arch>arm64|x86_64)")
#: A 32-bit ARM interpreter on a 64-bit kernel also runs armv7l code (as packaging assumes).
_ARCH_FAMILY = {"armv8l": ("armv8l", "armv7l")}
#: PyPy's ABI tag is pp73 for every 7.3.x release, which covers Python 3.7 to 3.11.
_PYPY_ABI_SUFFIX, _PYPY_VERSION = "pp73", "7.3.0"


class InvalidTargetError(CellarError, ValueError):
    """A Python version, platform or implementation that names no target Cellar can serve."""

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(f"{value!r}: {reason}")
        self.value = value
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Platform:
    system: str  # platform.system(): Linux, Windows or Darwin
    machine: str  # platform.machine() as that OS reports it
    accepted: tuple[str, ...]  # platform tags an installer there accepts, best first


@dataclass(frozen=True, slots=True)
class TargetEnvironment:
    """One Python on one platform that the mirror must be able to install into."""

    python: str
    platform: str
    implementation: str = "cpython"

    def __post_init__(self) -> None:
        _python_version(self.python)
        _parse_platform(self.platform)
        if self.implementation not in IMPLEMENTATIONS:
            raise InvalidTargetError(
                self.implementation, "the implementation must be cpython or pypy"
            )

    @property
    def name(self) -> str:
        """Return a short stable name such as ``cp311-manylinux_2_28_x86_64``.

        A Python given to the micro version keeps it whole, dotted, so it cannot be misread:
        ``cp3.11.7-manylinux_2_36_x86_64`` (the default target, the running interpreter).
        """
        minor, micro = _python_version(self.python)
        prefix = "cp" if self.implementation == "cpython" else "pp"
        version = f"3{minor}" if micro is None else f"3.{minor}.{micro}"
        return f"{prefix}{version}-{self.platform}"

    @property
    def python_full_version(self) -> Version:
        """Return the full Python version; ``3.11`` means 3.11.0, as pip's ``--python-version``."""
        minor, micro = _python_version(self.python)
        return Version(f"3.{minor}.{micro or 0}")

    def markers(self) -> dict[str, str]:
        """Return the PEP 508 marker environment of this target (without ``extra``)."""
        platform = _parse_platform(self.platform)
        full = str(self.python_full_version)
        cpython = self.implementation == "cpython"
        return {
            "implementation_name": self.implementation,
            "implementation_version": full if cpython else _PYPY_VERSION,
            "os_name": "nt" if platform.system == "Windows" else "posix",
            "platform_machine": platform.machine,
            "platform_python_implementation": "CPython" if cpython else "PyPy",
            "platform_release": "",
            "platform_system": platform.system,
            "platform_version": "",
            "python_full_version": full,
            "python_version": f"3.{_python_version(self.python)[0]}",
            "sys_platform": {"Linux": "linux", "Windows": "win32"}.get(platform.system, "darwin"),
        }

    @property
    def tags(self) -> tuple[Tag, ...]:
        """Return the wheel tags an installer on this target accepts, most preferred first."""
        return _tag_ranks(self.python, self.platform, self.implementation)[0]

    def wheel_rank(self, filename: str) -> int | None:
        """Return the position in ``tags`` of the wheel's best tag.

        Returns ``None`` if the file is not a wheel, its name is invalid, or no tag fits.
        """
        wheel_tags = _wheel_tags(filename)
        if wheel_tags is None:
            return None
        ranks = _tag_ranks(self.python, self.platform, self.implementation)[1]
        found = [ranks[tag] for tag in wheel_tags if tag in ranks]
        return min(found, default=None)


@lru_cache(maxsize=1 << 17)
def _wheel_tags(filename: str) -> frozenset[Tag] | None:
    """Return the tags a wheel's name states, or None for a name that is not a wheel's (read
    once per process: every target ranks the same wheels)."""
    try:
        return parse_wheel_filename(filename)[3]
    except (InvalidWheelFilename, InvalidVersion):
        return None


def expand_platform(name: str) -> tuple[str, ...]:
    """Return the wheel platform tags a configured platform name stands for.

    Aliases expand (see ``PLATFORM_ALIASES``), legacy manylinux names become their PEP 600
    equivalents, and canonical tags pass through once validated.

    Raises:
        InvalidTargetError: if ``name`` is neither an alias nor a platform tag Cellar serves.
    """
    key = name.strip().lower()
    if key in PLATFORM_ALIASES:
        return PLATFORM_ALIASES[key]
    prefix, _, arch = key.partition("_")
    if prefix in _LEGACY_MANYLINUX:
        key = f"manylinux_2_{_LEGACY_MANYLINUX[prefix]}_{arch}"
    try:
        _parse_platform(key)
    except InvalidTargetError as error:
        aliases = ", ".join(PLATFORM_ALIASES)
        raise InvalidTargetError(
            name, f"{error.reason}; use a wheel platform tag or one of: {aliases}"
        ) from None
    return (key,)


def targets_for(
    pythons: Sequence[str], platforms: Sequence[str], implementation: str = "cpython"
) -> tuple[TargetEnvironment, ...]:
    """Return every (python, platform) target, aliases expanded, duplicates dropped, in order.

    Raises:
        InvalidTargetError: naming the first Python version, platform or implementation that
            is not valid.
    """
    implementation = {"cp": "cpython", "pp": "pypy"}.get(implementation, implementation.lower())
    expanded = [tag for name in platforms for tag in expand_platform(name)]
    targets = (
        TargetEnvironment(p.strip(), tag, implementation) for p in pythons for tag in expanded
    )
    return tuple(dict.fromkeys(targets))


def host_target() -> TargetEnvironment:
    """Return the target of the running interpreter on this machine.

    The platform is the most specific tag the machine accepts: the newest manylinux (else
    musllinux) tag on Linux, the macOS version and architecture on a Mac.

    Raises:
        InvalidTargetError: on an implementation or platform Cellar cannot target.
    """
    accepted = list(host_platform_tags())
    platform = next(
        (
            tag
            for prefix in ("manylinux_", "musllinux_")
            for tag in accepted
            if tag.startswith(prefix)
        ),
        accepted[0] if accepted else sys.platform,
    )
    version = sys.version_info
    return TargetEnvironment(
        f"{version.major}.{version.minor}.{version.micro}", platform, sys.implementation.name
    )


def _python_version(python: str) -> tuple[int, int | None]:
    """Return (minor, micro or None) of a configured Python 3 version."""
    match = _PYTHON.fullmatch(python)
    if match is None or int(match["minor"]) < 8:
        raise InvalidTargetError(
            python, 'a Python version must look like "3.12" or "3.12.4", 3.8 or newer'
        )
    return int(match["minor"]), None if match["micro"] is None else int(match["micro"])


@lru_cache(maxsize=128)
def _parse_platform(tag: str) -> _Platform:
    """Return what a platform tag says about the OS and which platform tags it accepts."""
    if tag in _WINDOWS_MACHINES:
        return _Platform("Windows", _WINDOWS_MACHINES[tag], (tag,))
    if match := _MACOS.fullmatch(tag):
        version, arch = (int(match["major"]), int(match["minor"])), match["arch"]
        if not ((10, 4) <= version <= (10, 16) or version >= (11, 0)) or (
            arch == "arm64" and version < (11, 0)
        ):
            raise InvalidTargetError(tag, "no such macOS release for this architecture")
        return _Platform("Darwin", arch, tuple(mac_platforms(version, arch)))
    if tag.startswith("linux_"):
        arch = _linux_arch(tag, tag.removeprefix("linux_"))
        return _Platform("Linux", arch, (tag,))
    if match := _MANYLINUX.fullmatch(tag):
        arch, glibc = _linux_arch(tag, match["arch"]), int(match["minor"])
        archs = _ARCH_FAMILY.get(arch, (arch,))
        oldest = 5 if arch in ("x86_64", "i686") else 17
        if glibc < oldest:
            raise InvalidTargetError(tag, f"manylinux on {arch} starts at glibc 2.{oldest}")
        accepted = [f"linux_{a}" for a in archs]
        for a in archs:
            for minor in range(glibc, oldest - 1, -1):
                accepted.append(f"manylinux_2_{minor}_{a}")
                if minor in _LEGACY_BY_GLIBC:
                    accepted.append(f"{_LEGACY_BY_GLIBC[minor]}_{a}")
        return _Platform("Linux", arch, tuple(accepted))
    if match := _MUSLLINUX.fullmatch(tag):
        arch, musl = _linux_arch(tag, match["arch"]), int(match["minor"])
        archs = _ARCH_FAMILY.get(arch, (arch,))
        accepted = [f"linux_{a}" for a in archs]
        accepted += [f"musllinux_1_{minor}_{a}" for a in archs for minor in range(musl, -1, -1)]
        return _Platform("Linux", arch, tuple(accepted))
    raise InvalidTargetError(tag, "not a platform Cellar can target")


def _linux_arch(tag: str, arch: str) -> str:
    if arch not in LINUX_ARCHES:
        raise InvalidTargetError(tag, f"unknown Linux architecture {arch!r}")
    return arch


@lru_cache(maxsize=128)
def _tag_ranks(
    python: str, platform: str, implementation: str
) -> tuple[tuple[Tag, ...], Mapping[Tag, int]]:
    """Return a target's tags and each tag's position (cached: every file of every page asks)."""
    minor = _python_version(python)[0]
    platforms = _parse_platform(platform).accepted
    if implementation == "cpython":
        interpreter = f"cp3{minor}"
        tags = list(cpython_tags((3, minor), [interpreter], platforms))
    else:
        # A real PyPy asks generic_tags for pp3X tags, then accepts pp3-none-any (not pp3X-).
        abi = f"pypy3{minor}_{_PYPY_ABI_SUFFIX}"
        tags = list(generic_tags(f"pp3{minor}", [abi], platforms))
        interpreter = "pp3"
    tags.extend(compatible_tags((3, minor), interpreter, platforms))
    ranks: dict[Tag, int] = {}
    for rank, tag in enumerate(tags):
        ranks.setdefault(tag, rank)
    return tuple(tags), MappingProxyType(ranks)
