"""Target environments: marker environments, wheel tags checked against the host and pip itself."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from packaging.markers import Marker, default_environment
from packaging.tags import Tag, sys_tags

from cellar.errors import CellarError
from cellar.select.targets import (
    PLATFORM_ALIASES,
    InvalidTargetError,
    TargetEnvironment,
    expand_platform,
    host_target,
    targets_for,
)

LEGACY = ("manylinux1_", "manylinux2010_", "manylinux2014_")


def test_linux_marker_environment() -> None:
    env = TargetEnvironment("3.11", "manylinux_2_28_aarch64").markers()
    assert env == {
        "implementation_name": "cpython",
        "implementation_version": "3.11.0",
        "os_name": "posix",
        "platform_machine": "aarch64",
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": "3.11.0",
        "python_version": "3.11",
        "sys_platform": "linux",
    }
    assert set(env) == set(default_environment())


@pytest.mark.parametrize(
    ("platform", "machine"),
    [("win_amd64", "AMD64"), ("win_arm64", "ARM64"), ("win32", "x86")],
)
def test_windows_marker_environment(platform: str, machine: str) -> None:
    env = TargetEnvironment("3.12.4", platform).markers()
    assert env["sys_platform"] == "win32"
    assert env["platform_system"] == "Windows"
    assert env["os_name"] == "nt"
    assert env["platform_machine"] == machine
    assert env["python_full_version"] == env["implementation_version"] == "3.12.4"
    assert env["python_version"] == "3.12"


def test_macos_and_pypy_marker_environments() -> None:
    mac = TargetEnvironment("3.13", "macosx_14_0_arm64").markers()
    assert (mac["sys_platform"], mac["platform_system"], mac["platform_machine"]) == (
        "darwin",
        "Darwin",
        "arm64",
    )
    assert TargetEnvironment("3.10", "macosx_11_0_x86_64").markers()["platform_machine"] == "x86_64"
    pypy = TargetEnvironment("3.10", "manylinux_2_28_x86_64", "pypy").markers()
    assert pypy["implementation_name"] == "pypy"
    assert pypy["platform_python_implementation"] == "PyPy"
    assert pypy["python_full_version"] == "3.10.0"


def test_markers_evaluate_per_target() -> None:
    marker = Marker("sys_platform == 'win32' and python_version < '3.12'")
    assert marker.evaluate(TargetEnvironment("3.11", "win_amd64").markers())
    assert not marker.evaluate(TargetEnvironment("3.12", "win_amd64").markers())
    assert not marker.evaluate(TargetEnvironment("3.11", "manylinux_2_28_x86_64").markers())
    extra = Marker("extra == 'socks' and platform_machine == 'arm64'")
    env = TargetEnvironment("3.11", "macosx_14_0_arm64").markers()
    assert extra.evaluate({**env, "extra": "socks"})
    # python_full_version follows pip: "3.11" is 3.11.0, so a patch-level floor excludes it.
    assert not Marker("python_full_version >= '3.11.2'").evaluate(env)
    assert Marker("python_full_version >= '3.11.2'").evaluate(
        TargetEnvironment("3.11.7", "macosx_14_0_arm64").markers()
    )


def test_host_target_matches_the_running_interpreter() -> None:
    host = host_target()
    assert list(host.tags) == list(sys_tags())
    assert host.python == "{}.{}.{}".format(*sys.version_info[:3])
    real = default_environment()
    # platform_release and platform_version name a kernel build, which targets leave empty.
    for key in set(real) - {"platform_release", "platform_version"}:
        assert host.markers()[key] == real[key], key  # type: ignore[literal-required]


def test_names_and_full_versions() -> None:
    assert TargetEnvironment("3.11", "manylinux_2_28_x86_64").name == "cp311-manylinux_2_28_x86_64"
    assert TargetEnvironment("3.11.7", "win_amd64").name == "cp3.11.7-win_amd64"
    assert TargetEnvironment("3.10", "win_amd64", "pypy").name == "pp310-win_amd64"
    assert str(TargetEnvironment("3.9", "win32").python_full_version) == "3.9.0"


def test_manylinux_accepts_every_older_glibc_and_the_legacy_names() -> None:
    tags = TargetEnvironment("3.12", "manylinux_2_28_x86_64").tags
    platforms = [p for p in dict.fromkeys(t.platform for t in tags) if p != "any"]
    assert platforms[:3] == ["linux_x86_64", "manylinux_2_28_x86_64", "manylinux_2_27_x86_64"]
    assert platforms[-2:] == ["manylinux_2_5_x86_64", "manylinux1_x86_64"]
    assert platforms.index("manylinux2014_x86_64") == platforms.index("manylinux_2_17_x86_64") + 1
    assert platforms.index("manylinux2010_x86_64") == platforms.index("manylinux_2_12_x86_64") + 1
    assert len(platforms) == 1 + (28 - 5 + 1) + 3
    # Outside x86, manylinux starts at glibc 2.17 (PEP 599).
    arm = {t.platform for t in TargetEnvironment("3.12", "manylinux_2_28_aarch64").tags}
    assert "manylinux2014_aarch64" in arm
    assert "manylinux_2_16_aarch64" not in arm
    tags = TargetEnvironment("3.12", "musllinux_1_2_x86_64").tags
    musl = [p for p in dict.fromkeys(t.platform for t in tags) if p != "any"]
    assert musl == [
        "linux_x86_64",
        "musllinux_1_2_x86_64",
        "musllinux_1_1_x86_64",
        "musllinux_1_0_x86_64",
    ]


def test_wheel_rank_orders_wheels_as_an_installer_prefers_them() -> None:
    target = TargetEnvironment("3.12", "manylinux_2_28_x86_64")
    specific = target.wheel_rank(
        "numpy-2.1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    )
    abi3 = target.wheel_rank("cryptography-43.0.0-cp39-abi3-manylinux_2_28_x86_64.whl")
    pure = target.wheel_rank("six-1.16.0-py2.py3-none-any.whl")
    assert specific is not None and abi3 is not None and pure is not None
    assert specific < abi3 < pure
    assert target.tags[pure] == Tag("py3", "none", "any")
    assert target.wheel_rank("numpy-2.1.0-cp312-cp312-manylinux_2_34_x86_64.whl") is None
    assert target.wheel_rank("numpy-2.1.0-cp312-cp312-win_amd64.whl") is None
    assert target.wheel_rank("numpy-2.1.0-cp311-cp311-manylinux_2_17_x86_64.whl") is None
    assert target.wheel_rank("numpy-2.1.0.tar.gz") is None
    assert target.wheel_rank("not a wheel.whl") is None
    assert target.wheel_rank("numpy-not.a.version-py3-none-any.whl") is None
    mac = TargetEnvironment("3.12", "macosx_14_0_arm64")
    assert mac.wheel_rank("numpy-2.1.0-cp312-cp312-macosx_11_0_arm64.whl") is not None
    assert mac.wheel_rank("numpy-2.1.0-cp312-cp312-macosx_10_9_universal2.whl") is not None
    assert mac.wheel_rank("numpy-2.1.0-cp312-cp312-macosx_10_9_x86_64.whl") is None


def test_aliases_expand_and_tags_pass_through() -> None:
    assert expand_platform("linux") == ("manylinux_2_28_x86_64",)
    assert expand_platform("Linux-AArch64") == ("manylinux_2_28_aarch64",)
    assert expand_platform("alpine") == ("musllinux_1_2_x86_64",)
    assert expand_platform("windows") == expand_platform("win") == ("win_amd64",)
    assert expand_platform("windows-x86") == ("win32",)
    assert expand_platform("macos") == ("macosx_11_0_arm64", "macosx_11_0_x86_64")
    assert expand_platform("manylinux2014_x86_64") == ("manylinux_2_17_x86_64",)
    for tag in ("win32", "macosx_14_0_arm64", "musllinux_1_1_aarch64", "linux_x86_64"):
        assert expand_platform(tag) == (tag,)
    for tags in PLATFORM_ALIASES.values():
        for tag in tags:
            assert expand_platform(tag) == (tag,)


@pytest.mark.parametrize(
    "platform",
    [
        "freebsd",
        "manylinux_2_28_sparc",
        "manylinux_2_4_x86_64",
        "manylinux_2_16_aarch64",
        "macosx_10_15_arm64",
        "macosx_14_0_universal2",
        "win_ia64",
        "",
    ],
)
def test_unknown_platforms_are_named_with_the_aliases(platform: str) -> None:
    with pytest.raises(InvalidTargetError) as caught:
        expand_platform(platform)
    assert repr(platform) in str(caught.value)
    assert "linux-aarch64" in str(caught.value)
    assert isinstance(caught.value, CellarError)


def test_targets_for_is_the_deduplicated_cross_product() -> None:
    targets = targets_for(["3.11", "3.12"], ["linux", "manylinux_2_28_x86_64", "macos"])
    assert [t.name for t in targets] == [
        "cp311-manylinux_2_28_x86_64",
        "cp311-macosx_11_0_arm64",
        "cp311-macosx_11_0_x86_64",
        "cp312-manylinux_2_28_x86_64",
        "cp312-macosx_11_0_arm64",
        "cp312-macosx_11_0_x86_64",
    ]
    assert targets_for(["3.10"], ["win"], "pp")[0].implementation == "pypy"


@pytest.mark.parametrize(
    ("pythons", "platforms", "implementation", "bad"),
    [
        (["3.7"], ["linux"], "cpython", "3.7"),
        (["311"], ["linux"], "cpython", "311"),
        (["3.08"], ["linux"], "cpython", "3.08"),
        (["3.11", "2.7"], ["linux"], "cpython", "2.7"),
        (["3.11.x"], ["linux"], "cpython", "3.11.x"),
        (["3.11"], ["linux", "solaris"], "cpython", "solaris"),
        (["3.11"], ["linux"], "jython", "jython"),
    ],
)
def test_targets_for_names_the_bad_value(
    pythons: list[str], platforms: list[str], implementation: str, bad: str
) -> None:
    with pytest.raises(InvalidTargetError) as caught:
        targets_for(pythons, platforms, implementation)
    assert caught.value.value == bad
    assert repr(bad) in str(caught.value)


# -- pip's own view -----------------------------------------------------------------------------
# Each case: (python, platform, implementation). pip's --platform expands macOS tags the way a
# Mac does, but takes a Linux tag literally (only manylinux2014/2010 grow their older aliases),
# so for Linux targets pip is given our whole platform list, without the legacy aliases (pip
# would pull manylinux2010/manylinux1 up behind manylinux2014); the host test above checks the
# Linux platform list itself against packaging on this machine.
PIP_CASES = [
    ("3.11", "manylinux_2_28_x86_64", "cpython"),
    ("3.9", "musllinux_1_2_aarch64", "cpython"),
    ("3.12", "macosx_14_0_arm64", "cpython"),
    ("3.10", "macosx_11_0_x86_64", "cpython"),
    ("3.13", "win_amd64", "cpython"),
    ("3.8", "win32", "cpython"),
    ("3.10", "manylinux_2_17_aarch64", "pypy"),
]


def _pip_debug_command(python: str, platform: str, implementation: str) -> list[str]:
    target = TargetEnvironment(python, platform, implementation)
    if platform.startswith(("manylinux", "musllinux")):
        platforms = [
            t
            for t in dict.fromkeys(t.platform for t in target.tags)
            if not t.startswith(LEGACY) and t != "any"
        ]
    else:
        platforms = [platform]
    nodot = python.replace(".", "")
    abi = f"cp{nodot}" if implementation == "cpython" else f"pypy{nodot}_pp73"
    command = [sys.executable, "-m", "pip", "debug", "--verbose", "--python-version", python]
    command += ["--implementation", implementation[0] + "p", "--abi", abi]
    for each in platforms:
        command += ["--platform", each]
    return command


@pytest.fixture(scope="module")
def pip_tags() -> dict[tuple[str, str, str], list[Tag]]:
    """Ask pip (running all cases at once) which tags each target accepts."""
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    processes = {
        case: subprocess.Popen(
            _pip_debug_command(*case),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for case in PIP_CASES
    }
    found = {}
    for case, process in processes.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        section = out.split("Compatible tags:", 1)[1].splitlines()[1:]
        found[case] = [Tag(*line.strip().split("-")) for line in section if line.startswith("  ")]
    return found


@pytest.mark.parametrize("case", PIP_CASES, ids="-".join)
def test_tags_match_pip(
    case: tuple[str, str, str], pip_tags: dict[tuple[str, str, str], list[Tag]]
) -> None:
    python, platform, implementation = case
    ours = list(TargetEnvironment(python, platform, implementation).tags)
    theirs = pip_tags[case]
    if implementation == "pypy":
        # pip's --implementation pp accepts pp310-none-any; a real PyPy (packaging's sys_tags)
        # accepts pp3-none-any instead. We follow the real interpreter.
        assert Tag("pp310", "none", "any") in theirs
        theirs = [
            Tag("pp3", "none", "any") if t == Tag("pp310", "none", "any") else t for t in theirs
        ]
    if platform.startswith("manylinux"):
        ours = [t for t in ours if not t.platform.startswith(LEGACY)]
    assert len(theirs) > 20  # the section was found and parsed
    assert ours == theirs
