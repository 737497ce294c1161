"""The OSV reader: OSV's range rule, aliases merged, severities from GitHub's words and CVSS
vectors, the zip and directory forms, and hostile databases (an error naming the file, or
the bad documents skipped and counted)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import NormalizedName
from packaging.version import Version

from cellar.policy.model import Severity
from cellar.policy.osv import MAX_DOCUMENT, OsvError, cvss_severity, load_database, parse_advisory

LIB = NormalizedName("lib")


def document(identifier: str = "PYSEC-2026-1", **fields: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": identifier,
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "Lib"},
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": [{"introduced": "1.0"}, {"fixed": "1.5"}, {"introduced": "2.0"}],
                    }
                ],
                "versions": ["0.9"],
            }
        ],
    }
    found.update(fields)
    return found


@pytest.mark.parametrize(
    ("version", "affected"),
    [
        ("0.8", False),
        ("0.9", True),  # listed exactly
        ("1.0", True),
        ("1.4.9", True),
        ("1.5", False),  # fixed
        ("1.9", False),
        ("2.0", True),  # introduced again, never fixed
        ("3.0rc1", True),
    ],
)
def test_osv_ranges_are_read_as_osv_defines_them(version: str, affected: bool) -> None:
    advisory = parse_advisory(document())
    assert advisory is not None
    assert advisory.affects(LIB, Version(version)) is affected


def test_last_affected_includes_the_version_itself_only() -> None:
    events = [{"introduced": "0"}, {"last_affected": "2.1"}]
    found = parse_advisory(
        document(
            affected=[
                {
                    "package": {"ecosystem": "PyPI", "name": "lib"},
                    "ranges": [{"type": "ECOSYSTEM", "events": events}],
                }
            ]
        )
    )
    assert found is not None
    assert [found.affects(LIB, Version(v)) for v in ("0.1", "2.1", "2.1.1")] == [True, True, False]


def test_what_does_not_concern_pypi_or_is_withdrawn_is_left_out() -> None:
    npm = document(affected=[{"package": {"ecosystem": "npm", "name": "lib"}, "versions": ["1"]}])
    assert parse_advisory(npm) is None
    assert parse_advisory(document(withdrawn="2026-01-01T00:00:00Z")) is None


def test_a_range_that_does_not_parse_is_not_guessed_at() -> None:
    events = [{"introduced": "not a version"}, {"fixed": "2.0"}]
    found = parse_advisory(
        document(
            affected=[
                {
                    "package": {"ecosystem": "PyPI", "name": "lib"},
                    "ranges": [{"type": "ECOSYSTEM", "events": events}],
                }
            ]
        )
    )
    assert found is not None and not found.affects(LIB, Version("1.0"))


@pytest.mark.parametrize(
    ("kind", "vector", "band"),
    [
        ("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", Severity.CRITICAL),  # 9.8
        ("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", Severity.HIGH),  # 7.5
        ("CVSS_V3", "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:L/A:N", Severity.MODERATE),  # 4.2
        ("CVSS_V3", "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", Severity.LOW),  # 1.8
        (
            "CVSS_V4",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            Severity.CRITICAL,
        ),
        ("CVSS_V2", "AV:N/AC:L/Au:N/C:P/I:P/A:P", Severity.HIGH),  # 7.5
        ("CVSS_V3", "CVSS:3.1/nonsense", None),
        ("UNKNOWN", "x", None),
    ],
)
def test_cvss_vectors_give_their_band(kind: str, vector: str, band: Severity | None) -> None:
    assert cvss_severity(kind, vector) is band


def test_aliases_are_one_vulnerability_with_the_highest_severity_stated(tmp_path: Path) -> None:
    pysec = document("PYSEC-2026-1", aliases=["GHSA-aaaa-bbbb-cccc", "CVE-2026-9"])
    ghsa = document("GHSA-aaaa-bbbb-cccc", aliases=["CVE-2026-9"])
    ghsa["database_specific"] = {"severity": "MODERATE"}
    low = {"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"}
    pysec["severity"] = [low]
    for found in (pysec, ghsa):
        (tmp_path / f"{found['id']}.json").write_text(json.dumps(found))
    database = load_database(tmp_path)
    [advisory] = database.advisories(LIB, Version("2.0"))
    assert advisory.id == "GHSA-aaaa-bbbb-cccc"  # the record that states a severity names it
    assert advisory.severity is Severity.MODERATE
    assert set(advisory.aliases) == {"PYSEC-2026-1", "CVE-2026-9"}
    assert len(database) == 1


def test_a_malicious_record_is_malicious_under_any_of_its_names() -> None:
    found = parse_advisory(document("GHSA-mmmm-aaaa-llll", aliases=["MAL-2026-1"]))
    assert found is not None and found.malicious


def test_the_pypi_export_zip_is_read_and_its_digest_names_its_content(tmp_path: Path) -> None:
    archive = tmp_path / "PyPI.zip"
    with zipfile.ZipFile(archive, "w") as written:
        written.writestr("PYSEC-2026-1.json", json.dumps(document()))
        written.writestr("MAL-2026-2.json", json.dumps(document("MAL-2026-2")))
    database = load_database(archive)
    assert {a.id for a in database.advisories(LIB, Version("2.0"))} == {
        "PYSEC-2026-1",
        "MAL-2026-2",
    }
    with zipfile.ZipFile(archive, "a") as written:
        written.writestr("PYSEC-2026-3.json", json.dumps(document("PYSEC-2026-3")))
    assert load_database(archive).digest != database.digest


def test_hostile_documents_are_skipped_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    archive = tmp_path / "PyPI.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as written:
        written.writestr("PYSEC-2026-1.json", json.dumps(document()))
        written.writestr("not-json.json", b"{nope")
        written.writestr("a-list.json", b"[1, 2]")
        written.writestr("no-id.json", json.dumps({"affected": []}))
        written.writestr("bomb.json", b" " * (MAX_DOCUMENT + 1))  # compresses to little
        written.writestr("../../escape.json", json.dumps(document("PYSEC-2026-5")))
    database = load_database(archive)
    assert database.skipped == 3
    # The entry named with ../ is read as data (never extracted): its advisory counts.
    assert {a.id for a in database.advisories(LIB, Version("2.0"))} == {
        "PYSEC-2026-1",
        "PYSEC-2026-5",
    }
    assert "3 documents are not OSV advisories: skipped" in caplog.text
    assert "larger than" in caplog.text
    assert not (tmp_path.parent / "escape.json").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a zip at all", "File is not a zip file"),
        (None, "no such file or directory"),
    ],
)
def test_a_database_that_cannot_be_read_is_one_clear_error(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "PyPI.zip"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(OsvError, match=message) as raised:
        load_database(path)
    assert str(path) in str(raised.value)


def test_a_database_of_nothing_but_junk_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("[]")
    with pytest.raises(OsvError, match="none of its 1 documents is an OSV advisory"):
        load_database(tmp_path)
