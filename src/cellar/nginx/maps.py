"""nginx ``map`` blocks that negotiate PEP 691 formats and normalise PEP 503 names (pure text).

They go at nginx's http level, once however many mirrors one nginx serves, and give the server
blocks ``cellar.nginx`` writes these variables:

    $cellar_page     the page file that answers the request: index.v1_json, index.v1_html or
                     index.html (from Accept and ``?format=``)
    $cellar_normal   the normalised form of ``$cellar_spelled`` (a project name as requested)
    $cellar_partial  "1" when ``$cellar_normal`` is not yet fully normal (see below)
    $cellar_initial  the first character of ``$cellar_normal`` (hash-index directories)
    $cellar_up       "../" when ``$cellar_slash`` is "/" (redirects are relative, as cellar
                     serve's are)

**Negotiation** follows ``cellar.serve.negotiate``: the q of each format is the q of the most
specific range naming it (``type/subtype`` over ``type/*`` over ``*/*``), ``q=0`` refuses, the
highest q wins, ties go to a format named explicitly (JSON, then v1 HTML, then legacy HTML)
before one reached by a wildcard (legacy HTML first), and nothing acceptable means legacy HTML;
``?format=`` overrides. nginx has no arithmetic: each q becomes four digits, and regular
expressions compare digit strings. Unlike ``cellar serve``, only the first element naming a
range counts, and q has at most three decimals (RFC 9110's limit).

**Names**: nginx cannot lower-case a string. Each of four chained maps cuts the name around its
first four capitals or separator runs, and one-character maps change those; a name with more
than ``NAME_FIXES_PER_REDIRECT`` is fixed that many at a time, one 301 each.

Map values can use a regular expression's captures ``$1`` to ``$9`` (one digit each: ``"$113"``
is ``$1``, then ``13``). Named captures would each add an nginx variable, and too many overflow
nginx's default ``variables_hash`` sizes, so these maps use numbered captures only.
"""

from __future__ import annotations

from typing import Final

#: Capital letters and separator runs one redirect fixes (a longer tail takes another 301).
NAME_FIXES_PER_REDIRECT: Final = 16


def map_blocks() -> list[str]:
    """Return the lines of every map block (negotiation, then names), ending with a blank."""
    return _negotiation_maps() + _name_maps()


# -- PEP 691 negotiation ------------------------------------------------------------------------

#: The media ranges each format may be reached by, as regular expressions, by short name.
_RANGES: Final = (
    ("json", r"application/vnd\.pypi\.simple\.v1\+json"),
    ("v1", r"application/vnd\.pypi\.simple\.v1\+html"),
    ("html", r"text/html"),
    ("app", r"application/\*"),
    ("text", r"text/\*"),
    ("any", r"\*(?:/\*)?"),
)
_END = r"\"?[ \t]*(?:[;,]|$)"
_DIGITS = r"\d+:"


def _first(media: str) -> str:
    """A regex reaching the first element of the Accept header that is ``media``."""
    return f"^(?:(?![ \\t]*{media}[ \\t]*(?:[;,]|$))[^,]*,)*[ \\t]*{media}[ \\t]*"


def _greater(first: int, skip: str = "") -> str:
    """A regex: the digits at this point exceed those after the next ``skip``-then-colon."""
    return "(\\d*)(?:" + "|".join(f"{d}\\d*:{skip}\\{first}[0-{d - 1}]" for d in range(1, 10)) + ")"


def _negotiation_maps() -> list[str]:
    lines = [
        "# PEP 691: which page file answers the Accept header (and ?format=).",
        "# 1. The q of the first element naming each media range, as four digits (1000 is q=1,",
        "#    also when no q is given; 0000 refuses); empty when no element names it.",
    ]
    for name, media in _RANGES:
        q = _first(media) + r"(?:;(?![ \t]*q[ \t]*=)[^;,]*)*;[ \t]*q[ \t]*=[ \t]*\"?"
        lines += [
            f"map $http_accept $cellar_q_{name} {{",
            '    default "";',
            f'    "~*{q}(?:0+(?:\\.0*)?|\\.0+){_END}" 0000;',
            f'    "~*{q}0*\\.000\\d*[1-9]\\d*{_END}" 0001;',
            f'    "~*{q}0*\\.(\\d)(\\d)(\\d)\\d*{_END}" "0$1$2$3";',
            f'    "~*{q}0*\\.(\\d)(\\d){_END}" "0$1$20";',
            f'    "~*{q}0*\\.(\\d){_END}" "0$100";',
            f'    "~*{q}-0*\\.?\\d" 0000;',
            f'    "~*{_first(media)}(?:;[^,]*)?(?:,|$)" 1000;',
            "}",
        ]
    lines += [
        "# 2. Each format's rank: the q of the most specific range naming it, then 1 if named",
        "#    explicitly, then the order among ties; 000000 when refused or not named at all.",
    ]
    # (format, explicit range, its type's wildcard, rank named explicitly, rank by wildcard)
    for fmt, explicit, wildcard, explicit_rank, wildcard_rank in (
        ("json", "json", "app", 3, 2),
        ("v1", "v1", "app", 2, 1),
        ("html", "html", "text", 1, 3),
    ):
        lines += [
            f'map "$cellar_q_{explicit}|$cellar_q_{wildcard}|$cellar_q_any" $cellar_r_{fmt} {{',
            "    default 000000;",
            '    "~^0000\\|" 000000;',
            f'    "~^(\\d{{4}})\\|" "$11{explicit_rank}";',
            '    "~^\\|0000\\|" 000000;',
            f'    "~^\\|(\\d{{4}})\\|" "$10{wildcard_rank}";',
            '    "~^\\|\\|0000$" 000000;',
            f'    "~^\\|\\|(\\d{{4}})$" "$10{wildcard_rank}";',
            "}",
        ]
    lines += [
        "# 3. ?format= (PEP 691's query parameter) names a format outright.",
        "map $arg_format $cellar_format {",
        '    default "";',
        '    "~*^application(?:/|%2F)vnd\\.pypi\\.simple\\.v1(?:\\+|%2B|%20)json(?:$|;|%3B)" json;',
        '    "~*^application(?:/|%2F)vnd\\.pypi\\.simple\\.v1(?:\\+|%2B|%20)html(?:$|;|%3B)" v1;',
        '    "~*^text(?:/|%2F)html(?:$|;|%3B)" html;',
        "}",
        "# 4. The page file: the format asked for; else JSON if its rank beats both others; else",
        "#    v1 HTML if its rank beats legacy HTML's; else legacy HTML (ranks compared digit by",
        "#    digit: they all have six).",
        'map "$cellar_format:$cellar_r_json:$cellar_r_v1:$cellar_r_html" $cellar_page {',
        "    default index.html;",
        '    "~^json:" index.v1_json;',
        '    "~^v1:" index.v1_html;',
        '    "~^html:" index.html;',
        f'    "~^:(?={_greater(1)})(?={_greater(2, skip=_DIGITS)})" index.v1_json;',
        f'    "~^:\\d+:{_greater(1)}" index.v1_html;',
        "}",
        "",
    ]
    return lines


# -- PEP 503 names -------------------------------------------------------------------------------

#: Characters that stay as they are: lower-case letters, digits, and a "-" no separator follows.
_PLAIN = "(?:[a-z0-9]|-(?![-_.]))*"
#: A character to change: a capital, or the first of a run of separators (the run is dropped).
_SPECIAL = "([A-Z]|[-_.])(?:(?<=[-_.])[-_.]*)?"
#: Each step fixes four: $1 plain, $2 special, $3 plain, ..., $8 special, $9 the rest.
_FIXES_PER_STEP = 4


def _name_maps() -> list[str]:
    steps = NAME_FIXES_PER_REDIRECT // _FIXES_PER_STEP
    pattern = f"^({_PLAIN})" + f"(?:{_SPECIAL}({_PLAIN}))?" * (_FIXES_PER_STEP - 1)
    pattern += f"(?:{_SPECIAL}(.*))?$"
    value = "$1" + "".join(f"$cellar_lower{2 * i}${2 * i + 1}" for i in range(1, 5))
    letters = " ".join(f"{chr(c)} {chr(c).lower()};" for c in range(ord("A"), ord("Z") + 1))
    lines = [
        "# PEP 503: the normalised spelling of a project name (lower case, each run of - _ . as",
        f"# one -). Each of {steps} steps cuts the name around its first {_FIXES_PER_STEP} capitals"
        " or separator runs,",
        "# and one-character maps (exact keys only: a regex there would overwrite the step's",
        "# captures) change them; a longer tail is left to the next redirect.",
    ]
    lines += [
        f'map ${2 * i} $cellar_lower{2 * i} {{ volatile; default ""; "-" "-"; "_" "-"; "." "-"; '
        f"{letters} }}"
        for i in range(1, _FIXES_PER_STEP + 1)
    ]
    source = "$cellar_spelled"
    for step in range(1, steps + 1):
        target = "$cellar_normal" if step == steps else f"$cellar_name{step}"
        lines += [f"map {source} {target} {{", f'    "~{pattern}" "{value}";', "}"]
        source = target
    lines += [
        "map $cellar_normal $cellar_partial {",
        '    "~^[a-z0-9]+(?:-[a-z0-9]+)*$" "";',
        "    default 1;",
        "}",
        "map $cellar_normal $cellar_initial {",
        '    "~^([a-z0-9])" $1;',
        '    default "";',
        "}",
        "# Redirects are relative, as cellar serve sends them: right behind any proxy prefix.",
        "map $cellar_slash $cellar_up {",
        '    "/" "../";',
        '    default "";',
        "}",
        "",
    ]
    return lines
