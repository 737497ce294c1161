"""Client configuration as text: URLs, snippets, the report per system, file locations, merging.

Pure functions on literal data; the files and tools themselves are exercised for real in
``test_client_config.py``.
"""

from __future__ import annotations

import configparser
import tomllib
from collections.abc import Callable
from pathlib import PurePath, PurePosixPath, PureWindowsPath

import pytest

from cellar.clients import (
    ClientAccess,
    ClientConfigError,
    OsName,
    env_assignments,
    index_url_for,
    pip_conf,
    uv_toml,
    with_credentials,
)
from cellar.clients.files import Machine, ScopeError, pip_file, uv_file
from cellar.clients.merge import (
    UnreadableClientFileError,
    merge_pip_conf,
    merge_uv_toml,
    pip_key,
    read_pip_conf,
)
from cellar.clients.report import render_report

HTTP = ClientAccess("http://pypi.example.org:8080/simple/")
HTTPS = ClientAccess("https://pypi.example.org/simple/")
SECRET = "pa:ss@w'rd"  # noqa: S105 - a made-up password that must need quoting
SHOWN = ClientAccess(HTTPS.index_url, auth=True, username="alice", password=SECRET)
HIDDEN = ClientAccess(HTTPS.index_url, auth=True, username="alice")
URL = "http://pypi.example.org:8080/simple/"


# -- URLs and snippets ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "index"),
    [
        ("https://pypi.example.org", "https://pypi.example.org/simple/"),
        ("https://pypi.example.org/mirror/", "https://pypi.example.org/mirror/simple/"),
        ("https://pypi.example.org/simple", "https://pypi.example.org/simple/"),
        ("http://[::1]:9000/simple/", "http://[::1]:9000/simple/"),
    ],
)
def test_the_index_url_comes_from_the_base_url_or_is_given_whole(given: str, index: str) -> None:
    assert index_url_for(given) == index


@pytest.mark.parametrize(
    ("given", "complaint"),
    [
        ("ftp://pypi.example.org/", "http:// or https://"),
        ("pypi.example.org", "http:// or https://"),
        ("https://alice:pw@pypi.example.org/", "--user"),
        ("https://pypi.example.org/?x=1", "query"),
    ],
)
def test_bad_urls_are_refused_with_what_to_do(given: str, complaint: str) -> None:
    with pytest.raises(ClientConfigError, match=complaint):
        index_url_for(given)


def test_trusted_host_only_for_plain_http() -> None:
    assert HTTP.trusted_host == "pypi.example.org:8080"
    assert HTTPS.trusted_host is None
    # pip trusts loopback over plain HTTP without being told.
    assert ClientAccess("http://[::1]:9000/simple/").trusted_host is None
    assert ClientAccess("http://127.0.0.1:9000/simple/").trusted_host is None
    assert "trusted-host = pypi.example.org:8080" in pip_conf(HTTP)
    assert "trusted-host" not in pip_conf(HTTPS)
    assert "PIP_TRUSTED_HOST" not in env_assignments(HTTPS, "sh")


def test_https_by_ip_address_is_warned_of_for_pip() -> None:
    """pip 24.2 to 26.0 cannot verify an HTTPS index named by IP (tests/test_client_matrix.py
    shows it with real pips); the report and --write say so."""
    by_address = ClientAccess("https://10.0.0.7/simple/")
    assert by_address.https_by_address
    assert ClientAccess("https://[fd00::7]:8443/simple/").https_by_address
    assert not HTTPS.https_by_address
    assert not ClientAccess("http://10.0.0.7/simple/").https_by_address
    assert "cannot verify an HTTPS index named by IP address" in render_report(by_address, "linux")
    assert "named by IP" not in render_report(HTTPS, "linux")


def test_credentials_are_percent_encoded_in_urls() -> None:
    assert (
        with_credentials(HTTPS.index_url, "al ice", SECRET)
        == "https://al%20ice:pa%3Ass%40w%27rd@pypi.example.org/simple/"
    )
    assert SHOWN.url == with_credentials(HTTPS.index_url, "alice", SECRET)


def test_the_password_appears_only_when_shown() -> None:
    for text in (pip_conf(HIDDEN), uv_toml(HIDDEN), env_assignments(HIDDEN, "sh")):
        assert "alice" not in text and "<password>" not in text
        assert text.count(HTTPS.index_url) >= 1
    assert "pa%3Ass%40w%27rd" in pip_conf(SHOWN)
    assert "pa%3Ass%40w%27rd" in uv_toml(SHOWN)
    # A project's pyproject.toml is shared: never credentials in it.
    assert "alice" not in uv_toml(SHOWN, pyproject=True)


def test_environment_assignments_are_quoted_for_each_shell() -> None:
    access = ClientAccess("https://pypi.example.org/o'brien/simple/")
    assert env_assignments(access, "sh") == (
        "export PIP_INDEX_URL='https://pypi.example.org/o'\\''brien/simple/'\n"
        "export UV_DEFAULT_INDEX='https://pypi.example.org/o'\\''brien/simple/'\n"
    )
    assert "$env:PIP_INDEX_URL = 'https://pypi.example.org/o''brien/simple/'" in env_assignments(
        access, "powershell"
    )
    assert 'set "PIP_INDEX_URL=https://pypi.example.org/o\'brien/simple/"' in env_assignments(
        access, "cmd"
    )


def test_uv_toml_names_the_index_so_uv_can_find_its_credentials() -> None:
    assert tomllib.loads(uv_toml(HTTP)) == {
        "index": [{"name": "cellar", "url": URL, "default": True}]
    }
    assert tomllib.loads(uv_toml(HTTP, pyproject=True))["tool"]["uv"]["index"][0]["url"] == URL


# -- the report, per system -------------------------------------------------------------------


def test_report_for_linux_names_its_files_and_sh() -> None:
    text = render_report(HTTP, "linux")
    assert "/etc/pip.conf" in text and "~/.config/pip/pip.conf" in text
    assert "$XDG_CONFIG_HOME/pip/pip.conf" in text and "$VIRTUAL_ENV/pip.conf" in text
    assert "~/.config/uv/uv.toml" in text and "/etc/uv/uv.toml" in text
    assert "export PIP_INDEX_URL='http://pypi.example.org:8080/simple/'" in text
    assert "export UV_DEFAULT_INDEX=" in text and "$env:" not in text
    assert "trusted-host = pypi.example.org:8080" in text
    assert "pdm config pypi.verify_ssl false" in text
    assert f"poetry source add --priority=primary cellar {URL}" in text
    assert f'[pypi-options]\n    index-url = "{URL}"' in text
    assert "Credentials" not in text


def test_report_for_macos_and_windows() -> None:
    mac = render_report(HTTPS, "macos")
    assert "~/Library/Application Support/pip/pip.conf" in mac
    assert "/Library/Application Support/pip/pip.conf" in mac
    assert "trusted-host" not in mac and "verify_ssl" not in mac
    windows = render_report(HTTPS, "windows")
    assert "pip.ini:" in windows and r"%APPDATA%\pip\pip.ini" in windows
    assert r"C:\ProgramData\pip\pip.ini" in windows and r"%VIRTUAL_ENV%\pip.ini" in windows
    assert r"%APPDATA%\uv\uv.toml" in windows
    assert "$env:PIP_INDEX_URL = 'https://pypi.example.org/simple/'" in windows
    assert 'set "UV_DEFAULT_INDEX=https://pypi.example.org/simple/"' in windows
    assert "export " not in windows


def test_report_with_a_login_gives_placeholders_and_ways_to_log_in() -> None:
    text = render_report(HIDDEN, "linux")
    assert SECRET not in text and "pa%3A" not in text
    assert "machine pypi.example.org login alice password <password>" in text
    assert "UV_INDEX_CELLAR_USERNAME=alice" in text
    assert "UV_INDEX_CELLAR_PASSWORD=<password>" in text
    assert "https://alice:<password>@pypi.example.org/simple/" in text
    assert "poetry config http-basic.cellar alice" in text
    assert "--show-credentials" in text
    anonymous = render_report(ClientAccess(HTTPS.index_url, auth=True), "linux")
    assert "https://<user>:<password>@pypi.example.org/simple/" in anonymous


def test_report_with_credentials_shown_fills_them_in() -> None:
    text = render_report(SHOWN, "linux")
    assert f"machine pypi.example.org login alice password {SECRET}" in text
    assert "index-url = https://alice:pa%3Ass%40w%27rd@pypi.example.org/simple/" in text
    assert "<password>" not in text


# -- where the files are ----------------------------------------------------------------------


def machine(os_name: OsName = "linux", **environ: str) -> Machine:
    home = PureWindowsPath(r"C:\Users\al") if os_name == "windows" else PurePosixPath("/home/al")
    cwd = home / "project"
    return Machine(os_name, environ, home, cwd)


def nothing_exists(path: PurePath) -> bool:
    return False


def these_exist(*paths: str) -> Callable[[PurePath], bool]:
    return lambda path: str(path) in paths


def test_pip_files_on_linux() -> None:
    linux = machine()
    assert pip_file("user", linux, nothing_exists) == PurePosixPath("/home/al/.config/pip/pip.conf")
    xdg = machine(XDG_CONFIG_HOME="/cfg")
    assert pip_file("user", xdg, nothing_exists) == PurePosixPath("/cfg/pip/pip.conf")
    # pip ignores a relative XDG_CONFIG_HOME, as the XDG specification asks.
    relative = machine(XDG_CONFIG_HOME="cfg")
    assert pip_file("user", relative, nothing_exists) == PurePosixPath(
        "/home/al/.config/pip/pip.conf"
    )
    assert pip_file("global", linux, nothing_exists) == PurePosixPath("/etc/pip.conf")
    venv = machine(VIRTUAL_ENV="/work/venv")
    assert pip_file("venv", venv, these_exist("/work/venv")) == PurePosixPath("/work/venv/pip.conf")
    conda = machine(CONDA_PREFIX="/opt/conda/envs/x")
    assert pip_file("venv", conda, these_exist("/opt/conda/envs/x")) == PurePosixPath(
        "/opt/conda/envs/x/pip.conf"
    )


def test_pip_user_file_on_macos_depends_on_the_application_support_folder() -> None:
    mac = machine("macos")
    assert pip_file("user", mac, nothing_exists) == PurePosixPath("/home/al/.config/pip/pip.conf")
    support = "/home/al/Library/Application Support/pip"
    assert pip_file("user", mac, these_exist(support)) == PurePosixPath(f"{support}/pip.conf")
    assert pip_file("global", mac, nothing_exists) == PurePosixPath(
        "/Library/Application Support/pip/pip.conf"
    )


def test_pip_files_on_windows() -> None:
    windows = machine(
        "windows", APPDATA=r"C:\Users\al\AppData\Roaming", PROGRAMDATA=r"D:\ProgramData"
    )
    assert pip_file("user", windows, nothing_exists) == PureWindowsPath(
        r"C:\Users\al\AppData\Roaming\pip\pip.ini"
    )
    assert pip_file("global", windows, nothing_exists) == PureWindowsPath(
        r"D:\ProgramData\pip\pip.ini"
    )
    venv = machine("windows", VIRTUAL_ENV=r"C:\work\venv")
    assert pip_file("venv", venv, these_exist(r"C:\work\venv")) == PureWindowsPath(
        r"C:\work\venv\pip.ini"
    )
    with pytest.raises(ScopeError, match="APPDATA"):
        pip_file("user", machine("windows"), nothing_exists)


def test_scopes_that_make_no_sense_are_refused() -> None:
    with pytest.raises(ScopeError, match="VIRTUAL_ENV"):
        pip_file("venv", machine(), nothing_exists)
    with pytest.raises(ScopeError, match="does not exist"):
        pip_file("venv", machine(VIRTUAL_ENV="/gone"), nothing_exists)
    with pytest.raises(ScopeError, match="pip has no project"):
        pip_file("project", machine(), nothing_exists)
    with pytest.raises(ScopeError, match="uv has no per-virtualenv"):
        uv_file("venv", machine(), nothing_exists)


def test_uv_files() -> None:
    linux = machine(XDG_CONFIG_HOME="/cfg")
    assert uv_file("user", linux, nothing_exists) == PurePosixPath("/cfg/uv/uv.toml")
    assert uv_file("user", machine("macos"), nothing_exists) == PurePosixPath(
        "/home/al/.config/uv/uv.toml"
    )
    assert uv_file("global", linux, nothing_exists) == PurePosixPath("/etc/uv/uv.toml")
    # uv reads the first system file that exists, XDG's first: that is the one to change.
    assert uv_file("global", linux, these_exist("/etc/xdg/uv/uv.toml")) == PurePosixPath(
        "/etc/xdg/uv/uv.toml"
    )
    dirs = machine(XDG_CONFIG_DIRS="/a:/b")
    assert uv_file("global", dirs, these_exist("/b/uv/uv.toml")) == PurePosixPath("/b/uv/uv.toml")
    windows = machine("windows", APPDATA=r"C:\Users\al\AppData\Roaming", SYSTEMDRIVE="E:")
    assert uv_file("user", windows, nothing_exists) == PureWindowsPath(
        r"C:\Users\al\AppData\Roaming\uv\uv.toml"
    )
    assert uv_file("global", windows, nothing_exists) == PureWindowsPath(
        r"E:\ProgramData\uv\uv.toml"
    )


def test_uv_project_file_is_pyproject_toml_only_when_there_is_no_uv_toml() -> None:
    project = machine()
    assert uv_file("project", project, nothing_exists) == PurePosixPath("/home/al/project/uv.toml")
    pyproject = "/home/al/project/pyproject.toml"
    assert uv_file("project", project, these_exist(pyproject)) == PurePosixPath(pyproject)
    both = these_exist(pyproject, "/home/al/project/uv.toml")
    assert uv_file("project", project, both) == PurePosixPath("/home/al/project/uv.toml")


# -- merging pip.conf -------------------------------------------------------------------------

PIP_CONF = """\
# Managed by hand: keep these words.
[global]
timeout = 60
; the old index, replaced by the mirror
Index_URL = https://old.example.org/simple/
trusted-host = a.example.org
    b.example.org

[install]
# compile later
no-compile = true
"""


def test_pip_merge_keeps_comments_sections_and_keys() -> None:
    merged = merge_pip_conf(PIP_CONF, URL, "pypi.example.org:8080")
    assert merged.text == (
        "# Managed by hand: keep these words.\n"
        "[global]\n"
        "timeout = 60\n"
        "; the old index, replaced by the mirror\n"
        f"Index_URL = {URL}\n"
        "trusted-host = a.example.org\n"
        "    b.example.org\n"
        "    pypi.example.org:8080\n"
        "\n"
        "[install]\n"
        "# compile later\n"
        "no-compile = true\n"
    )
    assert merged.changes == (
        f"index-url changed from https://old.example.org/simple/ to {URL}",
        "trusted-host pypi.example.org:8080 added",
    )
    settings = read_pip_conf(merged.text)
    assert settings["install"] == {"no-compile": "true"}
    assert settings["global"]["trusted-host"].split() == [
        "a.example.org",
        "b.example.org",
        "pypi.example.org:8080",
    ]


def test_pip_merge_is_idempotent() -> None:
    once = merge_pip_conf(PIP_CONF, URL, "pypi.example.org:8080")
    twice = merge_pip_conf(once.text, URL, "pypi.example.org:8080")
    assert twice.text == once.text and twice.changes == ()


def test_pip_merge_adds_what_is_missing_where_it_belongs() -> None:
    text = "[global]\ntimeout = 5\n\n[list]\nformat = columns\n"
    merged = merge_pip_conf(text, URL, "pypi.example.org:8080")
    assert merged.text == (
        f"[global]\ntimeout = 5\nindex-url = {URL}\ntrusted-host = pypi.example.org:8080\n"
        "\n[list]\nformat = columns\n"
    )
    assert merge_pip_conf(None, URL, None).text == f"[global]\nindex-url = {URL}\n"
    assert merge_pip_conf("", URL, None).text == f"[global]\nindex-url = {URL}\n"


def test_pip_merge_adds_a_global_section_after_the_others() -> None:
    merged = merge_pip_conf("# hi\n[install]\nno-compile = true", URL, None)
    assert merged.text == f"# hi\n[install]\nno-compile = true\n\n[global]\nindex-url = {URL}\n"


def test_pip_merge_replaces_a_multi_line_value_and_keeps_colon_and_crlf() -> None:
    text = "[global]\r\nindex-url: https://old.example.org/\r\n  simple/\r\nquiet = 1\r\n"
    merged = merge_pip_conf(text, URL, None)
    assert merged.text == f"[global]\r\nindex-url: {URL}\r\nquiet = 1\r\n"


def test_pip_merge_appends_to_a_one_line_trusted_host_list() -> None:
    text = f"[global]\nindex-url = {URL}\ntrusted-host = a.example.org b.example.org\n"
    merged = merge_pip_conf(text, URL, "pypi.example.org:8080")
    assert merged.text.endswith(
        "trusted-host = a.example.org b.example.org pypi.example.org:8080\n"
    )


def test_pip_merge_for_https_leaves_trusted_host_alone() -> None:
    text = "[global]\ntrusted-host = a.example.org\n"
    merged = merge_pip_conf(text, HTTPS.index_url, None)
    assert merged.text == f"[global]\ntrusted-host = a.example.org\nindex-url = {HTTPS.index_url}\n"


def test_pip_merge_warns_about_what_would_defeat_the_mirror() -> None:
    text = (
        "[global]\nextra-index-url = https://extra.example.org/simple/\n"
        "[install]\nindex-url = https://other.example.org/simple/\n"
    )
    warnings = merge_pip_conf(text, URL, None).warnings
    assert any("[install] index-url" in w and "pip install" in w for w in warnings)
    assert any("extra-index-url" in w and "extra.example.org" in w for w in warnings)


@pytest.mark.parametrize(
    "text",
    [
        "index-url = https://x.example.org/\n",  # no section header
        "[global]\nindex-url = a\nindex-url = b\n",  # a key twice
        "[global]\njust words\n",
    ],
)
def test_pip_merge_refuses_what_pip_cannot_read_either(text: str) -> None:
    with pytest.raises(UnreadableClientFileError, match="fix it by hand"):
        merge_pip_conf(text, URL, None)


def test_pip_keys_are_normalised_as_pip_does() -> None:
    assert pip_key("Index_URL") == "index-url"
    assert pip_key("--trusted-host") == "trusted-host"
    parser = configparser.RawConfigParser()
    parser.optionxform = pip_key  # type: ignore[assignment,method-assign]
    parser.read_string(merge_pip_conf("[global]\nINDEX_URL = x\n", URL, None).text)
    assert parser.get("global", "index-url") == URL


# -- merging uv.toml and pyproject.toml -------------------------------------------------------

UV_TOML = """\
# uv settings for this machine
native-tls = true  # the company proxy

[[index]]
name = "torch"
url = "https://torch.example.org/whl/"
explicit = true

[pip]
compile-bytecode = true
"""


def test_uv_merge_adds_the_mirror_and_keeps_the_rest() -> None:
    merged = merge_uv_toml(UV_TOML, URL)
    assert merged.text == UV_TOML.replace(
        "explicit = true\n\n",
        f'explicit = true\n\n[[index]]\nname = "cellar"\nurl = "{URL}"\ndefault = true\n\n',
    )
    assert merged.changes == (f'index "cellar" added as the default: {URL}',)
    assert merged.warnings == ()  # an explicit index is only used when asked for
    twice = merge_uv_toml(merged.text, URL)
    assert twice.text == merged.text and twice.changes == ()


def test_uv_merge_takes_over_the_existing_default_and_keeps_its_name() -> None:
    text = '[[index]]\nname = "corp"  # ours\nurl = "https://corp.example.org/simple/"\ndefault = true\n'
    merged = merge_uv_toml(text, URL)
    assert merged.text == f'[[index]]\nname = "corp"  # ours\nurl = "{URL}"\ndefault = true\n'
    assert merged.changes == (
        f'index "corp" url changed from https://corp.example.org/simple/ to {URL}',
    )


def test_uv_merge_updates_the_cellar_index_and_demotes_another_default() -> None:
    text = (
        '[[index]]\nname = "corp"\nurl = "https://corp.example.org/simple/"\ndefault = true\n\n'
        '[[index]]\nname = "cellar"\nurl = "https://old.example.org/simple/"\n'
    )
    merged = merge_uv_toml(text, URL)
    data = tomllib.loads(merged.text)
    assert data["index"] == [
        {"name": "corp", "url": "https://corp.example.org/simple/", "default": False},
        {"name": "cellar", "url": URL, "default": True},
    ]
    assert any("searched before the mirror" in w for w in merged.warnings)


def test_uv_merge_handles_an_inline_array_and_the_deprecated_index_url() -> None:
    text = 'index-url = "https://old.example.org/simple/"\nindex = [{ url = "https://o.example.org/" }]\n'
    merged = merge_uv_toml(text, URL)
    data = tomllib.loads(merged.text)
    assert data["index-url"] == URL
    assert data["index"][-1] == {"name": "cellar", "url": URL, "default": True}


def test_uv_merge_into_pyproject_toml_keeps_the_project() -> None:
    text = (
        '[project]\nname = "app"  # the app\nversion = "1.0"\n\n'
        "[tool.uv]\nmanaged = true\n\n[tool.ruff]\nline-length = 100\n"
    )
    merged = merge_uv_toml(text, URL, pyproject=True)
    data = tomllib.loads(merged.text)
    assert data["project"] == {"name": "app", "version": "1.0"}
    assert data["tool"]["ruff"] == {"line-length": 100}
    assert data["tool"]["uv"] == {
        "managed": True,
        "index": [{"name": "cellar", "url": URL, "default": True}],
    }
    assert '"app"  # the app' in merged.text
    bare = merge_uv_toml('[project]\nname = "app"\n', URL, pyproject=True)
    assert bare.text == (
        f'[project]\nname = "app"\n\n[[tool.uv.index]]\nname = "cellar"\nurl = "{URL}"\n'
        "default = true\n"
    )


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[[index]\nurl = 1\n", "not TOML"),
        ('index = "https://x.example.org/"\n', "not a list of tables"),
    ],
)
def test_uv_merge_refuses_what_uv_cannot_read_either(text: str, complaint: str) -> None:
    with pytest.raises(UnreadableClientFileError, match=complaint):
        merge_uv_toml(text, URL)
