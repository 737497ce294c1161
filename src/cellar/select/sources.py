"""Read requirements from pip requirements files, and the checks every requirement source shares.

Requirements files follow pip's format and pip's rules: comments, ``\\`` continuations, ``${VAR}``
expansion, ``-r``/``-c`` relative to the including file (a file including itself, directly or
not, is an error; including the same file twice from different places is not), ``--hash`` and
``--config-settings`` allowed on a requirement. Options that steer an installer (``--index-url``,
``--pre``, ``--only-binary``...) mean nothing to a mirror: they are logged and ignored. What a
mirror cannot serve (editable installs, paths, URLs) is an error naming the file and line.
"""

from __future__ import annotations

import codecs
import logging
import optparse
import os
import re
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NoReturn

from packaging.requirements import InvalidRequirement, Requirement

from cellar.errors import CellarError
from cellar.tree.paths import is_project_name

logger = logging.getLogger("cellar.config")

_COMMENT = re.compile(r"(^|\s+)#.*$")
_ENV_VAR = re.compile(r"\$\{([A-Z0-9_]+)\}")
_CODING = re.compile(rb"coding[:=]\s*([-\w.]+)")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_ARCHIVES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")
# UTF-32 before UTF-16: the UTF-16 LE mark begins the UTF-32 LE one. UTF-8's is dropped later.
_BOMS = {"utf-32": (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)}
_BOMS["utf-16"] = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_APPEND_OPTIONS = (
    *("-r --requirement", "-c --constraint", "-e --editable", "--hash", "-C --config-settings"),
    *("-f --find-links", "--extra-index-url", "--no-binary", "--only-binary", "--trusted-host"),
    *("--all-releases", "--only-final", "--use-feature"),
)
#: The options that matter to a mirror; pip's others steer an installer and are ignored.
_USED = frozenset({"requirement", "constraint", "editable", "hash", "config_settings"})


class RequirementsFileError(CellarError):
    """A requirement source that cannot be used: the file, the line if known, and why."""

    def __init__(
        self, path: Path, reason: str, *, lineno: int | None = None, line: str | None = None
    ) -> None:
        where = f"{path}:{lineno}" if lineno is not None else str(path)
        super().__init__(f"{where}: {reason}" + (f"\n    {line}" if line else ""))
        self.path = path
        self.lineno = lineno
        self.line = line
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RequirementSource:
    """What a requirements file asks for, and the constraints its ``-c`` files impose."""

    requirements: tuple[Requirement, ...] = ()
    constraints: tuple[Requirement, ...] = ()


@dataclass(frozen=True, slots=True)
class RequirementSet:
    """Requirements installed together, apart from the configuration's others: a project's
    build requirements, a dependency group, a lock file's pins.

    The closure resolves them together on each target, and each one alone too unless
    ``alone`` is off (a lock's pins are a resolution already; resolving each alone would only
    add newer versions nobody asked for). ``source`` says where they come from, for messages.
    """

    source: str
    requirements: tuple[Requirement, ...]
    alone: bool = True


def read_requirements_file(
    path: Path, *, environ: Mapping[str, str] | None = None
) -> RequirementSource:
    """Return the requirements and constraints of a pip requirements file and those it includes.

    ``environ`` supplies ``${VAR}`` values (default: the process environment).

    Raises:
        RequirementsFileError: a file cannot be read, a line is not a requirement pip would
            accept, names something an index cannot serve, or a file includes itself.
    """
    requirements: list[Requirement] = []
    constraints: list[Requirement] = []
    env = os.environ if environ is None else environ
    _read_pip_file(path, (path.resolve(),), env, requirements, constraints, constraint=False)
    return RequirementSource(tuple(requirements), tuple(constraints))


def _read_pip_file(
    path: Path,
    chain: tuple[Path, ...],
    environ: Mapping[str, str],
    requirements: list[Requirement],
    constraints: list[Requirement],
    *,
    constraint: bool,
) -> None:
    """Add the requirements (or constraints) of ``path`` and the files it includes."""
    for lineno, line in _logical_lines(_decode(path), environ):
        if _bare_name(line):  # the most common line of a long list
            (constraints if constraint else requirements).append(bare_requirement(line))
            continue
        args, options = _split_options(line)
        where: dict[str, Any] = {"lineno": lineno, "line": line}
        if args:
            requirement = index_requirement(path, args, **where)
            if constraint and requirement.extras:
                raise RequirementsFileError(path, "constraints cannot have extras", **where)
            (constraints if constraint else requirements).append(requirement)
        if not options.strip():
            continue  # the common line, a requirement alone: no option parser to build
        parser = _option_parser()  # a new one each line: optparse appends to its defaults
        try:
            opts, leftovers = parser.parse_args(shlex.split(options))
        except (_OptionError, ValueError) as error:
            raise RequirementsFileError(path, f"invalid option: {error}", **where) from None
        if opts.editable:
            raise RequirementsFileError(
                path, "editable requirements (-e) are local projects a mirror cannot serve", **where
            )
        ignored = [
            option.get_opt_string()
            for option in parser.option_list
            if option.dest not in _USED and getattr(opts, str(option.dest))
        ] + leftovers
        if ignored:
            logger.warning(
                "%s:%s: ignoring %s (not used by a mirror)", path, lineno, " ".join(ignored)
            )
        includes = [(p, False) for p in opts.requirement] + [(p, True) for p in opts.constraint]
        for name, nested in includes:
            if _URL.match(name):
                raise RequirementsFileError(path, f"cannot include remote file {name}", **where)
            included = path.parent / name
            key = included.resolve()
            if key in chain:
                cycle = " -> ".join(str(p) for p in (*chain[chain.index(key) :], key))
                raise RequirementsFileError(path, f"includes itself: {cycle}", **where)
            if not included.is_file():
                raise RequirementsFileError(path, f"cannot read included {included}", **where)
            _read_pip_file(
                included, (*chain, key), environ, requirements, constraints, constraint=nested
            )


def _decode(path: Path) -> str:
    """Return a requirements file's text, honouring a BOM or PEP 263 coding line as pip does."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise RequirementsFileError(path, f"cannot read: {error.strerror or error}") from None
    encoding = next((enc for enc, boms in _BOMS.items() if data.startswith(boms)), None)
    for first in data.split(b"\n")[:2]:
        if encoding is None and first.startswith(b"#") and (match := _CODING.search(first)):
            encoding = match.group(1).decode("ascii")
    try:
        return data.decode(encoding or "utf-8").removeprefix("\ufeff")
    except (UnicodeDecodeError, LookupError) as error:
        raise RequirementsFileError(path, f"cannot decode: {error}") from None


def _logical_lines(text: str, environ: Mapping[str, str]) -> list[tuple[int, str]]:
    """Return (first line number, line) after pip's continuation, comment and variable rules."""
    joined: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if raw.endswith("\\") and not _COMMENT.match(raw):
            start = start if pending else lineno
            pending.append(raw.rstrip("\\"))
            continue
        line = " " + raw if "#" in raw and _COMMENT.match(raw) else raw  # a comment ends it
        joined.append((start, "".join([*pending, line])) if pending else (lineno, line))
        pending = []
    if pending:
        joined.append((start, "".join(pending)))
    logical = []
    for lineno, line in joined:
        # The patterns only where they can match: a long list is mostly plain names.
        stripped = (_COMMENT.sub("", line) if "#" in line else line).strip()
        expanded = (
            _ENV_VAR.sub(lambda m: environ.get(m[1]) or m[0], stripped)
            if "${" in stripped
            else stripped
        )
        if expanded:
            logical.append((lineno, expanded))
    return logical


def _split_options(line: str) -> tuple[str, str]:
    """Split a line at its first option, as pip does (markers would not survive shlex)."""
    if "-" not in line:
        return line, ""  # most lines: a name, a specifier, no option
    tokens = line.split(" ")
    first = next((i for i, token in enumerate(tokens) if token.startswith("-")), len(tokens))
    return " ".join(tokens[:first]).strip(), " ".join(tokens[first:])


class _OptionError(Exception):
    pass


class _OptionParser(optparse.OptionParser):
    def error(self, msg: str) -> NoReturn:
        raise _OptionError(msg)


def _option_parser() -> _OptionParser:
    """Return a parser of the options pip accepts in requirements files (dest: the long name)."""
    parser = _OptionParser(add_help_option=False)
    for flags in _APPEND_OPTIONS:
        parser.add_option(*flags.split(), action="append", default=[])
    parser.add_option("-i", "--index-url")
    for flag in ("--no-index", "--prefer-binary", "--require-hashes", "--no-require-hashes"):
        parser.add_option(flag, action="store_true", default=False)
    parser.add_option("--pre", action="store_true", default=False)
    return parser


def index_requirement(path: Path, text: str, key: str = "", **where: Any) -> Requirement:
    """Return ``text`` as a requirement an index can serve, or raise naming where it was."""
    if _bare_name(text):
        return bare_requirement(text)
    key = f"{key}: " if key else ""
    head = text.split(";", maxsplit=1)[0].strip()
    if "@" not in head and (
        _URL.match(head) or "/" in head or "\\" in head or head.lower().endswith(_ARCHIVES)
    ):
        raise RequirementsFileError(
            path, f"{key}{head!r} is a path or URL; a mirror serves projects by name", **where
        )
    try:
        requirement = Requirement(text)
    except InvalidRequirement as error:
        raise RequirementsFileError(
            path, f"{key}not a valid requirement: {error}", **where
        ) from None
    if requirement.url:
        raise RequirementsFileError(
            path,
            f"{key}{requirement.name} @ {requirement.url} is a direct URL a mirror cannot serve",
            **where,
        )
    return requirement


#: What ``Requirement`` makes of any bare name but the name itself.
_BARE: Final = Requirement("a")
#: ``Requirement``'s fields as packaging lays them out (24 to 26): when they are these, a bare
#: requirement is built field by field; otherwise (a packaging that keeps more) it is parsed.
_FIELDS: Final = ("extras", "marker", "name", "specifier", "url")
_BUILDABLE: Final = getattr(Requirement, "__slots__", None) == _FIELDS


def _bare_name(text: str) -> bool:
    """Whether ``text`` is a project name alone (not a file name such as ``x-1.0.tar.gz``)."""
    return is_project_name(text) and not text.lower().endswith(_ARCHIVES)


def bare_requirement(name: str) -> Requirement:
    """Return ``Requirement(name)`` for a valid bare project name, without the requirement
    parser where packaging's layout allows (a list of 100k names would run it 100k times;
    building one costs a twentieth)."""
    if not _BUILDABLE:
        return Requirement(name)
    requirement = Requirement.__new__(Requirement)
    requirement.name = name
    requirement.url = None
    requirement.extras = set()
    requirement.specifier = _BARE.specifier  # an empty SpecifierSet, never changed in place
    requirement.marker = None
    return requirement


def toml_requirements(path: Path, key: str, values: object) -> list[Requirement]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise RequirementsFileError(path, f"{key} must be a list of requirement strings")
    return [index_requirement(path, value, key=key) for value in values]


def and_marker(requirement: Requirement, marker: Any) -> Requirement:
    """Return ``requirement`` that applies only where ``marker`` (if any) also holds."""
    if marker is None:
        return requirement
    combined = Requirement(str(requirement).split(";", maxsplit=1)[0])
    both = f"({requirement.marker}) and ({marker})" if requirement.marker else str(marker)
    return Requirement(f"{combined}; {both}")


def load_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except OSError as error:
        raise RequirementsFileError(path, f"cannot read: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise RequirementsFileError(path, f"not valid TOML: {error}") from None
