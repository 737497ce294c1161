"""uv's pins in the closure: where uv and pip choose different valid versions (a graph that
backtracks, a Requires-Python upper bound uv ignores), what uv locks against the upstream must
install from the mirror too.

The local upstream holds a graph on which pip (resolvelib) and uv (PubGrub) both backtrack and
land on different solutions, and a project whose newest release caps Requires-Python below the
target's Python. A mirror planned with pip's pins alone lacks some of uv's (the test shows it);
one planned with both (the default when uv is installed) gives uv against the mirror exactly
the pins uv gives against the upstream, on every target, and installs them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cellar.cli import main
from cellar.config.load import load_config
from cellar.sync import plan as plan_module
from cellar.sync.plan import UvMissingError, uv_settings
from tests.support.installers import INSTALL_TIMEOUT, clean_env, find_uv, uv_install, uv_venv
from tests.support.mirror import assert_consistent, cellar_serve, run_cli, write_config
from tests.support.packages import build_backend_wheel, build_sdist, build_wheel
from tests.support.upstream import LocalIndex

pytestmark = pytest.mark.slow

#: Found by trying random graphs with both resolvers: for q, r, p pip takes p 3.0 and r 2.0,
#: uv takes p 2.0 and r 3.0; both are valid.
GRAPH = {
    ("p", "1.0"): ["q>=2"],
    ("p", "2.0"): ["q>=3", "s<2"],
    ("p", "3.0"): ["q==3", "r==2", "t==3"],
    ("q", "1.0"): [],
    ("q", "2.0"): ["r<3"],
    ("q", "3.0"): ["s<2", "t>=2"],
    ("r", "1.0"): ["s>=2", "t==2"],
    ("r", "2.0"): [],
    ("r", "3.0"): ["t==3"],
    ("s", "1.0"): [],
    ("s", "2.0"): ["t==3"],
    ("s", "3.0"): [],
    ("t", "1.0"): [],
    ("t", "2.0"): [],
    ("t", "3.0"): [],
}
REQUIREMENTS = ["q", "r", "p", "capped"]
TARGETS = [
    ("3.12", "manylinux_2_28_x86_64", "x86_64-manylinux_2_28"),
    ("3.12", "win_amd64", "x86_64-pc-windows-msvc"),
]


def uv_compile(index_url: str, python: str, platform: str, tmp_path: Path) -> dict[str, str]:
    """Return what `uv pip compile` pins for REQUIREMENTS on a target from ``index_url``."""
    source = tmp_path / "requirements.in"
    source.write_text("\n".join(REQUIREMENTS) + "\n", encoding="utf-8")
    result = subprocess.run(
        [
            *(str(find_uv()), "pip", "compile", "--no-config", "--quiet", "--no-header"),
            *("--no-annotate", "--no-cache", "--python-version", python),
            *("--python-platform", platform, "--default-index", index_url, str(source)),
        ],
        capture_output=True,
        text=True,
        check=False,
        env=clean_env(tmp_path / "uv-env"),
        cwd=tmp_path,
        timeout=INSTALL_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    return dict(line.split("==") for line in result.stdout.split() if "==" in line)


@pytest.fixture(scope="module")
def upstream() -> Iterator[LocalIndex]:
    with LocalIndex() as index:
        for (name, version), requires in GRAPH.items():
            index.add(build_wheel(name, version, requires_dist=requires))
        index.add(build_wheel("capped", "1.0"))
        index.add(build_wheel("capped", "2.0", requires_python=">=3.8,<3.12"))
        yield index


def mirror(root: Path, index: LocalIndex, resolvers: str) -> Path:
    config = write_config(root, index.url, REQUIREMENTS, extra_packages=resolvers)
    with config.open("a", encoding="utf-8") as stream:
        stream.write('[targets]\npython = ["3.12"]\nplatforms = ["linux", "windows"]\n')
    assert main(["mirror", "-c", str(config)]) == 0
    assert_consistent(root / "mirror" / "web")
    return config


def test_pips_pins_alone_miss_what_uv_locks(upstream: LocalIndex, tmp_path: Path) -> None:
    """Without uv's pins the mirror gives uv other versions than the upstream does."""
    config = mirror(tmp_path, upstream, 'resolvers = ["pip"]')
    python, _, uv_platform = TARGETS[0]
    expected = uv_compile(upstream.url, python, uv_platform, tmp_path)
    assert expected["p"] == "2.0" and expected["r"] == "3.0" and expected["capped"] == "2.0"
    with cellar_serve(config) as base:
        assert uv_compile(f"{base}simple/", python, uv_platform, tmp_path) != expected


def test_with_uvs_pins_uv_gets_from_the_mirror_what_it_locks_upstream(
    upstream: LocalIndex,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = mirror(tmp_path, upstream, "")  # the default: pip's and, uv being here, uv's
    with cellar_serve(config) as base:
        for python, _, uv_platform in TARGETS:
            expected = uv_compile(upstream.url, python, uv_platform, tmp_path)
            assert uv_compile(f"{base}simple/", python, uv_platform, tmp_path) == expected
        # ... and the pins uv locked against the upstream install from the mirror.
        env = clean_env(tmp_path / "installer")
        venv = uv_venv(tmp_path / "venv", env=env)
        pinned = [f"{name}=={version}" for name, version in expected.items()]
        installed = uv_install(venv, f"{base}simple/", *pinned, env=env)
        assert installed.returncode == 0, installed.stderr
    capsys.readouterr()
    assert main(["why", "-c", str(config), "capped"]) == 0
    out = capsys.readouterr().out
    assert "cp312-win_amd64:\n  capped\n  capped==1.0\n  uv's resolution: capped 2.0\n" in out
    assert main(["plan", "-c", str(config), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    for target in plan["targets"].values():
        assert target["projects"]["p"] == ["2.0", "3.0"]  # uv's and pip's
        assert target["projects"]["capped"] == ["1.0", "2.0"]
    # uv's cache is the mirror's, not the user's.
    assert (tmp_path / "mirror" / ".cellar" / "uv-cache").is_dir()


def test_a_set_uv_cannot_resolve_is_a_warning_not_a_failure_of_its_own(
    upstream: LocalIndex,
    tmp_path: Path,
) -> None:
    """uv failing on a set (here a project the index does not have; also what uv could only
    learn by building, which it never does here) is said once; pip's closure decides the
    exit code."""
    config = write_config(tmp_path, upstream.url, ["q", "nonesuch-project"])
    with config.open("a", encoding="utf-8") as stream:
        stream.write('[targets]\npython = ["3.12"]\nplatforms = ["linux"]\n')
    result = subprocess.run(
        [sys.executable, "-m", "cellar", "plan", "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=INSTALL_TIMEOUT,
    )
    assert result.returncode == 1  # nonesuch-project fails pip's resolution, as before
    assert "cp312-manylinux_2_28_x86_64: uv could not resolve the requirements together" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


def test_uv_asked_for_and_missing_is_a_clear_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A machine without uv: the uv package is installed in the test environment, so its
    # absence is imitated by replacing the finder (the one thing mocked here).
    monkeypatch.setattr(plan_module, "find_uv", lambda: None)
    config = write_config(tmp_path, "http://127.0.0.1:9/simple/", ["q"])
    with config.open("a", encoding="utf-8") as stream:
        stream.write('resolvers = ["pip", "uv"]\n[targets]\npython = ["3.12"]\n')
    with pytest.raises(UvMissingError) as caught:
        uv_settings(load_config(config))
    assert "pip install 'cellar[uv]'" in str(caught.value)
    # Not asked for by name: pip's pins alone, said once.
    config.write_text(config.read_text().replace('resolvers = ["pip", "uv"]\n', ""))
    assert uv_settings(load_config(config)) is None


def test_resolvers_must_include_pip(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, "http://127.0.0.1:9/simple/", ["q"], extra_packages='resolvers = ["uv"]'
    )
    result = subprocess.run(
        [sys.executable, "-m", "cellar", "plan", "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert '[packages] resolvers: must be ["pip"] or ["pip", "uv"]' in result.stderr


def test_uvs_answers_are_reused_until_a_page_they_rest_on_changes(tmp_path: Path) -> None:
    def uv_requests(index: LocalIndex) -> int:
        return sum(1 for r in index.requests if r.headers.get("User-Agent", "").startswith("uv/"))

    with LocalIndex() as index:
        index.add(build_wheel("capped", "1.0"))
        index.add(build_wheel("capped", "2.0", requires_python=">=3.8,<3.12"))
        index.add(build_wheel("other", "1.0"))
        config = write_config(tmp_path, index.url, ["capped", "other"])
        with config.open("a", encoding="utf-8") as stream:
            stream.write('[targets]\npython = ["3.12"]\nplatforms = ["linux"]\n')
        assert main(["plan", "-c", str(config)]) == 0
        assert uv_requests(index) > 0
        index.reset_log()
        assert main(["plan", "-c", str(config)]) == 0
        assert uv_requests(index) == 0  # three sets, all remembered, none asked
        # A new release of capped changes the page two sets rest on: those are asked again.
        index.add(build_wheel("capped", "3.0", requires_python=">=3.8,<3.12"))
        index.reset_log()
        plan = run_cli("plan", "-c", str(config), "--json")
        assert plan.returncode == 0, plan.stderr
        assert uv_requests(index) > 0
        assert "uv's pins for 1 set reused" in plan.stderr  # `other` alone rests on its own page
        (target,) = json.loads(plan.stdout)["targets"].values()
        assert target["projects"]["capped"] == ["1.0", "3.0"]  # pip's, and uv's new one


def test_uv_builds_nothing_unless_allowed(tmp_path: Path) -> None:
    """An sdist-only dependency: uv would have to build it, which it does not do by default
    (nothing from the upstream runs); the warning says so and pip's closure is whole. With
    [packages] uv-builds, uv resolves the set."""
    with LocalIndex() as index:
        index.add(build_backend_wheel())
        index.add(
            build_sdist(
                "from-source", "1.0", build_requires=["tinybackend"], build_backend="tinybackend"
            )
        )
        index.add(build_wheel("top", "1.0", requires_dist=["from-source"]))
        config = write_config(tmp_path, index.url, ["top"])
        with config.open("a", encoding="utf-8") as stream:
            stream.write('[targets]\npython = ["3.12"]\nplatforms = ["linux"]\n')
        default = run_cli("plan", "-c", str(config))
        assert default.returncode == 0, default.stderr
        assert (
            "cp312-manylinux_2_28_x86_64: uv could not resolve the requirements together, "
            "so pip's pins alone: it would have to build from-source"
        ) in default.stderr
        assert "uv-builds = true" in default.stderr
        # The failure is remembered with the pages of the target's closure: a re-run asks
        # uv nothing and says the same.
        index.reset_log()
        again = run_cli("plan", "-c", str(config))
        assert "it would have to build from-source" in again.stderr
        assert not any("uv/" in r.headers.get("User-Agent", "") for r in index.requests)
        allowed = config.read_text().replace("[packages]\n", "[packages]\nuv-builds = true\n")
        config.write_text(allowed)
        built = run_cli("plan", "-c", str(config))
        assert built.returncode == 0, built.stderr
        assert "uv could not resolve" not in built.stderr


def test_a_uv_pin_the_licence_policy_refuses_is_not_taken(tmp_path: Path) -> None:
    """uv pins r 3.0 where pip takes r 2.0; with r 3.0 under a licence the policy denies, the
    mirror takes pip's pins for r and never r 3.0 (whose metadata pip never had to read)."""
    with LocalIndex() as index:
        for (name, version), requires in GRAPH.items():
            licence = "AGPL-3.0-only" if (name, version) == ("r", "3.0") else "MIT"
            index.add(build_wheel(name, version, requires_dist=requires, licence=licence))
        index.add(build_wheel("capped", "1.0"))
        for policy, wanted in (
            ("", True),
            ('[policy]\nlicences-deny = ["AGPL-3.0-only"]\n', False),
        ):
            root = tmp_path / ("denied" if policy else "open")
            root.mkdir()
            config = write_config(root, index.url, REQUIREMENTS, extra_packages=policy and "")
            with config.open("a", encoding="utf-8") as stream:
                stream.write('[targets]\npython = ["3.12"]\nplatforms = ["linux"]\n' + policy)
            assert main(["mirror", "-c", str(config)]) == 0
            web = root / "mirror" / "web"
            assert bool(list(web.rglob("r-3.0-*.whl"))) is wanted
            assert list(web.rglob("r-2.0-*.whl"))  # pip's pin, either way
