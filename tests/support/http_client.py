"""A plain HTTP client for conformance tests: one request, no redirects followed, nothing decoded.

urllib follows redirects and hides the status of the first answer; these tests need to see every
status, header and byte exactly as the server sent them.
"""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit


@dataclass(frozen=True, slots=True)
class Reply:
    """A response as received: status, headers and the raw body."""

    url: str
    status: int
    headers: Message
    body: bytes

    def header(self, name: str) -> str | None:
        """The header's value (several joined with ", "), or None when absent."""
        values = self.headers.get_all(name)
        return ", ".join(values) if values else None

    @property
    def media_type(self) -> str:
        """The Content-Type without parameters, in lower case ("" when absent)."""
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    @property
    def location(self) -> str | None:
        """The redirect target resolved against the request URL, or None."""
        location = self.header("Location")
        return None if location is None else urljoin(self.url, location)

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)

    def html(self) -> HtmlPage:
        """The body parsed as an HTML page."""
        return HtmlPage.parse(self.body)

    def tokens(self, name: str) -> set[str]:
        """The comma-separated tokens of every header called ``name``, in lower case."""
        return {
            token.strip().lower()
            for value in self.headers.get_all(name) or []
            for token in value.split(",")
            if token.strip()
        }


def fetch(
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> Reply:
    """Send one request for ``url`` (its path and query as given, unnormalised) and read all."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=30, context=context
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        # skip_accept_encoding: http.client would otherwise send "identity" unasked.
        connection.putrequest(method, target, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
        return Reply(url, response.status, response.msg, body)
    finally:
        connection.close()


@dataclass(frozen=True, slots=True)
class HtmlPage:
    """What a Simple API HTML page holds: its meta tags and its links, by anchor text."""

    metas: dict[str, str]
    links: dict[str, dict[str, str | None]]

    @classmethod
    def parse(cls, body: bytes) -> HtmlPage:
        """Parse ``body`` (UTF-8)."""
        parser = _PageParser()
        parser.feed(body.decode("utf-8"))
        parser.close()
        return cls(parser.metas, parser.links)


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.metas: dict[str, str] = {}
        self.links: dict[str, dict[str, str | None]] = {}
        self._anchor: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            found = dict(attrs)
            if found.get("name"):
                self.metas[str(found["name"])] = found.get("content") or ""
        elif tag == "a":
            self._anchor, self._text = dict(attrs), []

    def handle_data(self, data: str) -> None:
        if self._anchor is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._anchor is not None:
            self.links["".join(self._text).strip()] = self._anchor
            self._anchor = None
