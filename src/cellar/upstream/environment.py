"""What the environment says about reaching a host: its proxy and its ``~/.netrc`` login.

aiohttp's ``trust_env`` reads these for every request, in two trips to a thread (``NO_PROXY``
and every proxy variable, then the netrc file): a mirror run makes thousands of requests to a
few hosts. ``HostEnvironment`` reads the environment and the netrc file once, when the client
opens, with aiohttp's own helpers (so the rules are aiohttp's), and answers per host from then
on. A change to the environment or to ``~/.netrc`` during a run is seen by the next run.
"""

from __future__ import annotations

import netrc
from dataclasses import dataclass, field
from urllib.request import proxy_bypass

from aiohttp import BasicAuth
from aiohttp.helpers import (
    ProxyInfo,
    basicauth_from_netrc,
    netrc_from_env,
    proxies_from_env,
)
from yarl import URL


@dataclass(slots=True)
class HostEnvironment:
    """The proxies and netrc logins of the environment, read once; answers cached per host."""

    proxies: dict[str, ProxyInfo]
    logins: netrc.netrc | None
    _proxy_for: dict[tuple[str, str], URL | None] = field(default_factory=dict)
    _login_for: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def read(cls) -> HostEnvironment:
        """Read ``HTTP(S)_PROXY``, ``NO_PROXY`` and the netrc file (blocking: call in a thread)."""
        return cls(proxies_from_env(), netrc_from_env())

    def proxy(self, url: URL) -> URL | None:
        """Return the proxy to reach ``url`` through, with its login (from the variable or
        the netrc file) in it, or ``None``: no proxy set, or ``NO_PROXY`` names the host."""
        host = url.host or ""
        key = (url.scheme, host)
        if key not in self._proxy_for:
            bypass = bool(host) and proxy_bypass(host)
            found = None if bypass else self.proxies.get(url.scheme)
            if found is not None and found.proxy_auth is not None:
                login = found.proxy_auth
                self._proxy_for[key] = found.proxy.with_user(login.login).with_password(
                    login.password
                )
            else:
                self._proxy_for[key] = None if found is None else found.proxy
        return self._proxy_for[key]

    def login(self, url: URL) -> str | None:
        """Return the ``Authorization`` value of the netrc login for ``url``'s host, unless
        the URL carries its own."""
        host = url.host
        if host is None or self.logins is None or url.user is not None:
            return None
        if host not in self._login_for:
            try:
                found: BasicAuth | None = basicauth_from_netrc(self.logins, host)
            except LookupError:
                found = None
            self._login_for[host] = None if found is None else found.encode()
        return self._login_for[host]
