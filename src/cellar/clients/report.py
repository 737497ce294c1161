"""The whole of ``cellar client-config``'s printed advice, per system (pure).

Sections for pip, uv, environment variables, poetry and pdm, conda and pixi, and, when the
mirror asks for a login, credentials. The snippets come from ``clients``; the tables below say
where each tool reads its files, as pip's source (``pip._internal.configuration``) and uv's
documentation say.
"""

from __future__ import annotations

from typing import Final

from cellar.clients import (
    INDEX_NAME,
    ClientAccess,
    OsName,
    env_assignments,
    pip_conf,
    toml_string,
    uv_credential_variables,
    uv_toml,
)

#: Where pip reads its configuration, per system and scope: within a scope later files win,
#: and venv wins over user, which wins over global.
PIP_LOCATIONS: Final[dict[OsName, tuple[tuple[str, str], ...]]] = {
    "linux": (
        ("global", "/etc/xdg/pip/pip.conf (each $XDG_CONFIG_DIRS entry), then /etc/pip.conf"),
        (
            "user",
            "~/.pip/pip.conf (legacy), then $XDG_CONFIG_HOME/pip/pip.conf "
            "(by default ~/.config/pip/pip.conf)",
        ),
        ("venv", "$VIRTUAL_ENV/pip.conf (a conda environment: $CONDA_PREFIX/pip.conf)"),
    ),
    "macos": (
        ("global", "/Library/Application Support/pip/pip.conf"),
        (
            "user",
            "~/.pip/pip.conf (legacy), then ~/Library/Application Support/pip/pip.conf "
            "if that folder exists, else ~/.config/pip/pip.conf",
        ),
        ("venv", "$VIRTUAL_ENV/pip.conf (a conda environment: $CONDA_PREFIX/pip.conf)"),
    ),
    "windows": (
        ("global", r"C:\ProgramData\pip\pip.ini"),
        ("user", r"%USERPROFILE%\pip\pip.ini (legacy), then %APPDATA%\pip\pip.ini"),
        ("venv", r"%VIRTUAL_ENV%\pip.ini (a conda environment: %CONDA_PREFIX%\pip.ini)"),
    ),
}

_UV_XDG: Final = (
    ("project", "uv.toml, else pyproject.toml [tool.uv], here or in the nearest parent"),
    ("user", "$XDG_CONFIG_HOME/uv/uv.toml (by default ~/.config/uv/uv.toml)"),
    (
        "global",
        "the first that exists of $XDG_CONFIG_DIRS/uv/uv.toml (by default "
        "/etc/xdg/uv/uv.toml) and /etc/uv/uv.toml",
    ),
)
#: Where uv finds ``uv.toml``: the project's wins over the user's, which wins over the system's.
UV_LOCATIONS: Final[dict[OsName, tuple[tuple[str, str], ...]]] = {
    "linux": _UV_XDG,
    "macos": _UV_XDG,  # uv follows XDG on macOS too
    "windows": (
        ("project", "uv.toml, else pyproject.toml [tool.uv], here or in the nearest parent"),
        ("user", r"%APPDATA%\uv\uv.toml"),
        ("global", r"%SYSTEMDRIVE%\ProgramData\uv\uv.toml"),
    ),
}

_OS_TITLES: Final[dict[OsName, str]] = {"linux": "Linux", "macos": "macOS", "windows": "Windows"}


def render_report(access: ClientAccess, os_name: OsName) -> str:
    """Return everything a user of the mirror needs, for pip, uv, poetry, pdm and conda."""
    sections = [
        f"Cellar mirror: {access.url}\n"
        f"(files and shells for {_OS_TITLES[os_name]}; --os linux, macos or windows for others)",
        _pip(access, os_name),
        _uv(access, os_name),
        _environment(access, os_name),
        _poetry_and_pdm(access),
        _conda_and_pixi(access, os_name),
    ]
    if access.auth:
        sections.append(_credentials(access, os_name))
    return "\n\n".join(section.strip("\n") for section in sections) + "\n"


def _block(text: str) -> str:
    """``text`` indented as a block to copy, with a blank line before and after it."""
    lines = "".join(f"    {line}" if line.strip() else line for line in text.splitlines(True))
    return f"\n{lines.rstrip()}\n\n"


def _table(rows: tuple[tuple[str, str], ...]) -> str:
    return "".join(f"  {scope:<8}{where}\n" for scope, where in rows)


def _pip(access: ClientAccess, os_name: OsName) -> str:
    name = "pip.ini" if os_name == "windows" else "pip.conf"
    text = f"== pip ==\n{name}:\n{_block(pip_conf(access))}"
    if access.trusted_host:
        text += "trusted-host: the mirror speaks plain HTTP, which pip refuses from a host it\n"
        text += "is not told to trust.\n"
    if access.https_by_address:
        text += "Warning: pip 24.2 to 26.0 cannot verify an HTTPS index named by IP address\n"
        text += "(check_hostname requires server_hostname): give the mirror a host name and a\n"
        text += "certificate for it ([serve] url).\n"
    return (
        f"{text}pip reads (later wins; `pip config debug` lists the files yours reads):\n"
        f"{_table(PIP_LOCATIONS[os_name])}"
        "PIP_CONFIG_FILE, when set, names one more file, which wins over these (and while it\n"
        "exists pip skips the user files).\n"
        "Write it: cellar client-config --write pip --scope user (or global, venv)\n"
    )


def _uv(access: ClientAccess, os_name: OsName) -> str:
    return (
        f"== uv ==\nuv.toml:\n{_block(uv_toml(access))}"
        f"or in a project's pyproject.toml:\n{_block(uv_toml(access, pyproject=True))}"
        "`default = true` puts the mirror in PyPI's place, for `uv pip` and projects alike.\n"
        f"uv reads:\n{_table(UV_LOCATIONS[os_name])}"
        "Write it: cellar client-config --write uv --scope user (or global, project)\n"
    )


def _environment(access: ClientAccess, os_name: OsName) -> str:
    text = "== Environment variables (this shell only) ==\n"
    if os_name == "windows":
        return (
            f"{text}cmd:\n{_block(env_assignments(access, 'cmd'))}"
            f"PowerShell:\n{_block(env_assignments(access, 'powershell'))}"
        )
    return (
        f"{text}bash, zsh, sh:\n{_block(env_assignments(access, 'sh'))}"
        'or: eval "$(cellar client-config --shell sh)"\n'
    )


def _poetry_and_pdm(access: ClientAccess) -> str:
    poetry = f"poetry source add --priority=primary {INDEX_NAME} {access.url}\n"
    if access.auth and not access.credentials_shown:
        poetry += f"poetry config http-basic.{INDEX_NAME} {access.user_text}\n"
    pdm = f"pdm config pypi.url {access.url}\n"
    if access.trusted_host:
        pdm += "pdm config pypi.verify_ssl false\n"
    if access.auth and not access.credentials_shown:
        pdm += f"pdm config pypi.username {access.user_text}\n"
        pdm += f"pdm config pypi.password {access.password_text}\n"
    text = f"== poetry (per project) ==\n{_block(poetry)}"
    text += "A primary source takes PyPI's place for the project."
    if access.auth and not access.credentials_shown:
        text += " poetry asks for the password\nand keeps it in the system keyring."
    text += f"\n\n== pdm ==\n{_block(pdm)}"
    if access.trusted_host:
        text += "verify_ssl false is how pdm trusts a plain HTTP host.\n"
    return text + "Add --local to set it for the current project only.\n"


def _conda_and_pixi(access: ClientAccess, os_name: OsName) -> str:
    own = r"%CONDA_PREFIX%\pip.ini" if os_name == "windows" else "$CONDA_PREFIX/pip.conf"
    environment_yml = (
        "dependencies:\n  - pip\n  - pip:\n"
        f"      - --index-url {access.url}\n      - your-project\n"
    )
    pixi = f"[pypi-options]\nindex-url = {toml_string(access.url)}\n"
    return (
        "== conda and pixi ==\n"
        "conda takes conda packages from channels, never from this index; pip inside a conda\n"
        f"environment reads the pip files above (the environment's own: {own}).\n"
        f"In environment.yml:\n{_block(environment_yml)}"
        "pixi, in pixi.toml ([tool.pixi.pypi-options] in pyproject.toml):\n"
        f"{_block(pixi)}"
    )


def _credentials(access: ClientAccess, os_name: OsName) -> str:
    netrc = r"%USERPROFILE%\.netrc" if os_name == "windows" else "~/.netrc (chmod 600)"
    machine = (
        f"machine {access.hostname} login {access.user_text} password {access.password_text}\n"
    )
    uv_vars = "".join(f"{k}={v}\n" for k, v in uv_credential_variables(access).items())
    if access.credentials_shown:
        intro = "They are in the configuration above, as --show-credentials asked: keep it private."
    else:
        intro = "The configuration above holds none; give them to pip and uv in one of these ways."
    text = (
        "== Credentials ==\n"
        "The mirror asks for a user name and password (HTTP basic auth).\n"
        f"{intro}\n\n"
        f"{netrc}, which pip and uv both read:\n{_block(machine)}"
        f'uv, for the index named "{INDEX_NAME}" in uv.toml:\n{_block(uv_vars)}'
        "A keyring: store the password with `keyring set`, then run pip and uv with\n"
        "--keyring-provider subprocess and the user name in the URL.\n\n"
        f"In the URL itself:\n{_block(access.login_url)}"
    )
    if not access.credentials_shown:
        text += (
            "Add --user NAME --show-credentials to fill them in (the password comes from\n"
            "--password-env VAR, else it is asked for).\n"
        )
    return text
