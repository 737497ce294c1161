"""What pip, uv, poetry, pdm and conda users need to use the mirror, as text to print (pure).

``ClientAccess`` is the mirror as a client sees it: the index URL and, when the server asks for
a login, the user name and (only when it is to be shown) the password. Everything here renders
text from it; where files live on a machine and how they are written is ``files``, how
an existing file is merged is ``merge``.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from cellar.errors import CellarError

OsName = Literal["linux", "macos", "windows"]
Shell = Literal["sh", "cmd", "powershell"]
OS_NAMES: Final[tuple[OsName, ...]] = ("linux", "macos", "windows")
SHELLS: Final[tuple[Shell, ...]] = ("sh", "cmd", "powershell")

#: The name the mirror's index gets in uv and poetry configuration (uv reads credentials for
#: it from ``UV_INDEX_CELLAR_USERNAME`` / ``UV_INDEX_CELLAR_PASSWORD``).
INDEX_NAME: Final = "cellar"
PASSWORD_PLACEHOLDER: Final = "<password>"  # noqa: S105 - the placeholder shown instead
USER_PLACEHOLDER: Final = "<user>"


#: Hosts pip trusts over plain HTTP without being told (its secure origins).
_LOOPBACK: Final = frozenset({"localhost", "127.0.0.1", "::1"})


class ClientConfigError(CellarError):
    """Client configuration that cannot be rendered or written; the message says what to do."""


@dataclass(frozen=True, slots=True)
class ClientAccess:
    """How clients reach the mirror: its index URL and whether (and as whom) they log in."""

    #: The Simple API root, without credentials: ``https://pypi.example.org/simple/``.
    index_url: str
    #: True when the server asks for HTTP basic auth.
    auth: bool = False
    username: str | None = None
    #: Set only when credentials are to be shown or written; otherwise placeholders are used.
    password: str | None = None

    @property
    def credentials_shown(self) -> bool:
        """True when the real user name and password go into what is printed or written."""
        return self.auth and self.username is not None and self.password is not None

    @property
    def url(self) -> str:
        """The URL to give clients: ``index_url`` with ``user:password@`` when shown."""
        username, password = self.username, self.password
        if not self.auth or username is None or password is None:
            return self.index_url
        return with_credentials(self.index_url, username, password)

    @property
    def login_url(self) -> str:
        """The index URL with the user name and password in it, or placeholders for them."""
        if self.credentials_shown:
            return self.url
        parts = urlsplit(self.index_url)
        user = quote(self.username, safe="") if self.username else USER_PLACEHOLDER
        netloc = f"{user}:{PASSWORD_PLACEHOLDER}@{parts.netloc}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))

    @property
    def host(self) -> str:
        """The host (and port, when not the default) of the index."""
        return urlsplit(self.index_url).netloc

    @property
    def hostname(self) -> str:
        """The host name alone, as ``.netrc`` names machines."""
        return urlsplit(self.index_url).hostname or self.host

    @property
    def trusted_host(self) -> str | None:
        """What pip needs in ``trusted-host`` (``host:port``) for plain HTTP to another machine;
        None for HTTPS and for loopback, which pip counts among its secure origins."""
        parts = urlsplit(self.index_url)
        if parts.scheme != "http" or (parts.hostname or "") in _LOOPBACK:
            return None
        return self.host

    @property
    def https_by_address(self) -> bool:
        """True for an HTTPS index named by IP address, which pip 24.2 to 26.0 cannot verify
        (``ValueError: check_hostname requires server_hostname``): it needs a host name."""
        parts = urlsplit(self.index_url)
        try:
            ipaddress.ip_address(parts.hostname or "")
        except ValueError:
            return False
        return parts.scheme == "https"

    @property
    def user_text(self) -> str:
        """The user name, or a placeholder for it."""
        return self.username or USER_PLACEHOLDER

    @property
    def password_text(self) -> str:
        """The password when shown, else a placeholder."""
        return self.password if self.credentials_shown and self.password else PASSWORD_PLACEHOLDER


def index_url_for(url: str) -> str:
    """Return the index URL for ``url``: the mirror's base URL, or its ``/simple/`` root itself.

    Raises ``ClientConfigError`` for what is not an http(s) URL, or one holding credentials.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ClientConfigError(f"--url must be an http:// or https:// URL, not {url!r}")
    if parts.username is not None or parts.password is not None:
        raise ClientConfigError(
            "--url must not hold credentials; give the user name with --user and the "
            "password with --password-env (or at the prompt)"
        )
    if parts.query or parts.fragment:
        raise ClientConfigError(f"--url must not have a query or fragment: {url!r}")
    path = parts.path if parts.path.endswith("/") else f"{parts.path}/"
    if not path.endswith("/simple/"):
        path = f"{path}simple/"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def with_credentials(url: str, username: str, password: str) -> str:
    """Return ``url`` with ``username:password@`` in it, each percent-encoded."""
    parts = urlsplit(url)
    userinfo = f"{quote(username, safe='')}:{quote(password, safe='')}"
    return urlunsplit((parts.scheme, f"{userinfo}@{parts.netloc}", parts.path, "", ""))


def current_os() -> OsName:
    """Return the name of the system this runs on, as ``--os`` spells it."""
    if sys.platform == "win32":
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    return "linux"


def pip_conf(access: ClientAccess) -> str:
    """Return a ``pip.conf`` (``pip.ini``) that makes the mirror pip's only index."""
    lines = ["[global]", f"index-url = {access.url}"]
    if access.trusted_host:
        lines.append(f"trusted-host = {access.trusted_host}")
    return "\n".join(lines) + "\n"


def uv_toml(access: ClientAccess, *, pyproject: bool = False) -> str:
    """Return the ``[[index]]`` table of ``uv.toml`` (``[[tool.uv.index]]`` with ``pyproject``)."""
    header = "[[tool.uv.index]]" if pyproject else "[[index]]"
    url = access.index_url if pyproject else access.url  # never credentials in a project file
    return f'{header}\nname = "{INDEX_NAME}"\nurl = {toml_string(url)}\ndefault = true\n'


def toml_string(value: str) -> str:
    """Return ``value`` as a TOML basic string (a JSON string is one)."""
    return json.dumps(value)


def environment(access: ClientAccess) -> dict[str, str]:
    """Return the environment variables that point pip and uv at the mirror."""
    variables = {"PIP_INDEX_URL": access.url}
    if access.trusted_host:
        variables["PIP_TRUSTED_HOST"] = access.trusted_host
    variables["UV_DEFAULT_INDEX"] = access.url
    return variables


def env_assignments(access: ClientAccess, shell: Shell) -> str:
    """Return lines that set :func:`environment` in ``shell``, quoted for it."""
    lines = []
    for name, value in environment(access).items():
        if shell == "sh":
            lines.append(f"export {name}={_sh_quote(value)}")
        elif shell == "powershell":
            escaped = value.replace("'", "''")
            lines.append(f"$env:{name} = '{escaped}'")
        else:
            # The quotes around the whole assignment keep &, | and < literal in cmd.
            lines.append(f'set "{name}={value}"')
    return "\n".join(lines) + "\n"


def _sh_quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def uv_credential_variables(access: ClientAccess) -> dict[str, str]:
    """Return uv's per-index credential variables for the index named :data:`INDEX_NAME`."""
    prefix = f"UV_INDEX_{INDEX_NAME.upper()}"
    return {f"{prefix}_USERNAME": access.user_text, f"{prefix}_PASSWORD": access.password_text}
