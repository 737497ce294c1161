"""``cellar config convert``: the TOML it writes loads back into the same Config; and the TOML
``[filters]``, ``[targets] all`` and bandersnatch-layout ``[mirror]`` keys it relies on."""

from __future__ import annotations

import dataclasses
import shutil
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from cellar.bandersnatch.convert import convert_command, to_toml
from cellar.config.checks import ConfigError
from cellar.config.load import load_config, read_config
from cellar.filters import Filters

DATA = Path(__file__).parent / "data" / "bandersnatch"
CONFS = sorted(path.name for path in DATA.glob("*.conf"))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    shutil.copytree(DATA, tmp_path / "data")
    return tmp_path / "data"


@pytest.mark.parametrize("name", CONFS)
def test_converted_toml_loads_back_into_the_same_config(
    data: Path, tmp_path: Path, name: str
) -> None:
    source = data / name
    original = load_config(source)
    text, code = convert_command(source)
    assert code == 0
    assert tomllib.loads(text)  # valid TOML
    converted = tmp_path / "elsewhere" / "cellar.toml"
    converted.parent.mkdir()
    converted.write_text(text, encoding="utf-8")
    again = load_config(converted)
    assert again == dataclasses.replace(original, source=converted)


def test_warnings_become_comments(data: Path) -> None:
    text, code = convert_command(data / "ignored.conf")
    assert code == 0
    comments = [line for line in text.splitlines() if line.startswith("#   ")]
    assert len(comments) == 18  # proxy is carried over as [mirror] proxy, not a comment
    assert "\nproxy = 'http://127.0.0.1:3128'\n" in text
    assert any("[mirror] root_uri: 'https://127.0.0.1:8443/': ignored" in line for line in comments)
    assert "[targets]\n# every file of the chosen releases" in text
    assert "\nall = true\n" in text


def test_filters_toml(data: Path) -> None:
    text, _ = convert_command(data / "filters.conf")
    table = tomllib.loads(text)
    assert table["filters"]["release-patterns"] == [r".+alpha\d$", r"^0\."]
    assert table["filters"]["max-project-size"] == 1 << 30
    assert table["mirror"]["json-api"] is True
    assert table["mirror"]["diff-file"] == "/srv/pypi/mirrored-files"


def test_convert_of_an_unusable_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bandersnatch.conf"
    path.write_text("[mirror]\ndirectory = m\n", encoding="utf-8")
    text, code = convert_command(path)
    assert code == 2
    assert str(path) in text
    assert "Cellar mirrors named projects only" in text


def test_strings_that_need_escapes_survive(tmp_path: Path) -> None:
    config, _ = read_config(DATA / "allowlist.conf")
    odd = dataclasses.replace(
        config, filters=Filters(project_patterns=(r"it's\d", "tab\there", '"quoted"'))
    )
    path = tmp_path / "cellar.toml"
    path.write_text(to_toml(odd), encoding="utf-8")
    assert load_config(path).filters.project_patterns == odd.filters.project_patterns


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cellar.toml"
    path.write_text('[mirror]\ndirectory = "m"\n' + text, encoding="utf-8")
    return path


def test_toml_filters_table(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[packages]\nrequirements = ["alpha", "Evil_Thing", "x-evil"]\ndependencies = false\n'
        "[targets]\nall = true\n"
        "[filters]\n"
        'block-projects = ["evil.thing"]\n'
        "project-patterns = ['.+-evil$']\n"
        'allow-releases = ["alpha>=1"]\n'
        'latest = 2\nlatest-by = "time"\n'
        'exclude-platforms = ["windows", "py3.12"]\n'
        'max-project-size = "500M"\n'
        'size-exempt = ["Alpha"]\n'
        "drop-prereleases = true\n",
    )
    config = load_config(path)
    assert [r.name for r in config.packages.requirements] == ["alpha"]
    filters = config.filters
    assert filters.allow_releases == (Requirement("alpha>=1"),)
    assert (filters.latest, filters.latest_by) == (2, "time")
    assert filters.max_project_size == 500 << 20
    assert filters.size_exempt == {"alpha"}
    assert config.targets == ()


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        (
            "[filters]\nproject-patterns = ['(']\n",
            "[filters] project-patterns",
            "is not a regular expression",
        ),
        (
            "[filters]\nexclude-platforms = ['beos']\n",
            "[filters] exclude-platforms",
            "'beos' is not a platform",
        ),
        ("[filters]\nmax-project-size = 'lots'\n", "[filters] max-project-size", "is not a size"),
        (
            "[filters]\nmax-project-size = -1\n",
            "[filters] max-project-size",
            "must be 0 (no limit) or more",
        ),
        ("[filters]\nlatest = -1\n", "[filters] latest", "must be 0 (all) or more"),
        ("[filters]\nlatest-by = 'size'\n", "[filters] latest-by", 'must be "version" or "time"'),
        (
            "[filters]\nblock-projects = [1]\n",
            "[filters] block-projects",
            "must be a list of strings",
        ),
        (
            "[filters]\nblock-releases = ['x @ https://127.0.0.1/x.whl']\n",
            "[filters] block-releases",
            "names a URL",
        ),
        (
            "[filters]\nallow-releases = ['x>>1']\n",
            "[filters] allow-releases",
            "is not a requirement",
        ),
        ("[filters]\nunknown = 1\n", "[filters] unknown", "unknown key"),
        ("[targets]\nall = true\n", "[targets] all", "needs [packages] dependencies = false"),
        (
            "[packages]\ndependencies = false\n[targets]\nall = true\npython = ['3.12']\n",
            "[targets] all",
            "remove python",
        ),
    ],
)
def test_toml_filter_problems(tmp_path: Path, text: str, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    problems = {problem.key: problem.message for problem in caught.value.problems}
    assert key in problems, problems
    assert message in problems[key]


def test_toml_mirror_layout_key_problems(tmp_path: Path) -> None:
    path = tmp_path / "cellar.toml"
    path.write_text(
        '[mirror]\ndirectory = "m"\njson-api = "yes"\ndiff-file = ""\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    problems = {problem.key: problem.message for problem in caught.value.problems}
    assert problems["[mirror] json-api"] == "must be true or false, not 'yes'"
    assert problems["[mirror] diff-file"] == "must not be empty"


def test_toml_mirror_layout_keys(tmp_path: Path) -> None:
    path = tmp_path / "cellar.toml"
    path.write_text(
        '[mirror]\ndirectory = "m"\njson-api = true\ndiff-file = "diffs/new"\n'
        "diff-append-epoch = true\nstop-on-error = true\nprune = true\n",
        encoding="utf-8",
    )
    mirror = load_config(path).mirror
    assert mirror.json_api and mirror.diff_append_epoch and mirror.stop_on_error and mirror.prune
    assert not mirror.hash_index
    assert mirror.diff_file == tmp_path / "diffs" / "new"


def test_hash_index_is_read_from_both_formats(tmp_path: Path) -> None:
    path = tmp_path / "cellar.toml"
    path.write_text('[mirror]\ndirectory = "m"\nhash-index = true\n', encoding="utf-8")
    assert load_config(path).mirror.hash_index
    conf = tmp_path / "bandersnatch.conf"
    conf.write_text(
        "[mirror]\ndirectory = m\nmaster = http://127.0.0.1:9\nallow-non-https = true\n"
        "hash-index = true\n[plugins]\nenabled = allowlist_project\n[allowlist]\npackages = a\n",
        encoding="utf-8",
    )
    assert load_config(conf).mirror.hash_index
