"""Where pip and uv read their configuration on a machine, and writing the mirror into it safely.

``pip_file`` and ``uv_file`` (and ``pip_files``, every file pip reads) follow pip's and uv's own
rules (pip: ``pip._internal.configuration`` and its ``appdirs``; uv: its configuration-files
documentation) from a ``Machine``: the system,
its environment variables, the home and working directories. ``plan_write`` reads the file there
and merges the mirror into it (``merge``); ``write_planned`` puts the result in place by
writing a temporary file beside it and renaming it, after keeping the old one as ``<name>.bak``.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import shutil
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Final, Literal

from cellar.clients import INDEX_NAME, ClientAccess, ClientConfigError, OsName, current_os
from cellar.clients.effective import pip_overrides, pip_settings
from cellar.clients.merge import (
    UnreadableClientFileError,
    merge_pip_conf,
    merge_uv_toml,
    read_pip_conf,
)
from cellar.tree.atomic import temp_path

Tool = Literal["pip", "uv"]
#: pip has user, global and venv files; uv has user, global and project ones.
Scope = Literal["user", "global", "venv", "project"]
BACKUP_SUFFIX: Final = ".bak"


class ScopeError(ClientConfigError):
    """A scope that makes no sense here (no active virtualenv, pip has no project scope, ...)."""


class ClientFileError(ClientConfigError):
    """A configuration file that cannot be read, merged or written; names the file."""

    def __init__(self, path: PurePath, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Machine:
    """What decides where a tool's files are: the system, environment, home and working dir."""

    os_name: OsName
    environ: Mapping[str, str]
    home: PurePath
    cwd: PurePath

    @classmethod
    def current(cls) -> Machine:
        """Return this machine as the running process sees it."""
        return cls(current_os(), dict(os.environ), Path.home(), Path.cwd())

    def path(self, *parts: str) -> PurePath:
        """Return a path of this machine's kind made of ``parts``."""
        return PureWindowsPath(*parts) if self.os_name == "windows" else PurePosixPath(*parts)

    def xdg(self, variable: str, default: PurePath) -> PurePath:
        """Return ``$variable`` when it is an absolute path (as XDG asks), else ``default``."""
        value = self.environ.get(variable, "").strip()
        return PurePosixPath(value) if value.startswith("/") else default


def _exists(path: PurePath) -> bool:
    return Path(path).exists()


def pip_file(
    scope: Scope, machine: Machine, exists: Callable[[PurePath], bool] = _exists
) -> PurePath:
    """Return the pip configuration file of ``scope`` that wins over the others of its scope.

    Raises ``ScopeError`` when the scope makes no sense on ``machine``.
    """
    name = "pip.ini" if machine.os_name == "windows" else "pip.conf"
    if scope == "venv":
        prefix = machine.environ.get("VIRTUAL_ENV") or machine.environ.get("CONDA_PREFIX")
        if not prefix:
            raise ScopeError(
                "--scope venv needs an active virtual environment, but neither VIRTUAL_ENV nor "
                "CONDA_PREFIX is set: activate it first, or use --scope user"
            )
        if not exists(machine.path(prefix)):
            raise ScopeError(f"the active virtual environment {prefix} does not exist")
        return machine.path(prefix, name)
    if scope == "user":
        return _pip_user_directory(machine, exists) / name
    if scope == "global":
        if machine.os_name == "windows":
            return machine.path(
                machine.environ.get("PROGRAMDATA") or r"C:\ProgramData", "pip", name
            )
        if machine.os_name == "macos":
            return PurePosixPath("/Library/Application Support/pip", name)
        return PurePosixPath("/etc", name)  # read after $XDG_CONFIG_DIRS/pip/pip.conf: it wins
    raise ScopeError("pip has no project configuration file; use --scope venv, user or global")


def pip_files(machine: Machine, exists: Callable[[PurePath], bool] = _exists) -> list[PurePath]:
    """Return every configuration file pip reads on ``machine``, in its order (later ones win).

    The global files, the user files unless ``PIP_CONFIG_FILE`` names a file that exists, the
    active environment's file (pip reads its own ``sys.prefix``'s: the active virtualenv or
    conda environment is taken for it), then ``PIP_CONFIG_FILE``; none at all when that is
    ``os.devnull``. Files that do not exist are listed too, as pip lists them.
    """
    name = "pip.ini" if machine.os_name == "windows" else "pip.conf"
    config_file = machine.environ.get("PIP_CONFIG_FILE")
    if config_file == os.devnull:
        return []
    if machine.os_name == "linux":
        dirs = machine.environ.get("XDG_CONFIG_DIRS", "").strip() or "/etc/xdg"
        files: list[PurePath] = [PurePosixPath(d, "pip", name) for d in dirs.split(":") if d]
        files.append(PurePosixPath("/etc", name))
    else:
        files = [pip_file("global", machine, exists)]
    if not (config_file and exists(machine.path(config_file))):
        legacy = "pip" if machine.os_name == "windows" else ".pip"
        home = machine.environ.get("USERPROFILE") if machine.os_name == "windows" else None
        files.append(machine.path(home, legacy, name) if home else machine.home / legacy / name)
        with contextlib.suppress(ScopeError):  # no APPDATA on Windows: pip has no such file
            files.append(_pip_user_directory(machine, exists) / name)
    prefix = machine.environ.get("VIRTUAL_ENV") or machine.environ.get("CONDA_PREFIX")
    if prefix:
        files.append(machine.path(prefix, name))
    if config_file:
        files.append(machine.path(config_file))
    return files


def _pip_user_directory(machine: Machine, exists: Callable[[PurePath], bool]) -> PurePath:
    if machine.os_name == "windows":
        if not machine.environ.get("APPDATA"):
            raise ScopeError("APPDATA is not set, so there is no user pip.ini to write")
        return machine.path(machine.environ["APPDATA"], "pip")
    if machine.os_name == "macos":
        support = machine.home / "Library" / "Application Support" / "pip"
        if exists(support):
            return support
    return machine.xdg("XDG_CONFIG_HOME", machine.home / ".config") / "pip"


def uv_file(
    scope: Scope, machine: Machine, exists: Callable[[PurePath], bool] = _exists
) -> PurePath:
    """Return the uv configuration file of ``scope``: ``uv.toml``, or for ``project`` the
    directory's ``pyproject.toml`` when it has one and no ``uv.toml``.

    Raises ``ScopeError`` when the scope makes no sense for uv.
    """
    env = machine.environ
    if scope == "project":
        uv_toml = machine.cwd / "uv.toml"
        pyproject = machine.cwd / "pyproject.toml"
        return pyproject if exists(pyproject) and not exists(uv_toml) else uv_toml
    if scope == "user":
        if machine.os_name == "windows":
            if not env.get("APPDATA"):
                raise ScopeError("APPDATA is not set, so there is no user uv.toml to write")
            return machine.path(env["APPDATA"], "uv", "uv.toml")
        return machine.xdg("XDG_CONFIG_HOME", machine.home / ".config") / "uv" / "uv.toml"
    if scope == "global":
        if machine.os_name == "windows":
            drive = env.get("SYSTEMDRIVE") or "C:"
            return PureWindowsPath(f"{drive}\\", "ProgramData", "uv", "uv.toml")
        # uv reads the first of these that exists; write that one, else the last.
        directories = [
            PurePosixPath(d.strip())
            for d in env.get("XDG_CONFIG_DIRS", "").split(":")
            if d.strip().startswith("/")
        ] or [PurePosixPath("/etc/xdg")]
        candidates = [d / "uv" / "uv.toml" for d in directories]
        return next((c for c in candidates if exists(c)), PurePosixPath("/etc/uv/uv.toml"))
    raise ScopeError(
        "uv has no per-virtualenv configuration file; use --scope project (uv.toml or "
        "pyproject.toml in this directory), user or global"
    )


@dataclass(frozen=True, slots=True)
class PlannedWrite:
    """What writing the mirror into one file would do: its text before and after, in words."""

    path: Path
    old_text: str | None
    new_text: str
    changes: tuple[str, ...]
    warnings: tuple[str, ...]
    #: The file holds credentials: written readable by its owner alone.
    private: bool

    @property
    def changed(self) -> bool:
        """True when the file would be created or its text would change."""
        return self.old_text != self.new_text

    def diff(self) -> str:
        """Return the change as a unified diff (empty when nothing changes)."""
        old = _diff_lines(self.old_text or "")
        new = _diff_lines(self.new_text)
        source = str(self.path) if self.old_text is not None else "/dev/null"
        return "".join(difflib.unified_diff(old, new, source, str(self.path)))


def _diff_lines(text: str) -> list[str]:
    return [line if line.endswith("\n") else f"{line}\n" for line in text.splitlines(True)]


def plan_write(tool: Tool, scope: Scope, access: ClientAccess, machine: Machine) -> PlannedWrite:
    """Return what writing the mirror into ``tool``'s ``scope`` file on ``machine`` would do.

    The file's other settings and comments are kept; a symbolic link is followed so the file it
    points to is the one changed. Credentials are written only when ``access`` shows them, and
    never into a project's files (they end up in version control). Raises ``ScopeError`` for a
    scope that makes no sense and ``ClientFileError`` for a file that cannot be read or merged.
    """
    where = pip_file(scope, machine) if tool == "pip" else uv_file(scope, machine)
    path = Path(os.path.realpath(where))
    private = access.credentials_shown and scope != "project"
    url = access.url if private else access.index_url
    try:
        old = path.read_bytes() if path.exists() else None
        if tool == "pip":
            text = None if old is None else old.decode("utf-8", "surrogateescape")
            merge = merge_pip_conf(text, url, access.trusted_host)
        else:
            text = None if old is None else old.decode("utf-8")
            merge = merge_uv_toml(text, url, pyproject=path.name == "pyproject.toml")
    except UnicodeDecodeError:
        raise ClientFileError(path, "not UTF-8, which uv cannot read either") from None
    except OSError as error:
        raise ClientFileError(path, f"cannot read it: {error.strerror}") from None
    except ClientConfigError as error:
        raise ClientFileError(path, str(error)) from None
    warnings = [*merge.warnings, *_environment_warnings(tool, scope, machine.environ)]
    if tool == "pip":
        warnings += _pip_effective_warnings(machine, path, merge.text, access.index_url)
        if access.https_by_address:
            warnings.append(
                "pip 24.2 to 26.0 cannot verify an HTTPS index named by IP address: give the "
                "mirror a host name and a certificate for it"
            )
    if access.credentials_shown and not private:
        warnings.append(
            "credentials are never written into a project's files: give them in "
            f"UV_INDEX_{INDEX_NAME.upper()}_USERNAME and UV_INDEX_{INDEX_NAME.upper()}_PASSWORD"
            " or ~/.netrc"
        )
    return PlannedWrite(path, text, merge.text, merge.changes, tuple(warnings), private)


def _pip_effective_warnings(
    machine: Machine, written: Path, text: str, index_url: str
) -> list[str]:
    """Return what, in every file and variable pip reads besides ``written`` (as it will read
    once ``text`` is in it), keeps ``pip install`` from using the mirror alone."""
    files: list[tuple[str, dict[str, dict[str, str]]]] = []
    warnings = []
    for where in pip_files(machine):
        path = Path(os.path.realpath(where))
        try:
            if path == written:
                files.append((str(written), read_pip_conf(text)))
            elif path.is_file():
                files.append((str(where), read_pip_conf(path.read_text(encoding="utf-8"))))
        except (OSError, UnicodeDecodeError, UnreadableClientFileError) as error:
            warnings.append(f"{where}: pip cannot read it either ({error}); fix or remove it")
    settings = pip_settings(files, machine.environ)
    return [*warnings, *pip_overrides(settings, index_url, written=str(written))]


def _environment_warnings(tool: Tool, scope: Scope, environ: Mapping[str, str]) -> list[str]:
    warnings = []
    if tool == "pip":
        config_file = environ.get("PIP_CONFIG_FILE")
        if config_file == os.devnull:
            warnings.append(f"PIP_CONFIG_FILE is {os.devnull}: pip reads no configuration file")
        elif config_file:
            skipped = " and skips the user files while it exists" if scope == "user" else ""
            warnings.append(
                f"PIP_CONFIG_FILE is set: pip reads {config_file} after this file (its settings "
                f"win){skipped}"
            )
        return warnings  # the PIP_* variables are read with the files (``effective``)
    if environ.get("UV_CONFIG_FILE"):
        warnings.append(f"UV_CONFIG_FILE is set: uv reads {environ['UV_CONFIG_FILE']} alone")
    if environ.get("UV_NO_CONFIG"):
        warnings.append("UV_NO_CONFIG is set: uv reads no configuration file")
    names = ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "UV_INDEX", "UV_EXTRA_INDEX_URL")
    warnings.extend(
        f"{name} is set in this environment and wins over every file"
        for name in names
        if environ.get(name)
    )
    return warnings


def write_planned(plan: PlannedWrite, *, global_scope: bool = False) -> Path | None:
    """Write ``plan`` atomically; return the backup of the old file (None when there was none).

    The old file is kept as ``<name>.bak``; the new one keeps its mode (readable by its owner
    alone when it holds credentials). Raises ``ClientFileError`` when it cannot be written.
    """
    path = plan.path
    backup = path.with_name(path.name + BACKUP_SUFFIX) if plan.old_text is not None else None
    temps: list[Path] = []
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = stat.S_IMODE(path.stat().st_mode) if backup is not None else 0o644
        if plan.private:
            mode &= 0o700
        if backup is not None:
            kept = temp_path(path.parent, backup.name)
            temps.append(kept)
            shutil.copy2(path, kept)
            kept.replace(backup)
        temp = temp_path(path.parent, path.name)
        temps.append(temp)
        with temp.open("wb") as stream:
            stream.write(plan.new_text.encode("utf-8", "surrogateescape"))
            stream.flush()
            os.fsync(stream.fileno())
        temp.chmod(mode)
        temp.replace(path)
    except OSError as error:
        hint = ""
        if isinstance(error, PermissionError) and global_scope:
            hint = " (the global file needs root or administrator rights; --scope user is yours)"
        raise ClientFileError(path, f"cannot write it: {error.strerror}{hint}") from None
    finally:
        for leftover in temps:
            leftover.unlink(missing_ok=True)
    return backup
