"""uv's pins for each target: ``uv pip compile`` run against the upstream for what a plan
resolves, so the mirror holds what a team that locks with uv outside will install inside.

uv and pip may pick different, equally valid versions where a resolution backtracks, and uv
ignores the upper bounds of Requires-Python where pip does not; the closure is pip's, and these
pins are added to it (``cellar.select.closure.take_pins``). uv builds nothing here (``--no-build``)
unless ``[packages] uv-builds`` allows it: nothing the upstream serves is run. uv then cannot
use a project only an sdist provides, and a set that needs one gets pip's pins alone. uv reads
no configuration of the machine's, keeps its cache in the mirror's ``.cellar/uv-cache``, and goes
through the configured proxy. A set uv cannot resolve is said, not a failure: pip's closure of it
is whole.

uv's answer for a set is remembered in the mirror's state with a fingerprint of every page its
pins rest on; while none of those pages changed, the next plan reuses it without running uv, so
a re-run that finds nothing new asks uv nothing (and uv asks the upstream nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from cellar.model import ProjectPage
from cellar.select.sources import RequirementSet
from cellar.select.targets import TargetEnvironment

#: The glibc versions uv's ``--python-platform`` names for manylinux (2_17 is manylinux2014).
_UV_GLIBC = (17, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40)
_MANYLINUX = re.compile(r"manylinux_2_(?P<glibc>\d+)_(?P<arch>x86_64|aarch64)")
_MUSLLINUX = re.compile(r"musllinux_1_\d+_(?P<arch>x86_64|aarch64)")
_MACOS = re.compile(r"macosx_(?P<major>\d+)_(?P<minor>\d+)_(?P<arch>arm64|x86_64)")
_WINDOWS = {
    "win_amd64": "x86_64-pc-windows-msvc",
    "win_arm64": "aarch64-pc-windows-msvc",
    "win32": "i686-pc-windows-msvc",
}
#: The most of uv's complaint a warning quotes.
_ERROR_CHARS = 600
#: uv's hint when ``--no-build`` leaves a project with no usable file.
_NEEDS_WHEELS = re.compile(
    r"Wheels are required for `([^`]+)` because building from source is disabled"
)


@dataclass(frozen=True, slots=True)
class UvSettings:
    """How to run uv: the binary, the upstream, the cache, the proxy and the closure's rules."""

    uv: Path
    index_url: str
    cache_dir: Path
    proxy: str | None = None
    prereleases: bool = False
    constraints: tuple[Requirement, ...] = ()
    #: Let uv build sdists it must learn the dependencies of (runs their build code here).
    builds: bool = False
    #: uv processes at once, over all targets (each uses several threads of its own).
    concurrency: int = field(default_factory=lambda: max(2, os.cpu_count() or 2))
    #: Seconds one ``uv pip compile`` may take.
    timeout: float = 1800.0
    #: Projects uv must never look up on the upstream (hosted and reserved ones): overridden
    #: away wherever they are required, so uv resolves the rest without them.
    hidden: tuple[str, ...] = ()


@dataclass(slots=True)
class UvPins:
    """What uv chose for one target over every set it resolved, and what it could not;
    ``reused`` counts the sets whose remembered answer still held."""

    pins: set[tuple[NormalizedName, Version]] = field(default_factory=set)
    #: (what uv was asked, why it gave no answer), for each set it could not resolve.
    failed: list[tuple[str, str]] = field(default_factory=list)
    #: The memory keys and reasons of this run's new failures, for ``remember_failures``.
    new_failures: list[tuple[str, str]] = field(default_factory=list)
    reused: int = 0
    asked: int = 0


class AnswerMemory(Protocol):
    """Where uv's answers are remembered between runs (the mirror's state)."""

    def uv_answer(self, key: str) -> tuple[str, str] | None:
        """Return the pins and the page fingerprints recorded under ``key`` (JSON), if any."""
        ...

    def record_uv_answer(self, key: str, pins: str, pages: str) -> None:
        """Record the pins and the page fingerprints (JSON) under ``key``."""
        ...


#: The current fingerprint of a project's page (``page_fingerprint``), fetching it if need be.
Fingerprint = Callable[[NormalizedName], Awaitable[str]]


def page_fingerprint(page: ProjectPage | None) -> str:
    """Return a digest of what on a page can change a resolution: each file's name, hash,
    Requires-Python and yanked state (``-`` for a page that does not exist)."""
    if page is None:
        return "-"
    entries = sorted(
        (f.filename, f.sha256 or "", f.requires_python or "", f.yanked) for f in page.files
    )
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()


def find_uv() -> Path | None:
    """Return the uv binary of the installed ``uv`` package (``cellar[uv]``), else uv on PATH."""
    try:
        from uv import find_uv_bin  # noqa: PLC0415 - an optional dependency

        return Path(find_uv_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        return Path(found) if found else None


def uv_platform(target: TargetEnvironment) -> tuple[str, dict[str, str]] | None:
    """Return uv's ``--python-platform`` for ``target`` and the variables it needs, or
    ``None`` when uv has no such platform (then uv's pins are not asked for)."""
    platform = target.platform
    found: tuple[str, dict[str, str]] | None = None
    if platform in _WINDOWS:
        found = _WINDOWS[platform], {}
    elif match := _MANYLINUX.fullmatch(platform):
        # The newest glibc uv knows that the target's runs: uv accepts no wheel the target
        # cannot install (an older floor only makes uv's pins a little more conservative).
        known = max((g for g in _UV_GLIBC if g <= int(match["glibc"])), default=None)
        found = (f"{match['arch']}-manylinux_2_{known}", {}) if known else None
    elif match := _MUSLLINUX.fullmatch(platform):
        found = f"{match['arch']}-unknown-linux-musl", {}
    elif match := _MACOS.fullmatch(platform):
        arch = "aarch64" if match["arch"] == "arm64" else "x86_64"
        deployment = {"MACOSX_DEPLOYMENT_TARGET": f"{match['major']}.{match['minor']}"}
        found = f"{arch}-apple-darwin", deployment
    return found if target.implementation == "cpython" else None


def uv_inputs(
    requirements: Sequence[Requirement], sets: Sequence[RequirementSet]
) -> list[tuple[str, tuple[Requirement, ...]]]:
    """Return what uv resolves for every target, each with a label: all the requirements
    together, each alone, and each set installed apart (not locks: their pins are fixed)."""
    inputs: list[tuple[str, tuple[Requirement, ...]]] = []
    if requirements:
        inputs.append(("the requirements together", tuple(requirements)))
    if len(requirements) > 1:
        inputs.extend((str(r), (r,)) for r in requirements)
    inputs.extend((group.source, group.requirements) for group in sets if group.alone)
    return inputs


async def uv_pins(
    settings: UvSettings,
    target: TargetEnvironment,
    inputs: Iterable[tuple[str, tuple[Requirement, ...]]],
    limit: asyncio.Semaphore,
    *,
    memory: AnswerMemory | None = None,
    fingerprint: Fingerprint | None = None,
) -> UvPins:
    """Return uv's pins for ``target`` over every input (at most ``limit`` uv processes run).

    With ``memory`` and ``fingerprint``, an answer remembered for an input is reused while
    every page it rests on is unchanged, and each new answer is remembered.
    """
    found = UvPins()
    platform = uv_platform(target)
    if platform is None:
        found.failed.append(("any set", "uv has no platform for this target"))
        return found

    async def one(wanted: tuple[str, tuple[Requirement, ...]]) -> None:
        key = _key(settings, target, platform, wanted[1])
        if memory is not None and fingerprint is not None:
            remembered = await _remembered(memory, fingerprint, key)
            if isinstance(remembered, str):
                found.failed.append((wanted[0], remembered))
                found.reused += 1
                return
            if remembered is not None:
                found.pins.update(remembered)
                found.reused += 1
                return
        found.asked += 1
        pins, reason = await _compile(settings, target, platform, wanted, limit)
        found.pins.update(pins)
        if reason:
            found.failed.append((wanted[0], reason))
            found.new_failures.append((key, reason))
        elif memory is not None and fingerprint is not None:
            answer = {"pins": sorted([n, str(v)] for n, v in pins)}
            await _record(memory, fingerprint, key, answer, {name for name, _ in pins})

    await asyncio.gather(*(one(wanted) for wanted in inputs))
    return found


async def remember_failures(
    memory: AnswerMemory, fingerprint: Fingerprint, found: UvPins, names: Iterable[NormalizedName]
) -> None:
    """Remember this run's failures of ``found`` as resting on the pages of ``names`` (the
    target's closure as pip resolved it: what uv read to fail is not known, those pages are
    its graph), so a re-run asks uv again only once one of them changed."""
    pages = {canonicalize_name(name) for name in names}
    for key, reason in found.new_failures:
        await _record(memory, fingerprint, key, {"failed": reason}, pages)


async def _record(
    memory: AnswerMemory,
    fingerprint: Fingerprint,
    key: str,
    answer: Mapping[str, object],
    names: Iterable[NormalizedName],
) -> None:
    ordered = sorted(names)
    prints = await asyncio.gather(*(fingerprint(name) for name in ordered))
    memory.record_uv_answer(
        key, json.dumps(answer), json.dumps(dict(zip(ordered, prints, strict=True)))
    )


async def _remembered(
    memory: AnswerMemory, fingerprint: Fingerprint, key: str
) -> set[tuple[NormalizedName, Version]] | str | None:
    """Return the pins (or the reason uv gave none) remembered under ``key`` if every page
    they rest on is unchanged; ``None`` when uv must be asked."""
    recorded = memory.uv_answer(key)
    if recorded is None:
        return None
    answer_text, pages_text = recorded
    pages: dict[str, str] = json.loads(pages_text)
    names = [canonicalize_name(name) for name in pages]
    current = await asyncio.gather(*(fingerprint(name) for name in names))
    if list(pages.values()) != list(current):
        return None
    answer = json.loads(answer_text)
    if "failed" in answer:
        return str(answer["failed"])
    return {(canonicalize_name(n), Version(v)) for n, v in answer["pins"]}


def _key(
    settings: UvSettings,
    target: TargetEnvironment,
    platform: tuple[str, dict[str, str]],
    requirements: tuple[Requirement, ...],
) -> str:
    """Return what an answer of uv's depends on besides the pages: uv itself (its binary),
    the upstream, the target and its platform, the requirements and the closure's rules."""
    try:
        binary = settings.uv.stat()
        identity = [str(settings.uv), binary.st_size, binary.st_mtime_ns]
    except OSError:
        identity = [str(settings.uv)]
    described = [
        identity,
        settings.index_url,
        target.name,
        list(platform[0:1]) + sorted(platform[1].items()),
        sorted(str(r) for r in requirements),
        settings.prereleases,
        settings.builds,
        sorted(str(c) for c in settings.constraints),
        *([sorted(settings.hidden)] if settings.hidden else []),
    ]
    return hashlib.sha256(json.dumps(described, default=str).encode()).hexdigest()


async def _compile(
    settings: UvSettings,
    target: TargetEnvironment,
    platform: tuple[str, dict[str, str]],
    wanted: tuple[str, tuple[Requirement, ...]],
    limit: asyncio.Semaphore,
) -> tuple[set[tuple[NormalizedName, Version]], str | None]:
    """Run one ``uv pip compile`` of ``wanted`` (a label and its requirements); return its
    pins, or none and why."""
    python_platform, variables = platform
    requirements = wanted[1]
    with tempfile.TemporaryDirectory(prefix="cellar-uv-") as scratch:
        listed = Path(scratch) / "requirements.in"
        listed.write_text("".join(f"{r}\n" for r in requirements), encoding="utf-8")
        command = [
            str(settings.uv),
            *("pip", "compile", str(listed), "--no-config", "--quiet"),
            *(() if settings.builds else ("--no-build",)),
            *("--no-header", "--no-annotate", "--python", sys.executable),
            *("--python-version", str(target.python_full_version)),
            *("--python-platform", python_platform),
            *("--cache-dir", str(settings.cache_dir)),
        ]
        if settings.prereleases:
            command += ["--prerelease", "allow"]
        if settings.constraints:
            constraints = Path(scratch) / "constraints.txt"
            constraints.write_text("".join(f"{c}\n" for c in settings.constraints), "utf-8")
            command += ["--constraint", str(constraints)]
        if settings.hidden:
            # A marker never true: every requirement of these names is dropped, so uv never
            # asks the upstream for them (dependency confusion); Cellar resolves them itself.
            overrides = Path(scratch) / "overrides.txt"
            overrides.write_text(
                "".join(f"{name} ; python_version < '0'\n" for name in settings.hidden), "utf-8"
            )
            command += ["--override", str(overrides)]
        async with limit:
            code, out, err = await _run(command, _environment(settings, variables), settings)
    if code is None:
        return set(), f"no answer within {settings.timeout:.0f} s"
    if code != 0:
        return set(), _why_not(err, code)
    return _parse(out), None


def _why_not(err: str, code: int) -> str:
    """Return uv's complaint in short: which sdists it would have to build, or its last words."""
    needs_build = sorted(set(_NEEDS_WHEELS.findall(err)))
    if needs_build:
        return (
            f"it would have to build {', '.join(needs_build)} (only an sdist fits) to learn "
            "the dependencies, which it does not do here ([packages] uv-builds = true lets it)"
        )
    return " ".join(err.split())[-_ERROR_CHARS:] or f"exit code {code}"


async def _run(
    command: list[str], env: dict[str, str], settings: UvSettings
) -> tuple[int | None, str, str]:
    """Run ``command``; return its exit code (``None`` when it outlasted the timeout), output
    and error output."""
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), settings.timeout)
    except TimeoutError:
        return None, "", ""
    finally:
        if process.returncode is None:  # outlasted the timeout, or this run was cancelled
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await asyncio.shield(process.wait())
    return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def _environment(settings: UvSettings, variables: dict[str, str]) -> dict[str, str]:
    """This process's environment without uv's and pip's settings, with the mirror's own."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("UV_", "PIP_")) and key != "VIRTUAL_ENV"
    }
    env.update(
        {
            "UV_NO_CONFIG": "1",
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_NO_PROGRESS": "1",
            # The system's certificate authorities, as Cellar's own client trusts them.
            "UV_NATIVE_TLS": "1",
        }
    )
    # In the environment, not on the command line: an upstream's login would show in `ps`.
    env["UV_DEFAULT_INDEX"] = settings.index_url
    env.update(variables)
    if settings.proxy:
        env.update({"HTTP_PROXY": settings.proxy, "HTTPS_PROXY": settings.proxy})
        env.update({"http_proxy": settings.proxy, "https_proxy": settings.proxy})
    return env


def _parse(output: str) -> set[tuple[NormalizedName, Version]]:
    """Return the ``name==version`` pins of ``uv pip compile``'s output."""
    pins: set[tuple[NormalizedName, Version]] = set()
    for line in output.splitlines():
        text = line.split("#", 1)[0].strip()
        if not text or text.startswith("-"):
            continue
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        exact = [s for s in requirement.specifier if s.operator == "=="]
        if len(exact) == 1 and not exact[0].version.endswith(".*"):
            pins.add((canonicalize_name(requirement.name), Version(exact[0].version)))
    return pins
