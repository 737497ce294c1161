"""bandersnatch INI configurations read as they are: what each option and plugin becomes, what
is ignored with a warning naming it, and errors naming file, section and option."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from cellar.cli import main
from cellar.config.checks import ConfigError
from cellar.config.load import load_config, read_config
from cellar.config.model import default_upstream
from cellar.select.targets import targets_for

DATA = Path(__file__).parent / "data" / "bandersnatch"
MINIMAL = "[mirror]\ndirectory = mirror\n[plugins]\nenabled = allowlist_project\n[allowlist]\npackages = alpha\n"


@pytest.fixture
def config_log(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> pytest.LogCaptureFixture:
    """Capture cellar.config warnings even after an in-process CLI run stopped propagation."""
    monkeypatch.setattr(logging.getLogger("cellar"), "propagate", True)
    caplog.set_level(logging.WARNING, logger="cellar.config")
    return caplog


def data(tmp_path: Path, name: str) -> Path:
    """Copy the data directory (configs and requirements files) and return ``name`` in it."""
    shutil.copytree(DATA, tmp_path / "data")
    return tmp_path / "data" / name


def write(tmp_path: Path, text: str, name: str = "bandersnatch.conf") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "cellar.config"]


def test_an_allowlist_mirror_reads_as_bandersnatch_means_it(
    tmp_path: Path,
    config_log: pytest.LogCaptureFixture,
) -> None:
    config = load_config(data(tmp_path, "allowlist.conf"))
    mirror = config.mirror
    assert mirror.directory == tmp_path / "data" / "mirror"
    assert mirror.upstream == "http://127.0.0.1:9/simple/"
    assert (mirror.workers, mirror.timeout, mirror.retries) == (4, 15.0, 3)
    assert not (mirror.json_api or mirror.hash_index or mirror.stop_on_error)
    assert mirror.diff_file is None
    packages = config.packages
    assert [str(r) for r in packages.requirements] == ["alpha", "Foo_Bar.baz", "beta", "gamma"]
    assert (packages.dependencies, packages.versions, packages.sdists) == (False, 0, "all")
    assert packages.prereleases
    assert config.targets == ()  # every file, whatever it is for
    assert config.filters.allow_releases == (
        Requirement("Foo_Bar.baz>=1.5"),
        Requirement("beta==0.1"),
    )
    # Options at bandersnatch's defaults ask for nothing Cellar does not do: no warnings.
    assert warnings_of(config_log) == []


def test_requirements_files_give_names_and_pins(tmp_path: Path) -> None:
    config = load_config(data(tmp_path, "requirements.conf"))
    assert [str(r) for r in config.packages.requirements] == [
        "gamma",
        "alpha",
        "beta",
        "delta[socks]",
    ]
    assert config.filters.pinned_releases == (Requirement("gamma>=1.0"), Requirement("alpha==1.0"))
    assert config.filters.latest == 1
    assert config.mirror.workers == 3
    assert config.mirror.timeout == 10.0  # bandersnatch's default


def test_every_filter_plugin_and_mirror_option(
    tmp_path: Path,
    config_log: pytest.LogCaptureFixture,
) -> None:
    config = load_config(data(tmp_path, "filters.conf"))
    mirror = config.mirror
    assert mirror.directory == Path("/srv/pypi")
    assert mirror.upstream == "http://127.0.0.1:9/simple/"
    assert (
        mirror.json_api
        and not mirror.hash_index
        and mirror.stop_on_error
        and mirror.diff_append_epoch
    )
    assert mirror.diff_file == Path("/srv/pypi/mirrored-files")  # {{mirror_directory}}
    filters = config.filters
    assert filters.block_projects == {"evil-thing"}
    assert filters.block_releases == (Requirement("evil-thing"), Requirement("beta==3.0"))
    assert filters.allow_releases == (Requirement("beta>=2,<4"),)
    assert filters.project_patterns == (".+-evil$",)
    assert filters.release_patterns == (r".+alpha\d$", r"^0\.")
    assert filters.drop_prereleases
    assert filters.prerelease_projects == {"duckdb"}
    assert (filters.latest, filters.latest_by) == (3, "time")
    assert filters.exclude_platforms == ("windows", "macos", "py2.7", "linux-i686")
    assert filters.max_project_size == 1 << 30
    assert filters.size_exempt == {"alpha", "beta", "evil-thing", "duckdb", "huge"}
    # A project both allowed and blocked is blocked, as in bandersnatch, and said so.
    assert [r.name for r in config.packages.requirements] == ["alpha", "beta", "duckdb", "huge"]
    assert warnings_of(config_log) == [
        f"{tmp_path / 'data' / 'filters.conf'}: [allowlist] packages: 'evil-thing' is not "
        "mirrored: it is in the project blocklist"
    ]


def test_the_cellar_section_switches_on_the_closure(
    tmp_path: Path,
    config_log: pytest.LogCaptureFixture,
) -> None:
    config = load_config(data(tmp_path, "closure.conf"))
    assert config.packages.dependencies
    assert not config.packages.prereleases  # dependencies are picked as pip picks them
    assert config.targets == targets_for(
        ["3.11", "3.12"], ["manylinux_2_28_x86_64", "win_amd64"], "cpython"
    )
    # enabled = all enables prerelease_release too, as in bandersnatch.
    assert config.filters.drop_prereleases
    assert warnings_of(config_log) == []


def test_cellar_targets_without_the_closure_filter_files_by_target(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "[cellar]\nplatforms = win_amd64\npython = 3.12\n")
    config = load_config(path)
    assert not config.packages.dependencies
    assert [t.name for t in config.targets] == ["cp312-win_amd64"]


def test_options_without_meaning_are_each_named_in_a_warning(
    tmp_path: Path,
    config_log: pytest.LogCaptureFixture,
) -> None:
    path = data(tmp_path, "ignored.conf")
    config = load_config(path)
    assert config.mirror.upstream == default_upstream()  # no master: bandersnatch's default index
    assert config.mirror.proxy == "http://127.0.0.1:3128"  # read, not ignored
    messages = warnings_of(config_log)
    for option in (
        "download-mirror",
        "download-mirror-no-fallback",
        "global-timeout",
        "release-files",
        "core-metadata",
        "root_uri",
        "keep_index_versions",
        "cleanup",
        "compare-method",
        "verifiers",
        "log-config",
        "storage-filesystem-manage-permissions",
        "simple-format",
        "digest_name",
    ):
        assert any(f": [mirror] {option}: " in m and "ignored" in m for m in messages), option
    assert any("[mirror] typo-option: not an option Cellar knows" in m for m in messages)
    assert any("regex_project_metadata filters on PyPI's JSON API metadata" in m for m in messages)
    assert any("[filter_regex]: has no effect" in m for m in messages)
    assert any("[s3]: read only with [mirror] storage-backend = s3" in m for m in messages)
    assert all(m.startswith(str(path)) for m in messages)
    assert len(messages) == 18


def test_plugin_options_without_their_plugin_are_warned(
    tmp_path: Path,
    config_log: pytest.LogCaptureFixture,
) -> None:
    path = write(
        tmp_path,
        MINIMAL + "[blocklist]\npackages = beta\nplatforms = windows\n[latest_release]\nkeep = 2\n",
    )
    config = load_config(path)
    assert config.filters.latest == 0
    messages = warnings_of(config_log)
    assert any(
        "[blocklist] packages: has no effect: none of blocklist_project" in m for m in messages
    )
    assert any(
        "[blocklist] platforms: has no effect: none of exclude_platform" in m for m in messages
    )
    assert any("[latest_release]: has no effect: none of latest_release is" in m for m in messages)


@pytest.mark.parametrize("name", ["bandersnatch.ini", "mirror.cfg", "bandersnatch"])
def test_ini_is_recognised_by_suffix_or_content(tmp_path: Path, name: str) -> None:
    config = load_config(write(tmp_path, MINIMAL, name))
    assert [r.name for r in config.packages.requirements] == ["alpha"]
    assert config.targets == ()


def test_toml_is_still_toml(tmp_path: Path) -> None:
    path = write(tmp_path, '[mirror]\ndirectory = "m"\n', "cellar.conf.toml")
    assert load_config(path).packages.dependencies


def test_a_toml_typo_is_a_toml_error_even_when_it_reads_as_ini(tmp_path: Path) -> None:
    path = write(tmp_path, '[mirror]\ndirectory = "m\n', "cellar.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        (
            "[mirror]\ndirectory = m\n[plugins]\nenabled = allowlist_project\n",
            "[allowlist] packages",
            "Cellar mirrors named projects only",
        ),
        ("[mirror]\ndirectory = m\n", "[allowlist] packages", "enable allowlist_project"),
        (
            MINIMAL.replace("allowlist_project", "allowlist_project\n    whitelist_project"),
            "[plugins] enabled",
            "unknown plugin 'whitelist_project'",
        ),
        (
            MINIMAL.replace("= allowlist_project", "= allowlist_project regex_project"),
            "[plugins] enabled",
            "(one plugin per line)",
        ),
        (
            MINIMAL.replace("allowlist_project", "allowlist_project\n    regex_project")
            + "[filter_regex]\npackages = (unclosed\n",
            "[filter_regex] packages",
            "'(unclosed' is not a regular expression",
        ),
        (
            MINIMAL.replace("allowlist_project", "allowlist_project\n    latest_release")
            + "[latest_release]\nkeep = three\n",
            "[latest_release] keep",
            "must be a whole number, not 'three'",
        ),
        (
            MINIMAL.replace("allowlist_project", "allowlist_project\n    latest_release")
            + "[latest_release]\nkeep = 1\nsort_by = size\n",
            "[latest_release] sort_by",
            "must be one of version, time",
        ),
        (
            MINIMAL.replace("allowlist_project", "allowlist_project\n    size_project_metadata")
            + "[size_project_metadata]\nmax_package_size = huge\n",
            "[size_project_metadata] max_package_size",
            "'huge' is not a size",
        ),
        (
            MINIMAL.replace("allowlist_project", "allowlist_project\n    exclude_platform")
            + "[blocklist]\nplatforms = solaris\n",
            "[blocklist] platforms",
            "'solaris' is not a platform",
        ),
        (
            MINIMAL.replace("packages = alpha", "packages = alpha[\n"),
            "[allowlist] packages",
            "'alpha[' is not a requirement",
        ),
        (
            MINIMAL.replace("directory = mirror", "directory = mirror\nstorage-backend = swift"),
            "[mirror] storage-backend",
            "on the filesystem or in S3, not 'swift'",
        ),
        (
            MINIMAL.replace(
                "directory = mirror", "directory = mirror\nmaster = http://127.0.0.1:9"
            ),
            "[mirror] master",
            "set allow-non-https = true",
        ),
        (
            MINIMAL.replace("directory = mirror", "directory = mirror\nworkers = 0"),
            "[mirror] workers",
            "must be 1 to 256",
        ),
        (
            MINIMAL.replace("directory = mirror", "directory = mirror\njson = maybe"),
            "[mirror] json",
            "must be true or false",
        ),
        (
            MINIMAL.replace("directory = mirror", "directory = mirror\nsimple-format = XML"),
            "[mirror] simple-format",
            "must be one of ALL, HTML, JSON",
        ),
        (
            MINIMAL.replace("directory = mirror", "directory = mirror\ndigest_name = sha999"),
            "[mirror] digest_name",
            "not a hash algorithm",
        ),
        (
            MINIMAL.replace(
                "directory = mirror", "directory = mirror\ndiff-file = {{nowhere_option}}/x"
            ),
            "[mirror] diff-file",
            "refers to [nowhere] option",
        ),
        (
            MINIMAL.replace("directory = mirror", "directory = 100%"),
            "[mirror] directory",
            "write a literal % as %%",
        ),
        (MINIMAL.replace("directory = mirror\n", ""), "[mirror] directory", "missing (required)"),
        (MINIMAL + "[cellar]\ndependency = true\n", "[cellar] dependency", "unknown option"),
        (MINIMAL + "[cellar]\ndependencies = true\npython = 2.7\n", "[cellar] python", "'2.7'"),
        (
            MINIMAL.replace("allowlist_project", "project_requirements")
            + "requirements = missing.txt\n",
            "[allowlist] requirements",
            "missing.txt",
        ),
    ],
)
def test_problems_name_section_and_option(
    tmp_path: Path,
    text: str,
    key: str,
    message: str,
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    problems = [problem.message for problem in caught.value.problems if problem.key == key]
    assert len(problems) == 1, caught.value.problems
    assert message in problems[0]
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("directory = m\n", "File contains no section headers"),
        (
            "[mirror]\ndirectory = m\ndirectory = n\n",
            "option 'directory' in section 'mirror' already exists",
        ),
        ("[mirror]\ndirectory = m\n[mirror]\n", "section 'mirror' already exists"),
    ],
)
def test_files_that_are_not_ini(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match="not a valid INI file") as caught:
        load_config(write(tmp_path, text))
    assert message in str(caught.value)


def test_duplicate_option_names_section_and_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "[mirror]\ndirectory = m\ndirectory = n\n"))
    assert caught.value.problems[0].key == "[mirror] directory"


def test_the_cli_exits_2_naming_file_section_and_option(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write(
        tmp_path, MINIMAL.replace("allowlist_project", "allowlist_project\n    blocklist_projects")
    )
    assert main(["mirror", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert "[plugins] enabled: unknown plugin 'blocklist_projects'" in err
    assert not (tmp_path / "mirror").exists()


def test_read_config_returns_warnings_without_logging(
    tmp_path: Path,
    config_log: pytest.LogCaptureFixture,
) -> None:
    _, warnings = read_config(data(tmp_path, "ignored.conf"))
    assert len(warnings) == 18  # proxy is read (as [mirror] proxy), not warned about
    assert warnings_of(config_log) == []


def test_bandersnatch_s3_settings_map_to_the_storage_table(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "directory = mirror",
        "directory = /pypi-bucket/mirror/python\nstorage-backend = s3\n"
        "diff-file = /pypi-bucket/diff",
    ) + (
        "[s3]\nregion_name = eu-central-1\naws_access_key_id = AKIA\n"
        "aws_secret_access_key = secret\nendpoint_url = http://minio.example:9000\n"
        "signature_version = s3v4\nconfig_param_ServerSideEncryption = aws:kms\n"
        "[cellar]\ndirectory = /var/lib/cellar\n"
    )
    config, warnings = read_config(write(tmp_path, text))
    mirror = config.mirror
    assert mirror.directory == Path("/var/lib/cellar")  # the state; the tree is in the bucket
    assert mirror.diff_file is None
    s3 = mirror.storage.s3
    assert s3 is not None
    assert (s3.bucket, s3.prefix, s3.region, s3.endpoint_url) == (
        "pypi-bucket",
        "mirror/python",
        "eu-central-1",
        "http://minio.example:9000",
    )
    warned = {warning.key for warning in warnings}
    assert {
        "[s3] aws_access_key_id",
        "[s3] aws_secret_access_key",
        "[s3] config_param_ServerSideEncryption",
        "[mirror] diff-file",
    } <= warned
    assert all("secret" not in warning.message for warning in warnings)
    default = read_config(write(tmp_path, text.replace("directory = /var/lib/cellar\n", "")))
    assert default[0].mirror.directory == tmp_path / "cellar-mirror"
    with pytest.raises(ConfigError, match=r"\[mirror\] directory: 'Bad_Bucket' is not a bucket"):
        load_config(write(tmp_path, text.replace("/pypi-bucket/", "/Bad_Bucket/")))
