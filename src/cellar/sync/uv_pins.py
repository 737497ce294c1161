"""uv's pins for each target: ``uv pip compile`` run against the upstream for what a plan
resolves, so the mirror holds what a team that locks with uv outside will install inside.

uv and pip may pick different, equally valid versions where a resolution backtracks, and uv
ignores the upper bounds of Requires-Python where pip does not; the closure is pip's, and these
pins are added to it (``cellar.select.closure.take_pins``). uv never builds a distribution here
(``--no-build``): nothing the upstream serves is run. It reads no configuration of the machine's,
keeps its cache in the mirror's ``.cellar/uv-cache``, and goes through the configured proxy.
A set uv cannot resolve is a note, not a failure: pip's closure of it is whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

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
#: The most of uv's complaint a note quotes.
_ERROR_CHARS = 600


@dataclass(frozen=True, slots=True)
class UvSettings:
    """How to run uv: the binary, the upstream, the cache, the proxy and the closure's rules."""

    uv: Path
    index_url: str
    cache_dir: Path
    proxy: str | None = None
    prereleases: bool = False
    constraints: tuple[Requirement, ...] = ()
    #: uv processes at once, over all targets.
    concurrency: int = 2
    #: Seconds one ``uv pip compile`` may take.
    timeout: float = 1800.0


@dataclass(slots=True)
class UvPins:
    """What uv chose for one target over every set it resolved, and what it could not."""

    pins: set[tuple[NormalizedName, Version]] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


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
) -> UvPins:
    """Return uv's pins for ``target`` over every input (at most ``limit`` uv processes run)."""
    found = UvPins()
    platform = uv_platform(target)
    if platform is None:
        found.notes.append(f"uv has no platform for {target.name}: its pins are pip's alone")
        return found
    outcomes = await asyncio.gather(
        *(_compile(settings, target, platform, (label, listed), limit) for label, listed in inputs)
    )
    for pins, note in outcomes:
        found.pins.update(pins)
        if note:
            found.notes.append(note)
    return found


async def _compile(
    settings: UvSettings,
    target: TargetEnvironment,
    platform: tuple[str, dict[str, str]],
    wanted: tuple[str, tuple[Requirement, ...]],
    limit: asyncio.Semaphore,
) -> tuple[set[tuple[NormalizedName, Version]], str | None]:
    """Run one ``uv pip compile`` of ``wanted`` (a label and its requirements); return its
    pins, or none and a note saying why."""
    python_platform, variables = platform
    label, requirements = wanted
    with tempfile.TemporaryDirectory(prefix="cellar-uv-") as scratch:
        listed = Path(scratch) / "requirements.in"
        listed.write_text("".join(f"{r}\n" for r in requirements), encoding="utf-8")
        command = [
            str(settings.uv),
            *("pip", "compile", str(listed), "--no-config", "--no-build", "--quiet"),
            *("--no-header", "--no-annotate", "--python", sys.executable),
            *("--python-version", str(target.python_full_version)),
            *("--python-platform", python_platform),
            *("--default-index", settings.index_url),
            *("--cache-dir", str(settings.cache_dir)),
        ]
        if settings.prereleases:
            command += ["--prerelease", "allow"]
        if settings.constraints:
            constraints = Path(scratch) / "constraints.txt"
            constraints.write_text("".join(f"{c}\n" for c in settings.constraints), "utf-8")
            command += ["--constraint", str(constraints)]
        async with limit:
            code, out, err = await _run(command, _environment(settings, variables), settings)
    if code is None:
        return set(), f"uv did not resolve {label} for {target.name} in {settings.timeout:.0f} s"
    if code != 0:
        reason = " ".join(err.split())[-_ERROR_CHARS:] or f"exit code {code}"
        return set(), f"uv could not resolve {label} for {target.name}: {reason}"
    return _parse(out), None


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
