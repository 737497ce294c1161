"""Configuration: defaults, relative paths, and every problem named with its key and file."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellar.config import (
    DEFAULT_UPSTREAM,
    ConfigError,
    config_path,
    load_config,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cellar.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_config_gets_defaults_and_paths_relative_to_the_file(tmp_path):
    path = write(
        tmp_path,
        '[mirror]\ndirectory = "mirror"\n[packages]\nrequirements = ["requests", "Foo_Bar.baz>=1.0,<3"]\n',
    )
    config = load_config(path)
    assert config.mirror.directory == tmp_path / "mirror"
    assert config.mirror.web_root == tmp_path / "mirror" / "web"
    assert config.mirror.upstream == DEFAULT_UPSTREAM
    assert DEFAULT_UPSTREAM.startswith("https://")
    assert [r.name for r in config.packages.requirements] == ["requests", "Foo_Bar.baz"]
    assert str(config.packages.requirements[1].specifier) == "<3,>=1.0"


def test_upstream_gets_a_trailing_slash(tmp_path):
    path = write(tmp_path, '[mirror]\ndirectory = "m"\nupstream = "http://127.0.0.1:9000/simple"\n')
    assert load_config(path).mirror.upstream == "http://127.0.0.1:9000/simple/"


def test_every_problem_is_reported_with_its_key(tmp_path):
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


def test_invalid_toml_names_the_file_and_line(tmp_path):
    path = write(tmp_path, "[mirror\n")
    with pytest.raises(ConfigError, match=r"not valid TOML: .*line 1"):
        load_config(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")


def test_booleans_are_not_numbers(tmp_path):
    path = write(tmp_path, '[mirror]\ndirectory = "m"\nworkers = true\n')
    with pytest.raises(ConfigError, match=r"workers: must be a whole number, not True"):
        load_config(path)


def test_config_path_precedence():
    assert config_path("a.toml", {"CELLAR_CONFIG": "b.toml"}) == Path("a.toml")
    assert config_path(None, {"CELLAR_CONFIG": "b.toml"}) == Path("b.toml")
    assert config_path(None, {}) == Path("cellar.toml")
