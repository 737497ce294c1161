"""The ``[policy]`` table (docs/policy.md): release age, the OSV database and the severity
refused, provenance, licences; per-project overrides and exceptions, each with its reason."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal, cast

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name

from cellar.config.checks import ConfigProblem, get_value, resolve_path
from cellar.policy.model import (
    RULES,
    SEVERITY_WORDS,
    LicencePolicy,
    PolicyException,
    PolicySettings,
    ProjectRules,
    Severity,
)

POLICY_KEYS: Final = frozenset(
    {
        *("min-release-age", "osv", "refuse-severity", "unknown-severity", "require-provenance"),
        *("provenance", "licences-allow", "licences-deny", "unknown-licence", "audit-log"),
        *("projects", "exceptions"),
    }
)
_PROJECT_KEYS: Final = frozenset(
    {"min-release-age", "refuse-severity", "require-provenance", "provenance-repository", "reason"}
)
_EXCEPTION_KEYS: Final = frozenset({"project", "versions", "allow", "reason"})
_UNITS: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", re.IGNORECASE)
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


def parse_duration(text: str) -> float | None:
    """``"7d"``, ``"12h"``, ``"90m"``, ``"2w"``, ``"30s"`` → seconds; None if it is none."""
    found = _DURATION.fullmatch(text)
    if found is None:
        return None
    return float(found.group(1)) * _UNITS[found.group(2).lower()]


def policy_table(
    table: Mapping[str, Any], base: Path, problems: list[ConfigProblem]
) -> PolicySettings:
    """Validate ``[policy]``; relative paths are taken relative to the directory ``base``."""
    rules = _rules(table, "policy", problems, ProjectRules())
    osv = get_value(table, "policy", "osv", str, problems)
    unknown = _severity(table, "policy", "unknown-severity", problems, never=False)
    allow = _identifiers(table, "licences-allow", problems)
    deny = _identifiers(table, "licences-deny", problems)
    unknown_licence = get_value(table, "policy", "unknown-licence", str, problems) or "allow"
    if unknown_licence not in ("allow", "refuse"):
        problems.append(ConfigProblem("[policy] unknown-licence", 'must be "allow" or "refuse"'))
        unknown_licence = "allow"
    mirror_provenance = get_value(table, "policy", "provenance", bool, problems)
    audit_log = get_value(table, "policy", "audit-log", str, problems)
    projects: dict[NormalizedName, ProjectRules] = {}
    for name, value in (get_value(table, "policy", "projects", dict, problems) or {}).items():
        where = f"policy.projects.{name}"
        if not isinstance(value, Mapping):
            problems.append(ConfigProblem(f"[{where}]", "must be a table"))
            continue
        _unknown_keys(value, _PROJECT_KEYS, where, problems)
        reason = _reason(value, where, problems)
        projects[canonicalize_name(name)] = _rules(value, where, problems, rules, reason=reason)
    exceptions = []
    for index, value in enumerate(get_value(table, "policy", "exceptions", list, problems) or []):
        exception = _exception(value, f"policy.exceptions[{index}]", problems)
        if exception is not None:
            exceptions.append(exception)
    return PolicySettings(
        rules=rules,
        projects=MappingProxyType(projects),
        exceptions=tuple(exceptions),
        osv=resolve_path(base, osv) if osv else None,
        unknown_severity=unknown or Severity.HIGH,
        licences=LicencePolicy(
            allow=allow, deny=deny, unknown=cast(Literal["allow", "refuse"], unknown_licence)
        ),
        mirror_provenance=True if mirror_provenance is None else mirror_provenance,
        audit_log=resolve_path(base, audit_log) if audit_log else None,
    )


def _rules(
    table: Mapping[str, Any],
    where: str,
    problems: list[ConfigProblem],
    inherited: ProjectRules,
    *,
    reason: str | None = None,
) -> ProjectRules:
    age = get_value(table, where, "min-release-age", (str, int), problems)
    seconds = inherited.min_release_age
    if age is not None:
        found = parse_duration(str(age))
        if found is None:
            problems.append(
                ConfigProblem(
                    f"[{where}] min-release-age",
                    f'must be a duration such as "7d", "36h" or "0", not {age!r}',
                )
            )
        else:
            seconds = found
    refuse = inherited.refuse_severity
    if "refuse-severity" in table:
        refuse = _severity(table, where, "refuse-severity", problems, never=True)
    require = get_value(table, where, "require-provenance", bool, problems)
    repository = get_value(table, where, "provenance-repository", str, problems)
    if repository is not None and not _REPOSITORY.fullmatch(repository):
        problems.append(
            ConfigProblem(f"[{where}] provenance-repository", "must be owner/name, as on the forge")
        )
        repository = None
    return ProjectRules(
        min_release_age=seconds,
        refuse_severity=refuse,
        require_provenance=inherited.require_provenance if require is None else require,
        provenance_repository=repository,
        reason=reason,
    )


def _severity(
    table: Mapping[str, Any], where: str, key: str, problems: list[ConfigProblem], *, never: bool
) -> Severity | None:
    value = get_value(table, where, key, str, problems)
    if value is None:
        return None
    if never and value == "never":
        return None
    found = SEVERITY_WORDS.get(value)
    if found is None:
        words = ", ".join(f'"{w}"' for w in (*SEVERITY_WORDS, *(("never",) if never else ())))
        problems.append(ConfigProblem(f"[{where}] {key}", f"must be one of {words}"))
    return found


def _identifiers(
    table: Mapping[str, Any], key: str, problems: list[ConfigProblem]
) -> frozenset[str]:
    from packaging.licenses import (  # noqa: PLC0415 - only with a licence policy
        InvalidLicenseExpression,
        canonicalize_license_expression,
    )

    found: set[str] = set()
    for index, value in enumerate(get_value(table, "policy", key, list, problems) or []):
        try:
            canonical = str(canonicalize_license_expression(str(value)))
        except InvalidLicenseExpression as error:
            problems.append(ConfigProblem(f"[policy] {key}[{index}]", str(error)))
            continue
        if " " in canonical:
            problems.append(
                ConfigProblem(f"[policy] {key}[{index}]", "must be one SPDX licence identifier")
            )
            continue
        found.add(canonical)
    return frozenset(found)


def _reason(table: Mapping[str, Any], where: str, problems: list[ConfigProblem]) -> str:
    reason = get_value(table, where, "reason", str, problems, required=True)
    if reason is not None and not reason.strip():
        problems.append(ConfigProblem(f"[{where}] reason", "must say why (it is recorded)"))
    return (reason or "").strip()


def _exception(value: Any, where: str, problems: list[ConfigProblem]) -> PolicyException | None:
    if not isinstance(value, Mapping):
        problems.append(ConfigProblem(f"[{where}]", "must be a table"))
        return None
    _unknown_keys(value, _EXCEPTION_KEYS, where, problems)
    project = get_value(value, where, "project", str, problems, required=True)
    reason = _reason(value, where, problems)
    text = get_value(value, where, "versions", str, problems) or ""
    try:
        versions = SpecifierSet(text)
    except InvalidSpecifier:
        problems.append(ConfigProblem(f"[{where}] versions", f"not a version specifier: {text!r}"))
        return None
    allow = get_value(value, where, "allow", list, problems, required=True) or []
    lifted: set[str] = set()
    for item in allow:
        if not isinstance(item, str) or not item.strip():
            problems.append(ConfigProblem(f"[{where}] allow", "must list rules or advisory ids"))
        elif item == "malicious" or item.startswith("MAL-"):
            problems.append(
                ConfigProblem(f"[{where}] allow", f"{item}: a malicious release is always refused")
            )
        elif item not in RULES and not re.fullmatch(r"[A-Z][A-Z0-9]*-[A-Za-z0-9._:-]+", item):
            rules = ", ".join(r for r in RULES if r != "malicious")
            problems.append(
                ConfigProblem(
                    f"[{where}] allow", f"{item!r} is neither a rule ({rules}) nor an advisory id"
                )
            )
        else:
            lifted.add(item)
    if project is None or not reason or not lifted:
        if project is not None and reason and not allow:
            problems.append(ConfigProblem(f"[{where}] allow", "must not be empty"))
        return None
    return PolicyException(canonicalize_name(project), versions, frozenset(lifted), reason)


def _unknown_keys(
    table: Mapping[str, Any], known: frozenset[str], where: str, problems: list[ConfigProblem]
) -> None:
    for key in table:
        if key not in known:
            problems.append(ConfigProblem(f"[{where}] {key}", "unknown key"))
