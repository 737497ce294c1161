"""PEP 691 content negotiation: real clients' Accept headers and the edge cases of RFC 9110."""

from __future__ import annotations

import pytest

from cellar.serve.negotiate import (
    FormatChooser,
    MediaRange,
    PageFormat,
    acceptable_formats,
    choose_format,
    parse_accept,
)
from tests.support.accept import FIREFOX, PIP, UV

JSON = PageFormat.JSON_V1
HTML_V1 = PageFormat.HTML_V1
LEGACY = PageFormat.HTML_LEGACY

CHROME = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,"
    "*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
JAVA = "text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        # real clients
        (PIP, JSON),
        (UV, JSON),
        (FIREFOX, LEGACY),
        (CHROME, LEGACY),
        ("*/*", LEGACY),  # curl, wget
        (JAVA, LEGACY),
        (None, LEGACY),
        ("", LEGACY),
        ("   ", LEGACY),
        # one type asked for
        ("application/vnd.pypi.simple.v1+json", JSON),
        ("application/vnd.pypi.simple.v1+html", HTML_V1),
        ("text/html", LEGACY),
        # q decides; ties go to server preference among named types
        ("application/vnd.pypi.simple.v1+html;q=0.5, text/html;q=0.9", LEGACY),
        ("text/html;q=0.5, application/vnd.pypi.simple.v1+html;q=0.5", HTML_V1),
        ("text/html, application/vnd.pypi.simple.v1+json", JSON),
        # wildcards: a named type beats a wildcard at the same q; a wildcard alone means HTML
        ("text/html, */*", LEGACY),
        ("application/vnd.pypi.simple.v1+html, */*", HTML_V1),
        ("application/vnd.pypi.simple.v1+json;q=0.5, */*", LEGACY),
        ("application/vnd.pypi.simple.v1+json, */*;q=0.1", JSON),
        ("application/*", JSON),
        ("text/*", LEGACY),
        ("text/*, application/vnd.pypi.simple.v1+json", JSON),
        # q=0 excludes, and a specific range's q overrides a wildcard's (RFC 9110 12.5.1)
        ("application/vnd.pypi.simple.v1+json;q=0, application/*", HTML_V1),
        ("*/*;q=0, application/vnd.pypi.simple.v1+html", HTML_V1),
        ("text/html;q=0, */*", JSON),
        ("application/vnd.pypi.simple.v1+json;q=0;foo=1", LEGACY),
        # nothing acceptable: the default
        (
            "application/vnd.pypi.simple.v1+json;q=0, application/vnd.pypi.simple.v1+html;q=0, "
            "text/html;q=0",
            LEGACY,
        ),
        ("*/*;q=0", LEGACY),
        ("image/png, application/json", LEGACY),
        ("application/vnd.pypi.simple.v2+json", LEGACY),
        # parameters other than q neither restrict nor get in the way
        ("application/vnd.pypi.simple.v1+json; charset=utf-8", JSON),
        (
            "text/html; charset=UTF-8; q=0.5, application/vnd.pypi.simple.v1+html;level=1;q=0.4",
            LEGACY,
        ),
        ('application/vnd.pypi.simple.v1+html; q="0.9", text/html; q="0.8"', HTML_V1),
        # whitespace and case
        ("  Application/VND.PyPI.Simple.V1+JSON ;  Q = 0.5 , TEXT/HTML ; q=0.4 ", JSON),
        ("TEXT/HTML;Q=0.9,application/vnd.pypi.simple.v1+json;q=0.8", LEGACY),
        # malformed q counts as 1; out-of-range q is clamped
        ("application/vnd.pypi.simple.v1+json;q=abc, text/html;q=0.9", JSON),
        ("application/vnd.pypi.simple.v1+json;q=nan, text/html;q=0.9", JSON),
        ("text/html;q=2, application/vnd.pypi.simple.v1+json;q=0.9", LEGACY),
        ("application/vnd.pypi.simple.v1+json;q=-1", LEGACY),
        # malformed elements are skipped, the rest still counts
        ("garbage, ,;;, /json, */html, application/vnd.pypi.simple.v1+html", HTML_V1),
        ("garbage", LEGACY),
    ],
)
def test_choose_format(accept: str | None, expected: PageFormat) -> None:
    assert choose_format(accept) is expected


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (PIP, (JSON, HTML_V1, LEGACY)),
        (UV, (JSON, HTML_V1, LEGACY)),
        ("*/*", (LEGACY, JSON, HTML_V1)),
        (None, (LEGACY, JSON, HTML_V1)),
        (FIREFOX, (LEGACY, JSON, HTML_V1)),
        ("application/vnd.pypi.simple.v1+json", (JSON,)),
        ("application/*", (JSON, HTML_V1)),
        ("image/png", (LEGACY,)),
    ],
)
def test_acceptable_formats_ranks_best_first(
    accept: str | None, expected: tuple[PageFormat, ...]
) -> None:
    assert acceptable_formats(accept) == expected


@pytest.mark.parametrize(
    ("accept", "format_param", "expected"),
    [
        (PIP, "text/html", LEGACY),
        (PIP, "application/vnd.pypi.simple.v1+html", HTML_V1),
        ("text/html", "application/vnd.pypi.simple.v1+json", JSON),
        (None, "application/vnd.pypi.simple.v1+json", JSON),
        # an unescaped "+" arrives as a space after query decoding
        ("text/html", "application/vnd.pypi.simple.v1 json", JSON),
        ("*/*", "  TEXT/HTML ; charset=utf-8", LEGACY),
        # unknown or empty: Accept decides
        (PIP, "application/xml", JSON),
        (PIP, "", JSON),
        (PIP, None, JSON),
    ],
)
def test_format_param_overrides_accept(
    accept: str | None, format_param: str | None, expected: PageFormat
) -> None:
    assert choose_format(accept, format_param) is expected


def test_format_param_comes_first_then_what_accept_allows() -> None:
    assert acceptable_formats(PIP, "text/html") == (LEGACY, JSON, HTML_V1)
    assert acceptable_formats("application/vnd.pypi.simple.v1+json", "text/html") == (LEGACY, JSON)


def test_page_formats_know_their_type_and_file() -> None:
    assert [(f.content_type, f.file_name, f.header_value) for f in PageFormat] == [
        (
            "application/vnd.pypi.simple.v1+json",
            "index.v1_json",
            "application/vnd.pypi.simple.v1+json",
        ),
        (
            "application/vnd.pypi.simple.v1+html",
            "index.v1_html",
            "application/vnd.pypi.simple.v1+html; charset=utf-8",
        ),
        ("text/html", "index.html", "text/html; charset=utf-8"),
    ]


def test_parse_accept() -> None:
    assert parse_accept(PIP) == (
        MediaRange("application", "vnd.pypi.simple.v1+json", 1.0),
        MediaRange("application", "vnd.pypi.simple.v1+html", 0.1),
        MediaRange("text", "html", 0.01),
    )
    assert parse_accept("*; q=.2, text/*;level=1;q=0.3;ext=x, bad, */html") == (
        MediaRange("*", "*", 0.2),
        MediaRange("text", "*", 0.3),
    )
    assert [r.specificity for r in parse_accept("*/*, text/*, text/html")] == [0, 1, 2]


def test_the_format_chooser_gives_the_same_answers_and_stays_bounded() -> None:
    choose = FormatChooser(limit=3)
    headers = [PIP, UV, FIREFOX, "text/html", None, "application/json;q=0"]
    for _ in range(2):
        for header in headers:
            assert choose(header) == acceptable_formats(header)
            assert choose(header, "text/html") == acceptable_formats(header, "text/html")
    assert len(choose._known) <= 3
