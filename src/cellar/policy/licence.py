"""Licence allow and deny lists judged against a release's core metadata.

The licence is read, in order, from ``License-Expression`` (PEP 639), from ``License`` when it
is itself a valid SPDX expression, and from the unambiguous ``License ::`` classifiers (several
are read as all applying: the cautious reading). An SPDX expression is judged as SPDX means
it: ``A OR B`` is allowed if either is, ``A AND B`` if both are, ``A WITH E`` as ``A``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from cellar.policy.model import LicencePolicy
from cellar.select.metadata import StatedLicence

#: Classifiers that name exactly one SPDX licence.
_CLASSIFIERS = {
    "MIT License": "MIT",
    "MIT No Attribution License (MIT-0)": "MIT-0",
    "Apache Software License": "Apache-2.0",
    "ISC License (ISCL)": "ISC",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "Python Software Foundation License": "PSF-2.0",
    "The Unlicense (Unlicense)": "Unlicense",
    "Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
    "zlib/libpng License": "Zlib",
    "GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
    "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
    "GNU Affero General Public License v3": "AGPL-3.0-only",
    "GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
}
_TOKEN = re.compile(r"\(|\)|[A-Za-z0-9.+:-]+")


def spdx_of(licence: StatedLicence) -> str | None:
    """The SPDX expression the metadata states, canonical, or None if there is none."""
    from packaging.licenses import (  # noqa: PLC0415 - only with a licence policy
        InvalidLicenseExpression,
        canonicalize_license_expression,
    )

    for candidate in (licence.expression, licence.text):
        if candidate and len(candidate) < 1000:
            try:
                return str(canonicalize_license_expression(candidate))
            except InvalidLicenseExpression:
                continue
    found = []
    for classifier in licence.classifiers:
        name = classifier.rpartition(" :: ")[2]
        if classifier.startswith("License :: OSI Approved :: ") and name in _CLASSIFIERS:
            found.append(_CLASSIFIERS[name])
    return " AND ".join(sorted(set(found))) or None


def judge_licence(policy: LicencePolicy, licence: StatedLicence) -> str | None:
    """Why ``policy`` refuses a release with ``licence``, or None if it allows it."""
    if not policy.active:
        return None
    expression = spdx_of(licence)
    if expression is None:
        if policy.unknown == "refuse":
            return 'its licence is not stated as SPDX (unknown-licence = "refuse")'
        return None
    if _allowed(_TOKEN.findall(expression), policy):
        return None
    return f"its licence {expression} is not allowed"


def _allowed(tokens: Sequence[str], policy: LicencePolicy) -> bool:
    """Evaluate the expression ``tokens`` (canonical SPDX: ``OR`` binds loosest, then ``AND``,
    then ``WITH``), each licence allowed if not denied and, with an allow list, on it."""
    position = 0

    def joined(operator: str, operand: Callable[[], bool]) -> bool:
        nonlocal position
        values = [operand()]
        while position < len(tokens) and tokens[position] == operator:
            position += 1
            values.append(operand())
        return any(values) if operator == "OR" else all(values)

    def one() -> bool:
        nonlocal position
        if position >= len(tokens):
            return False
        word = tokens[position]
        position += 1
        if word == "(":
            result = joined("OR", lambda: joined("AND", one))
            position += 1  # the ")"
            return result
        if position < len(tokens) and tokens[position] == "WITH":
            position += 2  # the exception judges nothing on its own
        identifier = word.removesuffix("+")
        if identifier in policy.deny or word in policy.deny:
            return False
        return not policy.allow or identifier in policy.allow or word in policy.allow

    return joined("OR", lambda: joined("AND", one))
