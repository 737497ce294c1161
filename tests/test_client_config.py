"""`cellar client-config` for real: the files it writes, read by real pip and uv installing from a
running `cellar serve`, with nothing on their command lines pointing at the mirror.

Every run has HOME, XDG_CONFIG_HOME and XDG_CONFIG_DIRS inside the test's temporary directory and
no PIP_CONFIG_FILE (which would hide the files), and a guard checks that no pip, uv or netrc file
of this machine or of the repository changes.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import bcrypt
import pytest

from cellar.cli import main
from cellar.clients.files import Machine, pip_files
from tests.support.installers import (
    clean_env,
    find_uv,
    imported_version,
    make_venv,
    run_command,
    uv_venv,
)
from tests.support.mirror import EVERY_VERSION, cellar_serve, write_config
from tests.support.packages import build_wheel
from tests.support.upstream import LocalIndex

#: A project no public index has, so an install that works can only have used the mirror.
PROBE = "cellar-client-probe"
USER = "alice"
PASSWORD = "open:sesame@1"  # noqa: S105 - the test server's made-up password, quoted in URLs

_REPOSITORY = Path(__file__).resolve().parent.parent
_WATCHED = [
    Path.home() / ".config" / "pip" / "pip.conf",
    Path.home() / ".pip" / "pip.conf",
    Path("/etc/pip.conf"),
    Path("/etc/xdg/pip/pip.conf"),
    Path.home() / ".config" / "uv" / "uv.toml",
    Path("/etc/uv/uv.toml"),
    Path("/etc/xdg/uv/uv.toml"),
    Path.home() / ".netrc",
    _REPOSITORY / "uv.toml",
    _REPOSITORY / "pip.conf",
]


def _state(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return status.st_mtime_ns, status.st_size


@pytest.fixture(autouse=True)
def nothing_written_outside_tmp() -> Iterator[None]:
    """Fail the test if any real pip, uv or netrc file (or its .bak) was created or changed."""
    watched = [*_WATCHED, *(p.with_name(p.name + ".bak") for p in _WATCHED)]
    before = {path: _state(path) for path in watched}
    yield
    assert {path: _state(path) for path in watched} == before


@pytest.fixture(scope="module")
def mirror_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mirror of a local upstream holding PROBE 1.0 and 2.0 (not served yet)."""
    root = tmp_path_factory.mktemp("client-mirror")
    with LocalIndex() as index:
        index.add(build_wheel(PROBE, "1.0"))
        index.add(build_wheel(PROBE, "2.0"))
        config = write_config(root, index.url, [PROBE], extra_packages=EVERY_VERSION)
        assert main(["mirror", "-c", str(config)]) == 0
    return config


@pytest.fixture(scope="module")
def served(mirror_config: Path) -> Iterator[str]:
    """The base URL of `cellar serve` for the mirror, open to all."""
    with cellar_serve(mirror_config) as base:
        yield base


@pytest.fixture(scope="module")
def served_with_login(mirror_config: Path) -> Iterator[tuple[Path, str]]:
    """(config, base URL) of `cellar serve` for the same mirror, asking for USER and PASSWORD."""
    digest = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    (mirror_config.parent / "htpasswd").write_text(f"{USER}:{digest}\n", encoding="utf-8")
    config = mirror_config.with_name("login.toml")
    config.write_text(
        mirror_config.read_text(encoding="utf-8") + '[serve]\nhtpasswd = "htpasswd"\n',
        encoding="utf-8",
    )
    with cellar_serve(config) as base:
        yield config, base


def file_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment whose pip and uv read configuration files, all of them under tmp_path."""
    env = clean_env(tmp_path / "installer")
    for name in ("PIP_CONFIG_FILE", "UV_NO_CONFIG", "CELLAR_CONFIG"):
        env.pop(name, None)
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    env["XDG_CONFIG_DIRS"] = str(tmp_path / "xdg-dirs")
    env.update(extra)
    return env


def run(
    command: Sequence[object], env: Mapping[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return run_command([str(part) for part in command], env, cwd)


def cellar(
    *args: str | Path, env: Mapping[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run `python -m cellar client-config *args` in ``cwd`` (never the repository)."""
    return run([sys.executable, "-m", "cellar", "client-config", *args], env, cwd)


def pip(
    python: Path, *args: str, env: Mapping[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run the venv's pip with no index option: whatever it uses comes from its configuration."""
    return run([python, "-m", "pip", *args], env, cwd)


def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir(exist_ok=True)
    return path


# -- pip --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_pip_reads_the_venv_file_written_and_installs_from_the_mirror(
    served: str,
    tmp_path: Path,
) -> None:
    env = file_env(tmp_path)
    venv = tmp_path / "venv"
    python = make_venv(venv, env=env)
    conf = venv / "pip.conf"
    conf.write_text("# written by hand\n[list]\nformat = columns\n", encoding="utf-8")
    env["VIRTUAL_ENV"] = str(venv)
    index_url = f"{served}simple/"

    written = cellar("--url", served, "--write", "pip", "--scope", "venv", env=env, cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert f"wrote {conf}" in written.stdout
    text = conf.read_text(encoding="utf-8")
    assert text.startswith("# written by hand\n[list]\nformat = columns\n")
    assert f"index-url = {index_url}" in text

    listed = pip(python, "config", "list", env=env, cwd=tmp_path)
    assert f"global.index-url='{index_url}'" in listed.stdout, listed.stdout + listed.stderr
    assert "list.format='columns'" in listed.stdout
    debug = pip(python, "config", "debug", env=env, cwd=tmp_path).stdout
    assert f"{conf}, exists: True" in debug
    assert f"global.index-url: {index_url}" in debug

    installed = pip(python, "install", "--no-cache-dir", PROBE, env=env, cwd=tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert f"Looking in indexes: {index_url}" in installed.stdout
    assert imported_version(python, "cellar_client_probe") == "2.0"
    # The venv scope touched the venv alone.
    assert not (tmp_path / "xdg" / "pip").exists()
    assert not (tmp_path / "installer" / "home" / ".config").exists()


@pytest.mark.slow
def test_pip_reads_the_user_file_written(served: str, tmp_path: Path) -> None:
    env = file_env(tmp_path)
    python = make_venv(tmp_path / "venv", env=env)
    conf = tmp_path / "xdg" / "pip" / "pip.conf"

    written = cellar("--url", served, "--write", "pip", "--scope", "user", env=env, cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert f"wrote {conf}" in written.stdout
    debug = pip(python, "config", "debug", env=env, cwd=tmp_path).stdout
    assert f"{conf}, exists: True" in debug
    installed = pip(python, "install", "--no-cache-dir", f"{PROBE}==1.0", env=env, cwd=tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert imported_version(python, "cellar_client_probe") == "1.0"


@pytest.mark.slow
def test_what_else_pip_reads_is_named_and_is_what_pip_does(served: str, tmp_path: Path) -> None:
    """A user file's extra-index-url, PIP_FIND_LINKS and a global [install] index-url defeat a
    venv file that names the mirror: each is named with where it comes from, and pip really
    does as the warnings say (it takes the probe from find-links, not from the mirror)."""
    links = tmp_path / "links"
    links.mkdir()
    wheel = build_wheel(PROBE, "9.0")
    (links / wheel.filename).write_bytes(wheel.data)
    env = file_env(tmp_path, PIP_FIND_LINKS=str(links))
    venv = tmp_path / "venv"
    python = make_venv(venv, env=env)
    env["VIRTUAL_ENV"] = str(venv)
    user = tmp_path / "xdg" / "pip" / "pip.conf"
    user.parent.mkdir(parents=True)
    user.write_text("[global]\nextra-index-url = http://127.0.0.1:9/other/\n", encoding="utf-8")

    written = cellar("--url", served, "--write", "pip", "--scope", "venv", env=env, cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert (
        f"{user} [global] sets extra-index-url: pip searches http://127.0.0.1:9/other too"
        in written.stderr
    )
    assert f"PIP_FIND_LINKS sets find-links: pip also takes files from {links}" in written.stderr
    installed = pip(python, "install", "--no-cache-dir", "--no-index", PROBE, env=env, cwd=tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert imported_version(python, "cellar_client_probe") == "9.0"  # as warned: not the mirror

    # An [install] index-url in a global file wins over [global] in the venv's own file.
    system = tmp_path / "xdg-dirs" / "pip" / "pip.conf"
    system.parent.mkdir(parents=True)
    system.write_text("[install]\nindex-url = http://127.0.0.1:9/simple/\n", encoding="utf-8")
    again = cellar("--url", served, "--write", "pip", "--scope", "venv", env=env, cwd=tmp_path)
    assert f"{system} [install] sets index-url = http://127.0.0.1:9/simple, which wins" in (
        again.stderr
    )
    assert "already uses the mirror" in again.stdout


@pytest.mark.parametrize("config_file", ["none", "existing", "missing", "devnull"])
def test_the_files_named_are_the_files_pip_reads(tmp_path: Path, config_file: str) -> None:
    """``pip_files`` lists what `pip config debug` says pip reads, in pip's order."""
    env = file_env(tmp_path)
    env["XDG_CONFIG_DIRS"] = f"{tmp_path / 'one'}:{tmp_path / 'two'}"
    venv = tmp_path / "venv"
    python = make_venv(venv, env=env)
    env["VIRTUAL_ENV"] = str(venv)
    if config_file != "none":
        named = os.devnull if config_file == "devnull" else str(tmp_path / "named.conf")
        env["PIP_CONFIG_FILE"] = named
        if config_file == "existing":
            Path(named).write_text("[global]\ntimeout = 5\n", encoding="utf-8")
    machine = Machine("linux", env, Path(env["HOME"]), tmp_path)
    if config_file == "devnull":
        # pip still lists its files in `config debug`, but loads none of them.
        (tmp_path / "one" / "pip").mkdir(parents=True)
        (tmp_path / "one" / "pip" / "pip.conf").write_text("[global]\ntimeout = 7\n")
        listed = pip(python, "config", "list", env=env, cwd=tmp_path)
        assert listed.returncode == 0 and "timeout" not in listed.stdout, listed.stdout
        assert pip_files(machine) == []
        return
    debug = pip(python, "config", "debug", env=env, cwd=tmp_path)
    assert debug.returncode == 0, debug.stderr
    variants: dict[str, list[str]] = {}
    current = ""
    for line in debug.stdout.splitlines():
        if not line.startswith(" "):
            current = line.rstrip(":")
        elif ", exists: " in line and line.startswith("  ") and not line.startswith("   "):
            variants.setdefault(current, []).append(line.strip().rsplit(", exists: ", 1)[0])
    order = ("global", "user", "site", "env")  # pip's loading order (configuration.py)
    expected = [path for variant in order for path in variants.get(variant, [])]
    assert [str(path) for path in pip_files(machine)] == expected


@pytest.mark.slow
def test_environment_variables_printed_for_sh_work_in_bash(
    served: str,
    tmp_path: Path,
    installer_env: dict[str, str],
) -> None:
    # installer_env reads no configuration file at all: the variables alone must do it.
    python = make_venv(tmp_path / "venv", env=installer_env)
    uv_python = uv_venv(tmp_path / "uv-venv", env=installer_env)
    script = (
        f'eval "$({shlex.quote(sys.executable)} -m cellar client-config --url {served} '
        '--shell sh)" && '
        f"{shlex.quote(str(python))} -m pip install --no-cache-dir {PROBE} && "
        f"{shlex.quote(str(find_uv()))} pip install --no-cache --python "
        f"{shlex.quote(str(uv_python))} {PROBE}==1.0"
    )
    result = run(["bash", "-c", script], installer_env, workdir(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert imported_version(python, "cellar_client_probe") == "2.0"
    assert imported_version(uv_python, "cellar_client_probe") == "1.0"


# -- uv ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_uv_reads_the_user_uv_toml_written(served: str, tmp_path: Path) -> None:
    env = file_env(tmp_path)
    python = uv_venv(tmp_path / "venv", env=env)
    uv_toml = tmp_path / "xdg" / "uv" / "uv.toml"
    uv_toml.parent.mkdir(parents=True)
    uv_toml.write_text("# mine\nnative-tls = false  # keep\n", encoding="utf-8")

    written = cellar("--url", served, "--write", "uv", "--scope", "user", env=env, cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert uv_toml.read_text(encoding="utf-8").startswith("# mine\nnative-tls = false  # keep\n")

    command = [find_uv(), "pip", "install", "--no-cache", "--python", python, PROBE]
    installed = run(command, env, workdir(tmp_path))
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert imported_version(python, "cellar_client_probe") == "2.0"


@pytest.mark.slow
def test_uv_locks_a_project_from_the_pyproject_toml_written(served: str, tmp_path: Path) -> None:
    env = file_env(tmp_path)
    project = tmp_path / "app"
    project.mkdir()
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "app"  # the app\nversion = "0.1"\nrequires-python = ">=3.9"\n'
        f'dependencies = ["{PROBE}"]\n',
        encoding="utf-8",
    )
    written = cellar("--url", served, "--write", "uv", "--scope", "project", env=env, cwd=project)
    assert written.returncode == 0, written.stderr
    assert f"wrote {pyproject}" in written.stdout
    text = pyproject.read_text(encoding="utf-8")
    assert 'name = "app"  # the app' in text and "[[tool.uv.index]]" in text
    assert not (project / "uv.toml").exists()

    locked = run([find_uv(), "lock", "--python", sys.executable], env, project)
    assert locked.returncode == 0, locked.stdout + locked.stderr
    lock = (project / "uv.lock").read_text(encoding="utf-8")
    assert f'source = {{ registry = "{served}simple/" }}' in lock
    assert 'version = "2.0"' in lock


# -- a mirror that asks for a login -----------------------------------------------------------


@pytest.mark.slow
def test_with_a_login_pip_uses_netrc_and_uv_its_index_variables(
    served_with_login: tuple[Path, str],
    tmp_path: Path,
) -> None:
    config, base = served_with_login
    env = file_env(tmp_path)
    work = workdir(tmp_path)
    report = cellar("-c", config, "--url", base, "--user", USER, env=env, cwd=work)
    assert report.returncode == 0, report.stderr
    assert PASSWORD not in report.stdout and "open%3Asesame" not in report.stdout
    machine_line = next(
        line.strip() for line in report.stdout.splitlines() if line.strip().startswith("machine")
    )
    assert machine_line == f"machine 127.0.0.1 login {USER} password <password>"

    python = make_venv(tmp_path / "venv", env=env)
    assert cellar("-c", config, "--url", base, "--write", "pip", env=env, cwd=work).returncode == 0
    refused = pip(python, "install", "--no-cache-dir", "--no-input", PROBE, env=env, cwd=work)
    assert refused.returncode != 0  # the server does ask for a login
    netrc = Path(env["HOME"]) / ".netrc"
    netrc.write_text(machine_line.replace("<password>", PASSWORD) + "\n", encoding="utf-8")
    netrc.chmod(0o600)
    installed = pip(python, "install", "--no-cache-dir", PROBE, env=env, cwd=work)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    netrc.unlink()

    uv_python = uv_venv(tmp_path / "uv-venv", env=env)
    assert cellar("-c", config, "--url", base, "--write", "uv", env=env, cwd=work).returncode == 0
    command = [find_uv(), "pip", "install", "--no-cache", "--python", uv_python, f"{PROBE}==1.0"]
    variables = {
        "UV_INDEX_CELLAR_USERNAME": USER,
        "UV_INDEX_CELLAR_PASSWORD": PASSWORD,
    }
    assert f"UV_INDEX_CELLAR_USERNAME={USER}" in report.stdout
    installed = run(command, {**env, **variables}, work)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert imported_version(uv_python, "cellar_client_probe") == "1.0"


@pytest.mark.slow
def test_credentials_shown_on_request_work_in_bash(
    served_with_login: tuple[Path, str],
    tmp_path: Path,
    installer_env: dict[str, str],
) -> None:
    config, base = served_with_login
    python = make_venv(tmp_path / "venv", env=installer_env)
    env = {**installer_env, "MIRROR_PASSWORD": PASSWORD}
    printed = cellar(
        *("-c", config, "--url", base, "--user", USER, "--show-credentials"),
        *("--password-env", "MIRROR_PASSWORD", "--shell", "sh"),
        env=env,
        cwd=workdir(tmp_path),
    )
    assert printed.returncode == 0, printed.stderr
    assert "alice:open%3Asesame%401@127.0.0.1" in printed.stdout
    script = f"{printed.stdout}\n{shlex.quote(str(python))} -m pip install --no-cache-dir {PROBE}"
    result = run(["bash", "-c", script], installer_env, workdir(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


# -- the command itself -----------------------------------------------------------------------


def test_refusals_exit_2_with_what_to_do(tmp_path: Path) -> None:
    env = file_env(tmp_path)
    env.pop("VIRTUAL_ENV", None)
    env.pop("CONDA_PREFIX", None)
    url = "http://pypi.example.org/"
    cases = [
        (("--write", "pip", "--scope", "venv"), "needs an active virtual environment"),
        (("--write", "pip", "--scope", "project"), "pip has no project configuration file"),
        (("--write", "uv", "--scope", "venv"), "uv has no per-virtualenv configuration file"),
        (("--show-credentials",), "--show-credentials needs --user NAME"),
        (("--user", "bob", "--show-credentials"), "--password-env"),
        (("--user", "bob", "--show-credentials", "--password-env", "NOT_SET_X"), "NOT_SET_X"),
        (("--url", "ftp://pypi.example.org/"), "http:// or https://"),
    ]
    for args, message in cases:
        given = args if "--url" in args else ("--url", url, *args)
        result = subprocess.run(
            [sys.executable, "-m", "cellar", "client-config", *given],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "xdg").exists()
    # Without --url there must be a configuration to read the URL from.
    missing = cellar(env=env, cwd=tmp_path)
    assert missing.returncode == 2 and "cellar.toml" in missing.stderr


def test_the_url_and_login_come_from_the_configuration(tmp_path: Path) -> None:
    env = file_env(tmp_path)
    config = tmp_path / "cellar.toml"
    config.write_text(
        '[mirror]\ndirectory = "m"\n[packages]\ndependencies = false\n'
        '[serve]\nurl = "https://pypi.example.org/"\nhtpasswd = "htpasswd"\n',
        encoding="utf-8",
    )
    printed = cellar(env=env, cwd=tmp_path)  # ./cellar.toml, as every command reads it
    assert printed.returncode == 0, printed.stderr
    assert "index-url = https://pypi.example.org/simple/" in printed.stdout
    assert "trusted-host" not in printed.stdout
    assert "https://<user>:<password>@pypi.example.org/simple/" in printed.stdout
    windows = cellar("--os", "windows", env=env, cwd=tmp_path)
    assert r"%APPDATA%\pip\pip.ini" in windows.stdout
    overridden = cellar("--url", "http://10.0.0.7:8080", "--shell", "sh", env=env, cwd=tmp_path)
    assert overridden.stdout == (
        "export PIP_INDEX_URL='http://10.0.0.7:8080/simple/'\n"
        "export PIP_TRUSTED_HOST='10.0.0.7:8080'\n"
        "export UV_DEFAULT_INDEX='http://10.0.0.7:8080/simple/'\n"
    )


def test_write_shows_a_diff_keeps_a_backup_follows_links_and_is_idempotent(tmp_path: Path) -> None:
    env = file_env(tmp_path)
    dotfiles = tmp_path / "dotfiles" / "pip.conf"
    dotfiles.parent.mkdir()
    original = "# my settings\n[global]\ntimeout = 30\n\n[freeze]\nall = true\n"
    dotfiles.write_text(original, encoding="utf-8")
    dotfiles.chmod(0o640)
    link = tmp_path / "xdg" / "pip" / "pip.conf"
    link.parent.mkdir(parents=True)
    link.symlink_to(dotfiles)
    args = ("--url", "http://pypi.example.org:8080", "--write", "pip")

    dry = cellar(*args, "--dry-run", env=env, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "+index-url = http://pypi.example.org:8080/simple/" in dry.stdout
    assert "+trusted-host = pypi.example.org:8080" in dry.stdout
    assert "not written" in dry.stdout
    assert dotfiles.read_text(encoding="utf-8") == original

    written = cellar(*args, env=env, cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert link.is_symlink()  # the link is kept; the file it points to is changed
    assert dotfiles.read_text(encoding="utf-8") == (
        "# my settings\n[global]\ntimeout = 30\nindex-url = http://pypi.example.org:8080/simple/\n"
        "trusted-host = pypi.example.org:8080\n\n[freeze]\nall = true\n"
    )
    assert stat.S_IMODE(dotfiles.stat().st_mode) == 0o640
    backup = dotfiles.with_name("pip.conf.bak")
    assert backup.read_text(encoding="utf-8") == original
    assert f"kept as {backup}" in written.stdout
    assert not [p for p in dotfiles.parent.iterdir() if p.name.endswith(".part")]

    again = cellar(*args, env=env, cwd=tmp_path)
    assert again.returncode == 0 and "nothing written" in again.stdout
    assert backup.read_text(encoding="utf-8") == original


def test_credentials_are_written_only_on_request_and_then_privately(tmp_path: Path) -> None:
    env = file_env(tmp_path, MIRROR_PASSWORD="pw")  # noqa: S106 - a made-up password
    args = ("--url", "https://pypi.example.org/", "--user", USER, "--write", "uv")
    uv_toml = tmp_path / "xdg" / "uv" / "uv.toml"
    assert cellar(*args, env=env, cwd=tmp_path).returncode == 0
    assert USER not in uv_toml.read_text(encoding="utf-8")
    assert stat.S_IMODE(uv_toml.stat().st_mode) == 0o644
    shown = ("--show-credentials", "--password-env", "MIRROR_PASSWORD")
    assert cellar(*args, *shown, env=env, cwd=tmp_path).returncode == 0
    assert 'url = "https://alice:pw@pypi.example.org/simple/"' in uv_toml.read_text("utf-8")
    assert stat.S_IMODE(uv_toml.stat().st_mode) == 0o600
    # Never into a project's files, which end up in version control.
    project = cellar(*args, *shown, "--scope", "project", env=env, cwd=tmp_path)
    assert project.returncode == 0
    assert "alice" not in (tmp_path / "uv.toml").read_text(encoding="utf-8")
    assert "UV_INDEX_CELLAR_USERNAME" in project.stderr


def test_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cellar", "client-config", "--help"],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "CELLAR_CONFIG"},
    )
    assert result.returncode == 0
    for option in ("--write", "--scope", "--dry-run", "--show-credentials", "--shell", "--os"):
        assert option in result.stdout
