"""PEP 691 content negotiation: which pre-rendered page format answers a request's Accept header.

Pure functions, no I/O. The server asks ``acceptable_formats`` for every format the client will
take, best first, and sends the first one that exists on disk; ``choose_format`` is the single
best answer.

The rules, in order:

* ``?format=<content type>`` (PEP 691's optional query parameter) naming a known format wins.
* Accept is parsed per RFC 9110: comma-separated media ranges with parameters and q-values. Each
  format takes the q of the most specific range that matches it (``type/subtype`` over ``type/*``
  over ``*/*``); ``q=0`` means not acceptable. Parameters other than ``q`` neither restrict nor
  add specificity: clients send ``charset`` and the like, and refusing them helps nobody.
* The highest q wins. Among equal q, formats the client named explicitly come first, in server
  preference (JSON v1, HTML v1, legacy HTML). Formats reached only through a wildcard come after,
  legacy HTML first: browsers, curl and old clients send ``*/*`` (or nothing) and expect HTML.
* When nothing is acceptable (all ``q=0``, unknown types, a malformed header), the answer is legacy
  HTML, which PEP 691 allows and every client reads.

Lenient parsing: a malformed element is skipped; a ``q`` that is not a number counts as 1, and
numbers outside [0, 1] are clamped; ``*`` alone (Java's default header) means ``*/*``. Quoted
parameter values containing commas are not supported (no PEP 691 client sends them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Final

from cellar import model


class PageFormat(Enum):
    """A pre-rendered page format; the definition order is the server's preference."""

    JSON_V1 = model.JSON_V1
    HTML_V1 = model.HTML_V1
    HTML_LEGACY = model.HTML_LEGACY

    @property
    def content_type(self) -> str:
        """The media type, without parameters (``application/vnd.pypi.simple.v1+json``)."""
        return str(self.value)

    @property
    def file_name(self) -> str:
        """The name of the page file in a project's directory (``index.v1_json``)."""
        return _FILE_NAMES[self]

    @property
    def header_value(self) -> str:
        """The Content-Type header to send: HTML types say ``charset=utf-8``, JSON needs none."""
        if self is PageFormat.JSON_V1:
            return self.content_type
        return f"{self.content_type}; charset=utf-8"


_FILE_NAMES: Final = MappingProxyType(
    {
        PageFormat.JSON_V1: "index.v1_json",
        PageFormat.HTML_V1: "index.v1_html",
        PageFormat.HTML_LEGACY: "index.html",
    }
)

_EXPLICIT_ORDER: Final = tuple(PageFormat)
#: Among formats matched only by a wildcard, the order to offer them (legacy HTML first).
_WILDCARD_ORDER: Final = (PageFormat.HTML_LEGACY, PageFormat.JSON_V1, PageFormat.HTML_V1)

_SPECIFIC = 2  # type/subtype; type/* is 1 and */* is 0


@dataclass(frozen=True, slots=True)
class MediaRange:
    """One element of an Accept header: ``type/subtype`` (either may be ``*``) and its q."""

    type: str
    subtype: str
    q: float = 1.0

    @property
    def specificity(self) -> int:
        """2 for ``type/subtype``, 1 for ``type/*``, 0 for ``*/*``."""
        return (self.type != "*") + (self.subtype != "*")

    def matches(self, content_type: str) -> bool:
        """Whether this range covers ``content_type`` (a lower-case ``type/subtype``)."""
        type_, _, subtype = content_type.partition("/")
        return self.type in ("*", type_) and self.subtype in ("*", subtype)


def parse_accept(header: str) -> tuple[MediaRange, ...]:
    """Return the media ranges of an Accept header value, in order; malformed ones are skipped."""
    ranges = []
    for element in header.split(","):
        media, *params = element.split(";")
        media = media.strip().lower()
        if media == "*":
            media = "*/*"
        type_, slash, subtype = media.partition("/")
        if not (slash and type_ and subtype) or (type_ == "*" and subtype != "*"):
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                q = _parse_q(value)
                break  # parameters after q are accept-extensions, meaningless here
        ranges.append(MediaRange(type_, subtype, q))
    return tuple(ranges)


def _parse_q(value: str) -> float:
    try:
        q = float(value.strip().strip('"'))
    except ValueError:
        return 1.0
    if not math.isfinite(q):
        return 1.0
    return min(max(q, 0.0), 1.0)


def acceptable_formats(
    accept: str | None, format_param: str | None = None
) -> tuple[PageFormat, ...]:
    """Return the formats the client accepts, best first; never empty.

    ``accept`` is the Accept header value (``None`` or blank when absent, which means ``*/*``);
    ``format_param`` is the ``?format=`` query value. When the client accepts nothing this server
    has, the result is ``(PageFormat.HTML_LEGACY,)``.
    """
    ranges = parse_accept(accept) if accept and accept.strip() else (MediaRange("*", "*"),)
    ranked: list[tuple[float, bool, int, PageFormat]] = []
    for page_format in PageFormat:
        matching = [r for r in ranges if r.matches(page_format.content_type)]
        if not matching:
            continue
        specificity = max(r.specificity for r in matching)
        q = max(r.q for r in matching if r.specificity == specificity)
        if q <= 0:
            continue
        explicit = specificity == _SPECIFIC
        order = (_EXPLICIT_ORDER if explicit else _WILDCARD_ORDER).index(page_format)
        ranked.append((-q, not explicit, order, page_format))
    formats = tuple(item[-1] for item in sorted(ranked, key=lambda item: item[:3]))
    if not formats:
        formats = (PageFormat.HTML_LEGACY,)
    requested = _format_from_param(format_param)
    if requested is not None:
        formats = (requested, *(f for f in formats if f is not requested))
    return formats


def choose_format(accept: str | None, format_param: str | None = None) -> PageFormat:
    """Return the one format to answer with (see the module docstring for the rules).

    ``accept`` is the Accept header value or ``None``; ``format_param`` the ``?format=`` value or
    ``None``. Never raises: anything unusable falls back to ``PageFormat.HTML_LEGACY``.
    """
    return acceptable_formats(accept, format_param)[0]


class FormatChooser:
    """``acceptable_formats`` remembering its answers: clients send a handful of distinct Accept
    headers (pip's, uv's, browsers'), over and over. Bounded: forgets all past ``limit``."""

    def __init__(self, limit: int = 256) -> None:
        self.limit = limit
        self._known: dict[tuple[str | None, str | None], tuple[PageFormat, ...]] = {}

    def __call__(
        self, accept: str | None, format_param: str | None = None
    ) -> tuple[PageFormat, ...]:
        """Return ``acceptable_formats(accept, format_param)``."""
        key = (accept, format_param)
        found = self._known.get(key)
        if found is None:
            if len(self._known) >= self.limit:
                self._known.clear()
            found = self._known[key] = acceptable_formats(accept, format_param)
        return found


def _format_from_param(value: str | None) -> PageFormat | None:
    if not value:
        return None
    # Query strings decode "+" as a space, and media types never contain spaces: undo it so
    # "?format=application/vnd.pypi.simple.v1+json" works unescaped.
    media = value.split(";")[0].strip().lower().replace(" ", "+")
    for page_format in PageFormat:
        if page_format.content_type == media:
            return page_format
    return None
