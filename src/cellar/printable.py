"""Text from outside made safe to print: control and formatting characters shown as escapes.

Names, file names and messages from an upstream reach Cellar's log and terminal. Raw, a newline
would forge a log line, a carriage return or an ANSI escape would rewrite the terminal, and a
bidirectional override would reorder what a person reads. ``printable`` shows each such
character as a Python escape (``\\n``, ``\\x1b``, ``\\u202e``), so what is printed is what was
sent, visibly.
"""

from __future__ import annotations

import unicodedata

#: Unicode categories never printed raw: controls (C0, DEL, C1), formatting characters (bidi
#: overrides and isolates, zero-width joiners), line and paragraph separators, and the rest.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _escape(char: str) -> str:
    code = ord(char)
    if char == "\n":
        return "\\n"
    if char == "\r":
        return "\\r"
    if char == "\t":
        return "\\t"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str) -> str:
    """Return ``text`` with every control or formatting character (newlines too) escaped."""
    if text.isprintable():  # the common case, in C
        return text
    return "".join(
        _escape(char) if unicodedata.category(char) in _UNSAFE_CATEGORIES else char for char in text
    )


def printable_lines(text: str) -> str:
    """Return ``text`` with each of its lines made ``printable``, the newlines between kept.

    For Cellar's own multi-line output; text from outside inside it must already have been
    through ``printable`` if its newlines are not to start lines of their own.
    """
    return "\n".join(printable(line) for line in text.split("\n"))
