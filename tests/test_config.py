"""Configuration: defaults, relative paths, and every problem named with its key and file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cellar.config.checks import ConfigError
from cellar.config.load import load_config
from cellar.config.location import config_path
from cellar.config.model import default_upstream


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cellar.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_config_gets_defaults_and_paths_relative_to_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[mirror]\ndirectory = "mirror"\n[packages]\nrequirements = ["requests", "Foo_Bar.baz>=1.0,<3"]\n',
    )
    config = load_config(path)
    assert config.mirror.directory == tmp_path / "mirror"
    assert config.mirror.web_root == tmp_path / "mirror" / "web"
    assert config.mirror.upstream == default_upstream()
    assert default_upstream().startswith("https://")
    assert [r.name for r in config.packages.requirements] == ["requests", "Foo_Bar.baz"]
    assert str(config.packages.requirements[1].specifier) == "<3,>=1.0"


def test_upstream_gets_a_trailing_slash(tmp_path: Path) -> None:
    path = write(tmp_path, '[mirror]\ndirectory = "m"\nupstream = "http://127.0.0.1:9000/simple"\n')
    assert load_config(path).mirror.upstream == "http://127.0.0.1:9000/simple/"


def test_every_problem_is_reported_with_its_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[mirror]\n"
        'directroy = "typo"\n'
        'upstream = "ftp://example.invalid/"\n'
        "workers = 0\n"
        'timeout = "soon"\n'
        "[packages]\n"
        'requirements = ["ok", "not a requirement!!", 3, "x @ https://example.invalid/x.whl"]\n'
        "[extra]\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    keys = sorted(problem.key for problem in caught.value.problems)
    assert keys == [
        "[extra]",
        "[mirror] directory",
        "[mirror] directroy",
        "[mirror] timeout",
        "[mirror] upstream",
        "[mirror] workers",
        "[packages] requirements[1]",
        "[packages] requirements[2]",
        "[packages] requirements[3]",
    ]
    message = str(caught.value)
    assert str(path) in message
    assert "unknown key" in message
    assert "missing (required)" in message
    assert "must be a number, not 'soon'" in message
    assert "direct URL" in message


def test_invalid_toml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[mirror\n")
    with pytest.raises(ConfigError, match=r"not valid TOML: .*line 1"):
        load_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")


def test_booleans_are_not_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, '[mirror]\ndirectory = "m"\nworkers = true\n')
    with pytest.raises(ConfigError, match=r"workers: must be a whole number, not True"):
        load_config(path)


def test_config_path_precedence() -> None:
    assert config_path("a.toml", {"CELLAR_CONFIG": "b.toml"}) == Path("a.toml")
    assert config_path(None, {"CELLAR_CONFIG": "b.toml"}) == Path("b.toml")
    assert config_path(None, {}) == Path("cellar.toml")


def test_closure_keys_targets_and_requirement_sources(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "# base\nrequests[socks]>=2 ; python_version >= '3.9'\n-c constraints.txt\n"
    )
    (tmp_path / "constraints.txt").write_text("urllib3<3\n")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\nversion = "1"\ndependencies = ["attrs"]\n'
    )
    path = write(
        tmp_path,
        '[mirror]\ndirectory = "m"\n'
        '[packages]\nrequirements = ["pandas"]\nrequirements-files = ["requirements.txt"]\n'
        'pyproject-files = ["pyproject.toml"]\nversions = 2\nsdists = "none"\ndependencies = false\n'
        '[targets]\npython = ["3.11", "3.12"]\nplatforms = ["linux", "windows"]\n',
    )
    config = load_config(path)
    assert [str(r) for r in config.packages.requirements] == [
        "pandas",
        'requests[socks]>=2; python_version >= "3.9"',
        "attrs",
    ]
    assert [str(r) for r in config.packages.constraints] == ["urllib3<3"]
    assert (config.packages.versions, config.packages.sdists, config.packages.dependencies) == (
        2,
        "none",
        False,
    )
    assert [t.name for t in config.targets] == [
        "cp311-manylinux_2_28_x86_64",
        "cp311-win_amd64",
        "cp312-manylinux_2_28_x86_64",
        "cp312-win_amd64",
    ]


def test_defaults_are_the_closure_for_the_running_interpreter(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[mirror]\ndirectory = "m"\n'))
    assert (config.packages.versions, config.packages.sdists, config.packages.dependencies) == (
        1,
        "needed",
        True,
    )
    (target,) = config.targets
    assert target.python.startswith(f"{sys.version_info.major}.{sys.version_info.minor}")


def test_closure_problems_are_named(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("ok\n-e ./local\n")
    path = write(
        tmp_path,
        '[mirror]\ndirectory = "m"\n'
        '[packages]\nrequirements-files = ["requirements.txt", "missing.txt"]\nversions = -1\nsdists = "some"\n'
        '[targets]\npython = ["3.11"]\nplatforms = ["amiga"]\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "[packages] requirements-files[0]" in message
    assert "requirements.txt:2" in message
    assert "[packages] requirements-files[1]" in message
    assert "[packages] versions: must be 0 (all) or more, not -1" in message
    assert '[packages] sdists: must be "all", "needed" or "none", not \'some\'' in message
    assert "[targets] platforms: 'amiga': not a platform Cellar can target" in message
