"""Requirement sources: pip requirements files, pyproject.toml and PEP 751 pylock.toml, from real files."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from cellar.errors import CellarError
from cellar.select.locks import read_pylock
from cellar.select.pyproject import read_pyproject
from cellar.select.sources import RequirementsFileError, read_requirements_file
from cellar.select.targets import TargetEnvironment


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def strings(requirements: Iterable[object]) -> list[str]:
    return [str(r) for r in requirements]


# -- pip requirements files ---------------------------------------------------------------------


def test_comments_blank_lines_continuations_extras_markers_and_hashes(tmp_path: Path) -> None:
    path = write(
        tmp_path / "requirements.txt",
        "# a full-line comment\n"
        "\n"
        "requests[socks]>=2.31  # a trailing comment\n"
        "   \n"
        "numpy>=1.26,\\\n"
        "<3 ; python_version >= '3.10'\n"
        "pywin32==306; sys_platform == 'win32' \\\n"
        "    --hash=sha256:aaaa \\\n"
        "    --hash=sha256:bbbb\n"
        "attrs --config-settings=key=value\n",
    )
    source = read_requirements_file(path)
    assert strings(source.requirements) == [
        "requests[socks]>=2.31",
        'numpy<3,>=1.26; python_version >= "3.10"',
        'pywin32==306; sys_platform == "win32"',
        "attrs",
    ]
    assert source.constraints == ()


def test_nested_requirements_and_constraints_are_relative_to_the_including_file(
    tmp_path: Path,
) -> None:
    write(tmp_path / "reqs" / "base.txt", "-r common/more.txt\nclick\n")
    write(tmp_path / "reqs" / "common" / "more.txt", "rich\n--constraint ../../pins.txt\n")
    write(tmp_path / "pins.txt", "rich==13.7.1\n-cmore-pins.txt\n")
    write(tmp_path / "more-pins.txt", "markdown-it-py<4; python_version < '3.14'\n")
    path = write(tmp_path / "requirements.txt", "--requirement=reqs/base.txt\nflask\n")
    source = read_requirements_file(path)
    assert strings(source.requirements) == ["rich", "click", "flask"]
    assert strings(source.constraints) == [
        "rich==13.7.1",
        'markdown-it-py<4; python_version < "3.14"',
    ]


def test_the_same_file_included_twice_is_not_a_cycle(tmp_path: Path) -> None:
    write(tmp_path / "common.txt", "six\n")
    write(tmp_path / "a.txt", "-r common.txt\n")
    write(tmp_path / "b.txt", "-r common.txt\n")
    source = read_requirements_file(write(tmp_path / "all.txt", "-r a.txt\n-r b.txt\n"))
    assert strings(source.requirements) == ["six", "six"]


def test_cycles_are_detected_and_shown(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "six\n-r sub/b.txt\n")
    write(tmp_path / "sub" / "b.txt", "# b\n-r ../a.txt\n")
    with pytest.raises(RequirementsFileError) as caught:
        read_requirements_file(tmp_path / "a.txt")
    error = caught.value
    assert error.path == tmp_path / "sub" / "b.txt"
    assert error.lineno == 2
    assert error.line == "-r ../a.txt"
    assert "includes itself" in str(error)
    assert str((tmp_path / "a.txt").resolve()) in str(error)
    write(tmp_path / "self.txt", "-r self.txt\n")
    with pytest.raises(RequirementsFileError, match="includes itself"):
        read_requirements_file(tmp_path / "self.txt")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("-e ./local-project", "editable"),
        ("--editable=git+https://example.invalid/x.git#egg=x", "editable"),
        ("./local-project", "path or URL"),
        ("dist/thing-1.0-py3-none-any.whl", "path or URL"),
        ("thing-1.0.tar.gz", "path or URL"),
        ("git+https://example.invalid/x.git", "path or URL"),
        ("https://example.invalid/x-1.0.tar.gz", "path or URL"),
        ("thing @ https://example.invalid/x-1.0.tar.gz", "direct URL"),
        ("requests>=>2", "not a valid requirement"),
        ("requests --no-such-option", "invalid option"),
        ("-r https://example.invalid/reqs.txt", "remote"),
        ("-r missing.txt", "cannot read included"),
    ],
)
def test_what_a_mirror_cannot_serve_is_an_error_naming_file_and_line(
    tmp_path: Path,
    line: str,
    reason: str,
) -> None:
    path = write(tmp_path / "requirements.txt", f"# header\nsix\n\n{line}\n")
    with pytest.raises(RequirementsFileError) as caught:
        read_requirements_file(path)
    assert caught.value.lineno == 4
    assert caught.value.line == line
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{path}:4: ")
    assert isinstance(caught.value, CellarError)


def test_constraints_cannot_have_extras(tmp_path: Path) -> None:
    write(tmp_path / "c.txt", "requests[socks]==2.32.0\n")
    with pytest.raises(RequirementsFileError, match="extras") as caught:
        read_requirements_file(write(tmp_path / "r.txt", "-c c.txt\n"))
    assert caught.value.path == tmp_path / "c.txt"


def test_a_line_number_is_where_a_continued_line_starts(tmp_path: Path) -> None:
    path = write(tmp_path / "r.txt", "six\nrequests \\\n  >=>2\n")
    with pytest.raises(RequirementsFileError) as caught:
        read_requirements_file(path)
    assert caught.value.lineno == 2


def test_installer_options_are_ignored_with_a_warning(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = write(
        tmp_path / "r.txt",
        "--index-url https://example.invalid/simple\n"
        "--extra-index-url=https://example.invalid/extra\n"
        "-f ./wheels\n"
        "--pre\n"
        "--only-binary :all:\n"
        "--trusted-host example.invalid\n"
        "six --prefer-binary\n",
    )
    with caplog.at_level(logging.WARNING, logger="cellar.config"):
        source = read_requirements_file(path)
    assert strings(source.requirements) == ["six"]
    messages = [r.getMessage() for r in caplog.records if r.name == "cellar.config"]
    assert len(messages) == 7
    assert messages[0] == f"{path}:1: ignoring --index-url (not used by a mirror)"
    assert "--only-binary" in messages[4]
    assert messages[6].startswith(f"{path}:7: ignoring --prefer-binary")


def test_environment_variables_expand_as_pip_expands_them(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = write(tmp_path / "r.txt", "requests==${REQUESTS_VERSION}\nsix\n")
    source = read_requirements_file(path, environ={"REQUESTS_VERSION": "2.32.3"})
    assert str(source.requirements[0]) == "requests==2.32.3"
    monkeypatch.setenv("CELLAR_TEST_PIN", "1.16.0")
    write(tmp_path / "r2.txt", "six==${CELLAR_TEST_PIN}\n")
    assert str(read_requirements_file(tmp_path / "r2.txt").requirements[0]) == "six==1.16.0"
    # An unset variable stays as written, which then is not a requirement.
    with pytest.raises(RequirementsFileError) as caught:
        read_requirements_file(path, environ={})
    assert caught.value.lineno == 1


def test_encodings_and_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfsix\n")
    assert strings(read_requirements_file(path).requirements) == ["six"]
    path.write_bytes("attrs\n".encode("utf-16"))
    assert strings(read_requirements_file(path).requirements) == ["attrs"]
    path.write_bytes(b"# -*- coding: latin-1 -*-\nsix  # caf\xe9\n")
    assert strings(read_requirements_file(path).requirements) == ["six"]
    with pytest.raises(RequirementsFileError, match="cannot read") as caught:
        read_requirements_file(tmp_path / "absent.txt")
    assert caught.value.lineno is None


def test_requirements_match_pips_own_parser(tmp_path: Path) -> None:
    from pip._internal.network.session import PipSession  # noqa: PLC0415 - pip's own parser as the reference
    from pip._internal.req.req_file import parse_requirements  # noqa: PLC0415

    write(tmp_path / "sub" / "pins.txt", "urllib3<3 # pin\n")
    write(tmp_path / "sub" / "base.txt", "-c pins.txt\nidna>=3 ; python_version>='3.8'\n")
    path = write(
        tmp_path / "requirements.txt",
        "--index-url https://example.invalid/simple\n"
        "-r sub/base.txt\n"
        "requests[socks,security] >= 2.31, != 2.32.0 \\\n"
        "   ; platform_machine == 'x86_64' and python_full_version >= '3.10.1'  # why\n"
        "Foo_Bar.baz~=1.4 --hash=sha256:0000\n",
    )
    ours = read_requirements_file(path)
    theirs = list(parse_requirements(str(path), session=PipSession()))
    assert [Requirement(p.requirement) for p in theirs if not p.constraint] == list(
        ours.requirements
    )
    assert [Requirement(p.requirement) for p in theirs if p.constraint] == list(ours.constraints)


# -- pyproject.toml -----------------------------------------------------------------------------

PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "My_App"
version = "1.0"
dependencies = ["httpx>=0.27", "tomli; python_version < '3.11'"]

[project.optional-dependencies]
socks = ["socksio==1.*"]
Test = ["pytest>=8", "my-app[socks]"]
windows = ["pywin32; sys_platform == 'win32'", "My.App[docs]; platform_machine == 'AMD64'"]
docs = ["sphinx"]
"""


def test_pyproject_reads_dependencies_and_every_extra_by_default(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", PYPROJECT)
    assert strings(read_pyproject(path).dependencies) == [
        "httpx>=0.27",
        'tomli; python_version < "3.11"',
        "socksio==1.*",
        "pytest>=8",
        'pywin32; sys_platform == "win32"',
        "sphinx",
    ]


def test_pyproject_selected_extras_follow_self_references_with_their_markers(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "pyproject.toml", PYPROJECT)
    assert strings(read_pyproject(path, extras=[]).dependencies) == [
        "httpx>=0.27",
        'tomli; python_version < "3.11"',
    ]
    assert strings(read_pyproject(path, extras=["test"]).dependencies)[2:] == [
        "pytest>=8",
        "socksio==1.*",
    ]
    windows = read_pyproject(path, extras=["windows"]).dependencies
    assert strings(windows)[2:] == [
        'pywin32; sys_platform == "win32"',
        'sphinx; platform_machine == "AMD64"',
    ]
    on_windows = TargetEnvironment("3.12", "win_amd64").markers()
    on_arm = TargetEnvironment("3.12", "win_arm64").markers()
    sphinx = windows[-1]
    assert sphinx.marker is not None
    assert sphinx.marker.evaluate(on_windows)
    assert not sphinx.marker.evaluate(on_arm)


def test_pyproject_self_reference_cycles_end(tmp_path: Path) -> None:
    path = write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "me"\ndependencies = []\n[project.optional-dependencies]\n'
        "a = [\"me[b]; os_name == 'nt'\", 'six']\nb = [\"me[a]; os_name == 'posix'\", 'attrs', 'me[nope]']\n",
    )
    assert strings(read_pyproject(path).dependencies) == ["six", "attrs"]
    assert strings(read_pyproject(path, extras=["a"]).dependencies) == [
        "six",
        'attrs; os_name == "nt"',
    ]


def test_pyproject_build_requirements_are_its_own_or_pips_default(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", PYPROJECT)
    assert strings(read_pyproject(path).build) == ["hatchling"]
    bare = write(tmp_path / "bare" / "pyproject.toml", '[project]\nname = "x"\ndependencies = []\n')
    # What pip asks for a project without [build-system] (pip up to 23.3 adds wheel).
    assert strings(read_pyproject(bare).build) == ["setuptools>=40.8.0", "wheel"]
    groups_only = write(tmp_path / "g" / "pyproject.toml", '[dependency-groups]\ndev = ["ruff"]\n')
    assert read_pyproject(groups_only).build == ()  # no [project]: nothing to build


DEPENDENCY_GROUPS = """\
[project]
name = "me"
dependencies = ["httpx"]
[project.optional-dependencies]
socks = ["socksio"]
[dependency-groups]
Test = ["pytest>=8", {include-group = "typing"}, "me[socks]; os_name == 'posix'"]
typing = ["mypy", "types-requests; python_version < '3.12'"]
all = [{include-group = "test"}, {include-group = "Typing"}, "me"]
"""


def test_dependency_groups_expand_their_includes_and_the_project_itself(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", DEPENDENCY_GROUPS)
    groups = {name: strings(group) for name, group in read_pyproject(path).groups.items()}
    typing = ["mypy", 'types-requests; python_version < "3.12"']
    test = ["pytest>=8", *typing, 'socksio; os_name == "posix"']
    assert groups == {"Test": test, "typing": typing, "all": [*test, *typing]}
    assert strings(read_pyproject(path).dependencies) == ["httpx", "socksio"]


@pytest.mark.parametrize(
    ("groups", "reason"),
    [
        ('a = [{include-group = "b"}]\nb = [{include-group = "a"}]\n', "cycle: a -> b -> a"),
        ('a = [{include-group = "nope"}]\n', "'a' includes 'nope', which is not a group"),
        ('a = ["x"]\nA = ["y"]\n', "'a' and 'A' are the same group"),
        ('"-bad" = ["x"]\n', "'-bad' is not a valid name"),
        ("a = [{other = 1}]\n", "neither a requirement nor"),
        ('a = "x"\n', "must be a list"),
        ('a = ["x @ https://example.invalid/x.whl"]\n', "direct URL"),
    ],
)
def test_dependency_group_problems_are_errors(tmp_path: Path, groups: str, reason: str) -> None:
    path = write(tmp_path / "pyproject.toml", f"[dependency-groups]\n{groups}")
    with pytest.raises(RequirementsFileError) as caught:
        read_pyproject(path)
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    ("text", "extras", "reason"),
    [
        ("[tool.x]\na = 1\n", None, "no [project] table"),
        ('[project]\nname = "x"\ndynamic = ["dependencies"]\n', None, "dynamic"),
        ('[project]\nname = "x"\ndependencies = "six"\n', None, "must be a list"),
        (
            '[project]\nname = "x"\ndependencies = ["six @ https://example.invalid/six.whl"]\n',
            None,
            "direct URL",
        ),
        (
            '[project]\nname = "x"\ndependencies = []\n[project.optional-dependencies]\na = ["b"]\n',
            ["c"],
            "no optional dependencies 'c' (has: a)",
        ),
        ("[project\n", None, "not valid TOML"),
    ],
)
def test_pyproject_problems_are_errors_naming_the_file(
    tmp_path: Path,
    text: str,
    extras: tuple[str, ...],
    reason: str,
) -> None:
    path = write(tmp_path / "pyproject.toml", text)
    with pytest.raises(RequirementsFileError) as caught:
        read_pyproject(path, extras=extras)
    assert reason in str(caught.value)
    assert str(caught.value).startswith(str(path))


# -- pylock.toml (PEP 751) ----------------------------------------------------------------------

PYLOCK = """\
lock-version = "1.0"
environments = ["sys_platform == 'linux'", "sys_platform == 'win32'"]
requires-python = ">=3.10"
extras = ["socks"]
dependency-groups = ["dev"]
default-groups = []
created-by = "hand"

[[packages]]
name = "requests"
version = "2.32.3"
requires-python = ">=3.8"
index = "https://example.invalid/simple"

[[packages.wheels]]
name = "requests-2.32.3-py3-none-any.whl"
upload-time = 2024-05-29T15:37:47Z
url = "https://example.invalid/files/requests-2.32.3-py3-none-any.whl"
size = 64928
hashes = {sha256 = "70761cfe03c773ceb22aa2f671b4757976145175cdfca038c02654d061d6dcc6"}

[packages.sdist]
name = "requests-2.32.3.tar.gz"
url = "https://example.invalid/files/requests-2.32.3.tar.gz"
hashes = {sha256 = "55365417734eb18255590a9ff9eb97e9e1da868d4ccd6402399eaf68af20a760"}

[[packages]]
name = "colorama"
version = "0.4.6"
marker = "sys_platform == 'win32'"

[[packages.wheels]]
name = "colorama-0.4.6-py2.py3-none-any.whl"
url = "https://example.invalid/files/colorama-0.4.6-py2.py3-none-any.whl"
hashes = {sha256 = "4f1d9991f5acc0ca119f9d443620b77f9d6b33703e51011c16baf57afb285fc6"}

[[packages]]
name = "PySocks"
version = "1.7.1"
marker = "'socks' in extras and python_version >= '3.10'"

[[packages]]
name = "pytest"
version = "8.3.3"
marker = "\\"dev\\" in dependency_groups"

[[packages]]
name = "legacy"
version = "2013-custom_build"

[[packages]]
name = "my-project"

[packages.directory]
path = "."
editable = true

[[packages]]
name = "from-git"
version = "1.0"

[packages.vcs]
type = "git"
url = "https://example.invalid/from-git.git"
commit-id = "0123456789abcdef0123456789abcdef01234567"

[[packages]]
name = "no-version"

[packages.archive]
url = "https://example.invalid/no-version.tar.gz"
hashes = {sha256 = "00"}
"""


def test_pylock_packages_become_pins_with_their_markers(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = write(tmp_path / "pylock.toml", PYLOCK)
    with caplog.at_level(logging.WARNING, logger="cellar.config"):
        pins = read_pylock(path)
    assert strings(pins) == [
        "requests==2.32.3",
        'colorama==0.4.6; sys_platform == "win32"',
        'PySocks==1.7.1; python_version >= "0" and python_version >= "3.10"',
        "pytest==8.3.3",
        "legacy===2013-custom_build",  # not PEP 440: arbitrary equality
    ]
    skipped = [r.getMessage() for r in caplog.records if r.name == "cellar.config"]
    assert skipped == [
        f"{path}: skipping my-project: installed from a directory, not an index",
        f"{path}: skipping from-git: installed from a vcs, not an index",
        f"{path}: skipping no-version: installed from a archive, not an index",
    ]
    # Every marker evaluates against a target's environment (no extras/dependency_groups needed).
    linux = TargetEnvironment("3.12", "manylinux_2_28_x86_64").markers()
    assert [p.name for p in pins if p.marker is None or p.marker.evaluate(linux)] == [
        "requests",
        "PySocks",
        "pytest",
        "legacy",
    ]


def test_pylock_entry_without_a_version_is_skipped(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = write(
        tmp_path / "pylock.toml",
        'lock-version = "1.0"\n[[packages]]\nname = "x"\n[[packages.wheels]]\nname = "x-1-py3-none-any.whl"\n',
    )
    with caplog.at_level(logging.WARNING, logger="cellar.config"):
        assert read_pylock(path) == ()
    assert "gives no version" in caplog.records[0].getMessage()


def test_pylock_newer_minor_version_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(
        tmp_path / "pylock.toml",
        'lock-version = "1.1"\n[[packages]]\nname = "six"\nversion = "1.16.0"\n',
    )
    with caplog.at_level(logging.WARNING, logger="cellar.config"):
        assert strings(read_pylock(path)) == ["six==1.16.0"]
    assert "newer than 1.0" in caplog.records[0].getMessage()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('[[packages]]\nname = "six"\n', "no lock-version"),
        ('lock-version = "2.0"\n', "2.0 is not supported"),
        (
            'lock-version = "1.0"\n[[packages]]\nversion = "1"\n',
            "entry 1 is not a table with a name",
        ),
        ('lock-version = "1.0"\npackages = 3\n', "entry 1 is not a table"),
        (
            'lock-version = "1.0"\n[[packages]]\nname = "six"\nversion = "1"\nmarker = "os_name =="\n',
            "not a valid requirement",
        ),
    ],
)
def test_pylock_problems_are_errors(tmp_path: Path, text: str, reason: str) -> None:
    path = write(tmp_path / "pylock.toml", text)
    with pytest.raises(RequirementsFileError) as caught:
        read_pylock(path)
    assert reason in str(caught.value)


def test_bare_names_read_exactly_as_packaging_parses_them(tmp_path: Path) -> None:
    # A long list of names is read without running the requirement parser on each line:
    # what comes out must be what the parser would give, field by field.
    names = ["Foo_Bar", "a", "zope.interface", "X-Y.z_1", "n" * 200]
    lines = [*names, "  spaced  ", "b>=1", "c[x]; python_version > '3'", "d # comment", "${NAME}"]
    path = tmp_path / "requirements.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    requirements = read_requirements_file(path, environ={"NAME": "from-env"}).requirements
    expected = [
        *names,
        "spaced",
        "b>=1",
        "c[x]; python_version > '3'",
        "d",
        "from-env",
    ]
    assert len(requirements) == len(expected)
    for got, text in zip(requirements, expected, strict=True):
        want = Requirement(text)
        assert (got.name, got.url, got.extras, got.marker) == (
            want.name,
            want.url,
            want.extras,
            want.marker,
        )
        assert str(got.specifier) == str(want.specifier)
        assert (got, str(got), hash(got)) == (want, str(want), hash(want))
    first, second = requirements[0], requirements[1]
    first.extras.add("mutated")
    assert second.extras == set()  # every bare requirement has its own extras
