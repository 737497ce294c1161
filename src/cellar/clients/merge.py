"""Put the mirror into an existing pip.conf or uv.toml, changing nothing else in it (pure).

pip.conf is edited line by line, because ``configparser`` would drop every comment: the lines
are read the way ``configparser`` reads them (sections, ``key = value`` and ``key: value``,
indented continuation lines, full-line ``#``/``;`` comments, keys normalised as pip does), only
the lines of ``[global] index-url`` and ``trusted-host`` change, and the result is parsed again
to prove that every other value is as it was. uv.toml and pyproject.toml are edited with tomlkit,
which keeps comments and layout, and checked the same way with ``tomllib``.
"""

from __future__ import annotations

import configparser
import io
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

import tomlkit
import tomlkit.exceptions
from tomlkit.items import AoT, Array, InlineTable, Table

from cellar.clients import INDEX_NAME, ClientConfigError

_SECTION = re.compile(r"\[(?P<header>.+)\]")  # configparser.SECTCRE, on the stripped line
_OPTION = re.compile(r"(?P<option>.*?)\s*(?P<vi>[=:])\s*(?P<value>.*)$")  # configparser.OPTCRE
_VALUE_START = re.compile(r"^\s*.*?\s*[=:][ \t]*")


class UnreadableClientFileError(ClientConfigError):
    """An existing configuration file that its own tool could not read either."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"not a valid {kind} ({reason}); fix it by hand first")
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Merge:
    """A file's new text, what changed in words, and what else in it may defeat the change."""

    text: str
    changes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def pip_key(name: str) -> str:
    """Return a pip configuration key as pip normalises it (``Index_URL`` → ``index-url``)."""
    return name.lower().replace("_", "-").removeprefix("--")


def read_pip_conf(text: str) -> dict[str, dict[str, str]]:
    """Return ``{section: {key: value}}`` as pip reads ``text``.

    Raises ``UnreadableClientFileError`` when pip could not read it either.
    """
    parser = configparser.RawConfigParser()
    parser.optionxform = pip_key  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text)
    except configparser.Error as error:
        raise UnreadableClientFileError("pip configuration file", str(error)) from None
    return {name: dict(parser.items(name)) for name in parser.sections()}


@dataclass
class _Option:
    key: str
    line: int
    indent: int
    continuations: list[int] = field(default_factory=list)

    @property
    def last(self) -> int:
        return self.continuations[-1] if self.continuations else self.line


@dataclass
class _Section:
    name: str
    line: int
    options: list[_Option] = field(default_factory=list)

    @property
    def last(self) -> int:
        return self.options[-1].last if self.options else self.line

    def get(self, key: str) -> _Option | None:
        return next((option for option in self.options if option.key == key), None)


def _scan(lines: list[str]) -> list[_Section]:
    """Return the sections and options of ``lines`` with their line numbers, as configparser."""
    sections: list[_Section] = []
    option: _Option | None = None
    for number, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue  # comments and blank lines neither end nor extend a value
        indent = len(line) - len(line.lstrip())
        if option is not None and indent > option.indent:
            option.continuations.append(number)
            continue
        header = _SECTION.match(stripped)
        if header:
            sections.append(_Section(header.group("header"), number))
            option = None
        elif sections and (match := _OPTION.match(stripped)):
            option = _Option(pip_key(match.group("option").rstrip()), number, indent)
            sections[-1].options.append(option)
    return sections


def merge_pip_conf(text: str | None, index_url: str, trusted_host: str | None) -> Merge:
    """Return ``text`` (a pip.conf, or None for none) with the mirror as ``[global] index-url``.

    ``trusted_host`` (plain HTTP only) is added to ``trusted-host`` beside any hosts already
    there. Everything else, comments included, is kept as it was. Raises
    ``UnreadableClientFileError`` when pip could not read ``text`` either.
    """
    before = read_pip_conf(text or "")
    # Lines as configparser's file iteration splits them (not str.splitlines, which also
    # splits at form feeds and other separators configparser keeps inside a line).
    lines = io.StringIO(text or "", newline="").readlines()
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += newline
    changes: list[str] = []
    section = next((s for s in _scan(lines) if s.name == "global"), None)
    if section is None:
        block = [f"index-url = {index_url}{newline}"]
        if trusted_host:
            block.append(f"trusted-host = {trusted_host}{newline}")
        separator = [newline] if lines and lines[-1].strip() else []
        lines += [*separator, f"[global]{newline}", *block]
        changes.append(
            "[global] added with index-url" + (" and trusted-host" if trusted_host else "")
        )
    else:
        inserts: dict[int, list[str]] = {}
        replaced: dict[int, str | None] = {}
        old = before["global"].get("index-url")
        option = section.get("index-url")
        if option is None:
            inserts.setdefault(section.last, []).append(f"index-url = {index_url}{newline}")
            changes.append(f"index-url set to {index_url}")
        elif old != index_url:
            replaced[option.line] = _with_value(lines[option.line], index_url, newline)
            replaced.update(dict.fromkeys(option.continuations))
            changes.append(f"index-url changed from {old} to {index_url}")
        hosts = before["global"].get("trusted-host", "").split()
        if trusted_host and trusted_host not in hosts:
            option = section.get("trusted-host")
            if option is None:
                after = section.get("index-url")
                at = after.last if after is not None else section.last
                inserts.setdefault(at, []).append(f"trusted-host = {trusted_host}{newline}")
            elif option.continuations:
                last = lines[option.last]
                indent = last[: len(last) - len(last.lstrip())]
                inserts.setdefault(option.last, []).append(f"{indent}{trusted_host}{newline}")
            else:
                value = " ".join([*hosts, trusted_host])
                replaced[option.line] = _with_value(lines[option.line], value, newline)
            changes.append(f"trusted-host {trusted_host} added")
        lines = _apply(lines, replaced, inserts)
    merged = "".join(lines)
    _check_pip_merge(before, read_pip_conf(merged), index_url, trusted_host)
    return Merge(merged, tuple(changes), _pip_warnings(before))


def _with_value(line: str, value: str, newline: str) -> str:
    match = _VALUE_START.match(line)
    prefix = match.group(0) if match else ""
    return f"{prefix}{value}{newline}"


def _apply(
    lines: list[str], replaced: dict[int, str | None], inserts: dict[int, list[str]]
) -> list[str]:
    result: list[str] = []
    for number, line in enumerate(lines):
        new = replaced.get(number, line)
        if new is not None:
            result.append(new)
        result.extend(inserts.get(number, ()))
    return result


def _check_pip_merge(
    before: dict[str, dict[str, str]],
    after: dict[str, dict[str, str]],
    index_url: str,
    trusted_host: str | None,
) -> None:
    ours = {"index-url", "trusted-host"}
    kept_before = {(s, k): v for s, keys in before.items() for k, v in keys.items()}
    kept_after = {(s, k): v for s, keys in after.items() for k, v in keys.items()}
    for key in ours:
        kept_before.pop(("global", key), None)
        kept_after.pop(("global", key), None)
    settings = after.get("global", {})
    hosts = settings.get("trusted-host", "").split()
    if (
        kept_before != kept_after
        or settings.get("index-url") != index_url
        or (trusted_host is not None and trusted_host not in hosts)
        or not set(before.get("global", {}).get("trusted-host", "").split()) <= set(hosts)
    ):
        raise ClientConfigError(
            "could not merge the mirror into the pip configuration without changing something "
            "else in it; edit it by hand (the lines to add are printed by `cellar client-config`)"
        )


def _pip_warnings(settings: dict[str, dict[str, str]]) -> tuple[str, ...]:
    warnings = []
    for section, keys in settings.items():
        if section != "global" and "index-url" in keys:
            warnings.append(
                f"[{section}] index-url = {keys['index-url']} wins over [global] for "
                f"`pip {section}`: remove it to use the mirror there"
            )
        if "extra-index-url" in keys:
            warnings.append(
                f"[{section}] extra-index-url = {' '.join(keys['extra-index-url'].split())}: "
                "pip searches it too, beside the mirror"
            )
        if keys.get("no-index", "").lower() in ("1", "true", "yes", "on"):
            warnings.append(f"[{section}] no-index is set: pip uses no index at all")
    return tuple(warnings)


def merge_uv_toml(text: str | None, url: str, *, pyproject: bool = False) -> Merge:
    """Return ``text`` (a uv.toml, or a pyproject.toml with ``pyproject``) with ``url`` as uv's
    default index, keeping everything else, comments and layout included.

    The index used is, in order: the one named ``cellar``, the one already marked
    ``default = true``, one with this URL, else a new ``[[index]]`` named ``cellar``. Raises
    ``UnreadableClientFileError`` when uv could not read ``text`` either.
    """
    kind = "pyproject.toml" if pyproject else "uv.toml"
    try:
        before = tomllib.loads(text or "")
        document = tomlkit.parse(text or "")
    except (tomllib.TOMLDecodeError, tomlkit.exceptions.TOMLKitError) as error:
        raise UnreadableClientFileError(kind, f"not TOML: {error}") from None
    where = "[tool.uv] " if pyproject else ""
    settings: Any = document
    if pyproject:
        settings = _subtable(_subtable(document, "tool", kind), "uv", kind)
    changes: list[str] = []
    indexes = settings.get("index", tomlkit.aot())
    if not isinstance(indexes, AoT | Array) or not all(
        isinstance(entry, Table | InlineTable) for entry in indexes
    ):
        raise UnreadableClientFileError(kind, f"{where}index is not a list of tables")
    entries: list[Table | InlineTable] = list(indexes)
    chosen = (
        next((e for e in entries if e.get("name") == INDEX_NAME), None)
        or next((e for e in entries if e.get("default") is True), None)
        or next((e for e in entries if _same_url(e.get("url"), url)), None)
    )
    if chosen is None:
        _add_index(settings, indexes, url)
        changes.append(f'{where}index "{INDEX_NAME}" added as the default: {url}')
    else:
        changes.extend(_point_at(chosen, url, where))
    for entry in entries:
        if entry is not chosen and entry.get("default") is True:
            entry["default"] = False
            changes.append(f"{where}index {entry.get('url')} is no longer the default")
    if "index-url" in settings and settings["index-url"] != url:
        changes.append(
            f"{where}index-url (deprecated) changed from {settings['index-url']} to {url}"
        )
        settings["index-url"] = url
    merged = tomlkit.dumps(document)
    if not (text or "").endswith("\n\n"):
        merged = merged.rstrip("\n") + "\n"  # no blank lines piling up at the end
    after = tomllib.loads(merged)
    _check_uv_merge(before, after, url, pyproject=pyproject)
    return Merge(merged, tuple(changes), _uv_warnings(after, url, pyproject=pyproject))


def _add_index(settings: Any, indexes: AoT | Array, url: str) -> None:
    fields = {"name": INDEX_NAME, "url": url, "default": True}
    new: Table | InlineTable
    if isinstance(indexes, AoT):
        # A blank line before and after the new table, as people write them.
        if len(indexes) and not indexes[-1].as_string().endswith("\n\n"):
            indexes[-1].add(tomlkit.nl())
        new = tomlkit.table()
        new.update(fields)
        new.add(tomlkit.nl())
    else:
        new = tomlkit.inline_table()
        new.update(fields)
    indexes.append(new)
    if "index" not in settings:
        settings["index"] = indexes


def _point_at(index: Table | InlineTable, url: str, where: str) -> list[str]:
    label = f'"{index["name"]}"' if "name" in index else "(unnamed)"
    changes = []
    if index.get("url") != url:
        changes.append(f"{where}index {label} url changed from {index.get('url')} to {url}")
        index["url"] = url
    if index.get("default") is not True:
        index["default"] = True
        changes.append(f"{where}index {label} made the default")
    return changes


def _subtable(container: Any, key: str, kind: str) -> Any:
    if key not in container:
        container.append(key, tomlkit.table(is_super_table=True))
    value = container[key]
    if not isinstance(value, Table | InlineTable):
        raise UnreadableClientFileError(kind, f"{key} is not a table")
    return value


def _same_url(left: object, right: str) -> bool:
    return isinstance(left, str) and left.rstrip("/") == right.rstrip("/")


def _uv_settings(data: dict[str, Any], *, pyproject: bool) -> dict[str, Any]:
    settings: dict[str, Any] = data.get("tool", {}).get("uv", {}) if pyproject else data
    return settings


def _check_uv_merge(
    before: dict[str, Any], after: dict[str, Any], url: str, *, pyproject: bool
) -> None:
    ours = ("index", "index-url")
    old = _uv_settings(before, pyproject=pyproject)
    new = _uv_settings(after, pyproject=pyproject)
    kept_old = {k: v for k, v in old.items() if k not in ours}
    kept_new = {k: v for k, v in new.items() if k not in ours}
    outside_old = {k: v for k, v in before.items() if k != "tool"} if pyproject else {}
    outside_new = {k: v for k, v in after.items() if k != "tool"} if pyproject else {}
    tools_old = {k: v for k, v in before.get("tool", {}).items() if k != "uv"}
    tools_new = {k: v for k, v in after.get("tool", {}).items() if k != "uv"}
    defaults = [e.get("url") for e in new.get("index", []) if e.get("default") is True]
    if (
        kept_old != kept_new
        or outside_old != outside_new
        or (pyproject and tools_old != tools_new)
        or defaults != [url]
        or len(new.get("index", [])) < len(old.get("index", []))
    ):
        raise ClientConfigError(
            "could not merge the mirror into the uv configuration without changing something "
            "else in it; edit it by hand (the lines to add are printed by `cellar client-config`)"
        )


def _uv_warnings(data: dict[str, Any], url: str, *, pyproject: bool) -> tuple[str, ...]:
    settings = _uv_settings(data, pyproject=pyproject)
    where = "[tool.uv] " if pyproject else ""
    warnings = [
        f"{where}index {entry.get('url')} is searched before the mirror (uv tries every "
        "non-default index first)"
        for entry in settings.get("index", [])
        if entry.get("url") != url and not entry.get("explicit") and not entry.get("default")
    ]
    if settings.get("extra-index-url"):
        warnings.append(f"{where}extra-index-url is set: uv searches it before the mirror")
    if settings.get("no-index"):
        warnings.append(f"{where}no-index is set: uv uses no index at all")
    pip = settings.get("pip", {})
    for key in ("index-url", "default-index", "index", "extra-index-url"):
        if key in pip:
            warnings.append(f"{where}[pip] {key} is set: it wins for `uv pip` commands")
    return tuple(warnings)
