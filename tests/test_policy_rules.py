"""The policy's pure parts: licences judged as SPDX means them, a page judged file by file
and release by release, and ``[policy]`` read with every problem named."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from packaging.utils import NormalizedName

from cellar.config.checks import ConfigError
from cellar.config.load import parse_config
from cellar.config.policy import parse_duration
from cellar.model import DistFile, ProjectPage
from cellar.policy.judge import judge_page
from cellar.policy.licence import judge_licence, spdx_of
from cellar.policy.model import LicencePolicy, PolicySettings, ProjectRules, Severity
from cellar.policy.osv import AdvisoryDatabase, parse_advisory
from cellar.policy.provenance import verify_provenance
from cellar.select.metadata import StatedLicence, parse_metadata

LIB = NormalizedName("lib")
NOW = datetime(2026, 12, 1, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("expression", "allowed"),
    [
        ("MIT", True),
        ("GPL-3.0-only", False),
        ("MIT OR GPL-3.0-only", True),  # either will do
        ("MIT AND GPL-3.0-only", False),  # both must
        ("(MIT OR GPL-3.0-only) AND Apache-2.0", True),
        ("Apache-2.0 WITH LLVM-exception", True),
        ("BSD-3-Clause", False),  # not on the allow list
    ],
)
def test_an_spdx_expression_is_judged_as_spdx_means_it(expression: str, allowed: bool) -> None:
    policy = LicencePolicy(allow=frozenset({"MIT", "Apache-2.0"}), deny=frozenset({"GPL-3.0-only"}))
    refused = judge_licence(policy, StatedLicence(expression=expression))
    assert (refused is None) is allowed


def test_where_the_licence_is_read_from() -> None:
    assert spdx_of(StatedLicence(expression="mit", text="GPL")) == "MIT"
    assert spdx_of(StatedLicence(text="Apache-2.0")) == "Apache-2.0"
    classifiers = (
        "License :: OSI Approved :: MIT License",
        "License :: OSI Approved :: BSD License",  # which BSD is not said: not read
        "License :: OSI Approved :: GNU General Public License v3 or later (GPLv3+)",
    )
    assert spdx_of(StatedLicence(text="see LICENSE", classifiers=classifiers)) == (
        "GPL-3.0-or-later AND MIT"
    )
    assert spdx_of(StatedLicence(text="BSD")) is None


def test_an_unknown_licence_is_allowed_or_refused_as_configured() -> None:
    unknown = StatedLicence(text="Proprietary, see LICENSE")
    lenient = LicencePolicy(deny=frozenset({"AGPL-3.0-only"}))
    assert judge_licence(lenient, unknown) is None
    strict = LicencePolicy(deny=frozenset({"AGPL-3.0-only"}), unknown="refuse")
    assert judge_licence(strict, unknown) == (
        'its licence is not stated as SPDX (unknown-licence = "refuse")'
    )
    assert judge_licence(LicencePolicy(), unknown) is None  # no licence policy: not judged


def test_core_metadata_carries_the_licence_fields() -> None:
    raw = (
        b"Metadata-Version: 2.4\nName: lib\nVersion: 1.0\nLicense-Expression: MIT\n"
        b"Classifier: License :: OSI Approved :: MIT License\n"
        b"Classifier: Programming Language :: Python\n\n"
    )
    licence = parse_metadata(raw, "lib").licence
    assert licence.expression == "MIT"
    assert licence.classifiers == ("License :: OSI Approved :: MIT License",)


def _page(*files: tuple[str, str | None]) -> ProjectPage:
    return ProjectPage(
        "lib",
        tuple(
            DistFile(name, f"http://127.0.0.1/{name}", upload_time=uploaded)
            for name, uploaded in files
        ),
    )


def _database(*documents: dict[str, object]) -> AdvisoryDatabase:
    found = [a for d in documents if (a := parse_advisory(d)) is not None]
    return AdvisoryDatabase({LIB: tuple(found)}, "digest", Path("osv"))


def _vulnerable(identifier: str, version: str, severity: str) -> dict[str, object]:
    return {
        "id": identifier,
        "database_specific": {"severity": severity},
        "affected": [{"package": {"ecosystem": "PyPI", "name": "lib"}, "versions": [version]}],
    }


def test_a_page_is_judged_file_by_file_and_release_by_release() -> None:
    page = _page(
        ("lib-1.0.tar.gz", "2026-01-01T00:00:00Z"),
        ("lib-2.0-py3-none-any.whl", "2026-11-30T12:00:00Z"),  # 12 hours old
        ("lib-2.0.tar.gz", "2026-11-20T00:00:00Z"),
        ("lib-3.0.tar.gz", "2026-01-01T00:00:00Z"),
    )
    settings = PolicySettings(
        rules=ProjectRules(min_release_age=86400.0, refuse_severity=Severity.HIGH),
    )
    database = _database(_vulnerable("GHSA-xxxx-yyyy-zzzz", "3.0", "CRITICAL"))
    judged = judge_page(LIB, page, settings, now=NOW, first_seen={}, database=database)
    assert [f.filename for f in judged.page.files] == ["lib-1.0.tar.gz", "lib-2.0.tar.gz"]
    by_rule = {(r.filename, r.rule) for r in judged.refused}
    assert by_rule == {("lib-2.0-py3-none-any.whl", "min-release-age"), (None, "vulnerable")}
    assert judged.held_until == datetime(2026, 12, 1, 12, tzinfo=UTC).timestamp()


def test_severity_below_the_threshold_is_reported_and_unknown_is_taken_as_set() -> None:
    page = _page(("lib-1.0.tar.gz", None), ("lib-2.0.tar.gz", None))
    unstated: dict[str, object] = {
        "id": "PYSEC-2026-2",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "lib"}, "versions": ["2.0"]}],
    }
    database = _database(_vulnerable("GHSA-aaaa-aaaa-aaaa", "1.0", "LOW"), unstated)
    rules = ProjectRules(refuse_severity=Severity.HIGH)
    judged = judge_page(
        LIB, page, PolicySettings(rules=rules), now=NOW, first_seen={}, database=database
    )
    assert [(r.version, r.rule) for r in judged.refused] == [("2.0", "vulnerable")]
    assert "severity unknown" in judged.refused[0].detail
    assert [(f.version, f.advisory) for f in judged.reported] == [("1.0", "GHSA-aaaa-aaaa-aaaa")]
    lenient = PolicySettings(rules=rules, unknown_severity=Severity.MODERATE)
    judged = judge_page(LIB, page, lenient, now=NOW, first_seen={}, database=database)
    assert judged.refused == ()


CONFIG = """
[mirror]
directory = "m"
[packages]
requirements = ["lib"]
dependencies = false
[targets]
all = true
"""


def _config(policy: str) -> PolicySettings:
    data = tomllib.loads(CONFIG + policy)
    return parse_config(data, Path("/etc/cellar/cellar.toml")).policy


def test_the_policy_table_is_read_with_overrides_and_exceptions() -> None:
    policy = _config(
        """
[policy]
min-release-age = "7d"
osv = "osv/PyPI.zip"
refuse-severity = "high"
licences-deny = ["agpl-3.0-only"]
[policy.projects.Numpy]
min-release-age = "0"
reason = "security fixes land fast; we take them at once"
[[policy.exceptions]]
project = "Django"
versions = "==4.2.1"
allow = ["GHSA-aaaa-bbbb-cccc", "min-release-age"]
reason = "CHG-42: not reachable in our use"
"""
    )
    assert policy.rules.min_release_age == 7 * 86400
    assert policy.rules.refuse_severity is Severity.HIGH
    assert policy.osv == Path("/etc/cellar/osv/PyPI.zip")
    assert policy.licences.deny == frozenset({"AGPL-3.0-only"})
    numpy = policy.rules_for(NormalizedName("numpy"))
    assert (numpy.min_release_age, numpy.refuse_severity) == (0.0, Severity.HIGH)  # inherited
    assert numpy.reason == "security fixes land fast; we take them at once"
    [exception] = policy.exceptions
    assert exception.project == "django" and exception.allow == {
        "GHSA-aaaa-bbbb-cccc",
        "min-release-age",
    }
    assert policy.active


def test_no_policy_table_is_no_policy() -> None:
    assert not _config("").active


@pytest.mark.parametrize(
    ("policy", "problem"),
    [
        ('[policy]\nmin-release-age = "a week"', "[policy] min-release-age: must be a duration"),
        ('[policy]\nrefuse-severity = "severe"', "[policy] refuse-severity: must be one of"),
        (
            '[policy]\nlicences-allow = ["MIT OR BSD-3-Clause"]',
            "must be one SPDX licence identifier",
        ),
        ('[policy]\nlicences-deny = ["Nonsense-1.0"]', "[policy] licences-deny[0]"),
        (
            '[policy]\nunknown-licence = "maybe"',
            '[policy] unknown-licence: must be "allow" or "refuse"',
        ),
        ('[policy.projects.lib]\nmin-release-age = "1d"', "[policy.projects.lib] reason: missing"),
        (
            '[[policy.exceptions]]\nproject = "lib"\nallow = ["vulnerable"]',
            "[policy.exceptions[0]] reason: missing",
        ),
        (
            '[[policy.exceptions]]\nproject = "lib"\nallow = ["MAL-2026-1"]\nreason = "x"',
            "MAL-2026-1: a malicious release is always refused",
        ),
        (
            '[[policy.exceptions]]\nproject = "lib"\nallow = ["whatever"]\nreason = "x"',
            "'whatever' is neither a rule",
        ),
        (
            '[[policy.exceptions]]\nproject = "lib"\nversions = "2.0"\nallow = ["licence"]\n'
            'reason = "x"',
            "not a version specifier",
        ),
        ('[policy.projects.lib]\nprovenance-repository = "no-slash"\nreason = "x"', "owner/name"),
        ('[policy]\ncooldown = "7d"', "[policy] cooldown: unknown key"),
    ],
)
def test_each_problem_is_named(policy: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        _config(policy)
    assert problem in str(raised.value)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("7d", 604800.0),
        ("36h", 129600.0),
        ("90m", 5400.0),
        ("2w", 1209600.0),
        ("0", 0.0),
        ("1.5d", 129600.0),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[]", "not a PEP 740 provenance object"),
        (b'{"version": 2, "attestation_bundles": []}', "not a PEP 740 provenance object"),
        (b'{"version": 1, "attestation_bundles": []}', "holds no attestation bundles"),
        (b"{" + b" " * (1 << 20) + b"}", "larger than"),
        (
            b'{"version": 1, "attestation_bundles": [{"publisher": {"kind": "GitHub"}}]}',
            "not a provenance object",
        ),
        (
            b'{"version": 1, "attestation_bundles": [{"publisher": {"kind": "GitHub", '
            b'"repository": "a/b", "workflow": "r.yml"}, "attestations": []}]}',
            "an attestation bundle holds no attestation",
        ),
    ],
)
def test_a_provenance_object_of_the_wrong_shape_is_refused(body: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        verify_provenance(body, "lib-1.0.tar.gz", "0" * 64)
