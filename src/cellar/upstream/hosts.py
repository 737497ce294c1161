"""Which URLs the upstream client may fetch: ``[mirror] file-hosts`` and the https rule (pure).

PyPI lists its files on another host than its pages, so by default a page may send Cellar to
any host. ``file-hosts`` narrows that to a list (the upstream's own host is always allowed);
and whatever the list, a redirect never takes a request from https down to plain http, and only
http and https URLs are fetched at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class HostPolicy:
    """Where requests may go: ``allowed`` host names (``None``: any), beside the index's own."""

    index_url: str
    allowed: frozenset[str] | None = None

    def refusal(self, url: str, *, came_from: str | None = None) -> str | None:
        """Return why ``url`` (reached by a redirect from ``came_from``) is refused, or None."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            return f"only http and https URLs are fetched, not {scheme or 'a relative'} URL"
        downgrade = came_from is not None and urlsplit(came_from).scheme.lower() == "https"
        if downgrade and scheme == "http":
            return f"a redirect from https to plain http ({came_from})"
        host = (parts.hostname or "").lower()
        if not host:
            return "the URL names no host"
        if self.allowed is not None and host not in self.allowed:
            index_host = (urlsplit(self.index_url).hostname or "").lower()
            if host != index_host:
                return f"its host {host!r} is not the upstream's nor in [mirror] file-hosts"
        return None
