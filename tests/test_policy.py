"""``[policy]`` end to end against the local upstream: a release held until it is old enough
(time injected into the run, never slept), advisories from an OSV database written here
(malicious always refused, vulnerabilities by severity), a release marked after it was
mirrored taken out and kept aside, exceptions, licences, and the closure moving to what is
left, for pip and uv alike."""

from __future__ import annotations

import base64
import json
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cellar.cli import main
from cellar.config.load import load_config
from cellar.state import MirrorState
from cellar.sync.engine import MirrorResult, run_mirror
from tests.support.installers import imported_version, make_venv, pip_install, uv_install, uv_venv
from tests.support.mirror import assert_consistent, cellar_serve, listed_files
from tests.support.packages import build_wheel
from tests.support.s3 import S3Server, storage_table
from tests.support.upstream import LocalIndex, RawAnswer

#: The moment the tests' runs happen at (injected).
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=60)


def write_policy_config(
    directory: Path, index: LocalIndex, policy: str = "", requirements: str = '"app"'
) -> Path:
    path = directory / "cellar.toml"
    path.write_text(
        f'[mirror]\ndirectory = "mirror"\nupstream = "{index.url}"\nretries = 1\n'
        f"[packages]\nrequirements = [{requirements}]\n"
        '[targets]\npython = ["3.11"]\nplatforms = ["linux"]\n'
        f"[policy]\n{policy}\n",
        encoding="utf-8",
    )
    return path


def advisory(identifier: str, project: str, **fields: Any) -> dict[str, Any]:
    """An OSV document on ``project``; ``fields`` add to or replace its own."""
    document: dict[str, Any] = {
        "schema_version": "1.6.0",
        "id": identifier,
        "modified": "2026-11-30T00:00:00Z",
        "summary": f"{identifier} in {project}",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": project},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "2.0"}]}],
            }
        ],
    }
    document.update(fields)
    return document


def write_osv(directory: Path, *documents: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.json"):
        old.unlink()
    for document in documents:
        (directory / f"{document['id']}.json").write_text(json.dumps(document), encoding="utf-8")
    return directory


def populate(index: LocalIndex, *, new: datetime = OLD) -> None:
    """``app`` needs ``lib``; ``lib`` 1.0 and 1.1 are old, 2.0 was uploaded at ``new``."""
    index.add(build_wheel("app", "1.0", requires_dist=["lib>=1.0"]), upload_time=OLD)
    index.add(build_wheel("lib", "1.0"), upload_time=OLD)
    index.add(build_wheel("lib", "1.1"), upload_time=OLD)
    index.add(build_wheel("lib", "2.0"), upload_time=new)


def mirrored(config: Path, at: datetime = NOW) -> MirrorResult:
    return run_mirror(load_config(config), now=at.timestamp())


def lib_versions(web: Path) -> list[str]:
    return sorted(name.split("-")[1] for name in listed_files(web, "lib"))


def installed_lib(config: Path, where: Path, env: dict[str, str]) -> tuple[str, str]:
    """Serve the mirror; install ``app`` from it with pip and with uv, each into a fresh
    environment below ``where``; return the ``lib`` each got."""
    found = []
    with cellar_serve(config) as base:
        for make, install in ((make_venv, pip_install), (uv_venv, uv_install)):
            python = make(where / install.__name__, sys.executable, env=env)
            done = install(python, f"{base}simple/", "app", env=env)
            assert done.returncode == 0, done.stdout + done.stderr
            found.append(imported_version(python, "lib"))
    return found[0], found[1]


def audit_events(directory: Path) -> list[dict[str, Any]]:
    log = directory / "mirror" / ".cellar" / "audit.log"
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def test_a_new_release_is_held_until_old_enough_then_admitted(
    tmp_path: Path, local_index: LocalIndex, installer_env: dict[str, str]
) -> None:
    populate(local_index, new=NOW - timedelta(days=1))
    config = write_policy_config(tmp_path, local_index, 'min-release-age = "7d"')
    web = tmp_path / "mirror" / "web"
    result = mirrored(config)
    assert result.ok, result.failures
    assert lib_versions(web) == ["1.1"]  # the newest release old enough
    assert result.policy is not None and (result.policy.refused, result.policy.held) == (1, 1)
    assert not list(web.rglob("lib-2.0*"))  # neither mirrored nor listed
    assert_consistent(web)
    with MirrorState.open(tmp_path / "mirror") as state:
        [held] = state.refusals("lib")
        assert (held.version, held.rule) == ("2.0", "min-release-age")
        assert held.until == pytest.approx((NOW + timedelta(days=6)).timestamp())
    assert installed_lib(config, tmp_path / "first", installer_env) == ("1.1", "1.1")
    # Five days on, still too young: nothing upstream changed, and the plan is kept.
    assert mirrored(config, NOW + timedelta(days=5)).ok
    assert lib_versions(web) == ["1.1"]
    # A week on, it is old enough: the plan kept from before no longer holds, and 2.0 comes.
    result = mirrored(config, NOW + timedelta(days=6, minutes=1))
    assert result.ok and result.policy is not None
    assert (result.policy.refused, result.policy.admitted) == (0, 1)
    assert lib_versions(web) == ["2.0"]
    assert_consistent(web)
    assert installed_lib(config, tmp_path / "then", installer_env) == ("2.0", "2.0")
    events = [(e["event"], e.get("version")) for e in audit_events(tmp_path)]
    assert events == [("refused", "2.0"), ("admitted", "2.0")]


def test_a_file_without_an_upload_time_is_timed_from_when_cellar_first_saw_it(
    tmp_path: Path, local_index: LocalIndex
) -> None:
    local_index.add(build_wheel("app", "1.0"))  # no upload-time at all
    config = write_policy_config(tmp_path, local_index, 'min-release-age = "2d"')
    web = tmp_path / "mirror" / "web"
    result = mirrored(config)
    assert result.policy is not None and result.policy.held == 1
    assert listed_files(web, "app") == {}
    assert mirrored(config, NOW + timedelta(days=1)).policy.held == 1  # type: ignore[union-attr]
    assert mirrored(config, NOW + timedelta(days=2)).policy.held == 0  # type: ignore[union-attr]
    assert list(listed_files(web, "app")) == ["app-1.0-py3-none-any.whl"]


def test_a_malicious_release_is_refused_and_one_marked_later_is_withdrawn(
    tmp_path: Path,
    local_index: LocalIndex,
    installer_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    populate(local_index)
    osv = write_osv(tmp_path / "osv")
    config = write_policy_config(tmp_path, local_index, f'osv = "{osv}"')
    web = tmp_path / "mirror" / "web"
    assert mirrored(config).ok
    assert lib_versions(web) == ["2.0"]
    [wheel] = web.rglob("lib-2.0-py3-none-any.whl")
    # A newer database marks 2.0 malicious: the next run takes it out and the closure moves.
    write_osv(osv, advisory("MAL-2026-7", "lib"))
    result = mirrored(config)
    assert result.ok, result.failures
    assert result.policy is not None
    assert (result.policy.refused, result.policy.withdrawn) == (1, 1)
    assert lib_versions(web) == ["1.1"]
    assert not wheel.exists()
    aside = web / "withdrawn" / wheel.relative_to(web)
    assert aside.is_file()  # kept aside, outside packages/
    assert_consistent(web)
    with MirrorState.open(tmp_path / "mirror") as state:
        [record] = state.withdrawn()
        assert record.aside == aside.relative_to(web).as_posix()
        assert "MAL-2026-7" in record.reason
    assert main(["status", "-c", str(config)]) == 0
    assert "policy:   1 kept out (0 held for their age), 1 withdrawn" in capsys.readouterr().out
    kinds = [e["event"] for e in audit_events(tmp_path)]
    assert kinds == ["refused", "withdrawn"]
    # What is kept aside is no orphan of the tree: verify and its pruning leave it.
    assert main(["verify", "-c", str(config), "--prune-orphans"]) == 0
    assert aside.is_file()
    with cellar_serve(config) as base:
        python = make_venv(tmp_path / "venv", sys.executable)
        done = pip_install(python, f"{base}simple/", "app", "lib>=1.1", env=installer_env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert imported_version(python, "lib") == "1.1"
        # Never served: not at its old URL, not under withdrawn/.
        for path in (wheel.relative_to(web), aside.relative_to(web)):
            with pytest.raises(urllib.error.HTTPError) as missing:
                urllib.request.urlopen(f"{base}{path.as_posix()}")  # noqa: S310 - 127.0.0.1
            assert missing.value.code == 404
            missing.value.close()
    # An exception cannot lift a malicious advisory.
    bad = write_policy_config(
        tmp_path,
        local_index,
        f'osv = "{osv}"\n[[policy.exceptions]]\nproject = "lib"\nallow = ["MAL-2026-7"]\n'
        'reason = "we trust it"',
    )
    assert main(["mirror", "-c", str(bad)]) == 2


def test_vulnerabilities_are_reported_or_refused_by_severity_and_exceptions_are_logged(
    tmp_path: Path, local_index: LocalIndex
) -> None:
    populate(local_index)
    osv = write_osv(
        tmp_path / "osv",
        advisory("GHSA-aaaa-bbbb-cccc", "lib", database_specific={"severity": "HIGH"}),
    )
    web = tmp_path / "mirror" / "web"
    reported = write_policy_config(
        tmp_path, local_index, f'osv = "{osv}"\nrefuse-severity = "critical"'
    )
    result = mirrored(reported)
    assert result.policy is not None and result.policy.refused == 0
    assert lib_versions(web) == ["2.0"]  # high < critical: reported only
    refused = write_policy_config(tmp_path, local_index, f'osv = "{osv}"\nrefuse-severity = "high"')
    [wheel] = web.rglob("lib-2.0-py3-none-any.whl")
    result = mirrored(refused)
    assert result.policy is not None
    assert (result.policy.refused, result.policy.withdrawn) == (1, 1)
    assert lib_versions(web) == ["1.1"]
    assert not wheel.exists()
    with MirrorState.open(tmp_path / "mirror") as state:
        [record] = state.refusals("lib")
        assert record.rule == "vulnerable" and "severity high" in record.detail
    # An exception with a reason lets it through, and is logged each run it is used.
    excepted = write_policy_config(
        tmp_path,
        local_index,
        f'osv = "{osv}"\nrefuse-severity = "high"\n[[policy.exceptions]]\nproject = "lib"\n'
        'versions = "==2.0"\nallow = ["GHSA-aaaa-bbbb-cccc"]\nreason = "not reachable: CHG-12"',
    )
    result = mirrored(excepted)
    assert result.policy is not None and (result.policy.refused, result.policy.excepted) == (0, 1)
    assert lib_versions(web) == ["2.0"]
    # The withdrawn file is put back, not downloaded again.
    assert (result.policy.restored, result.files_added) == (1, 0)
    assert wheel.is_file()
    assert_consistent(web)
    used = [e for e in audit_events(tmp_path) if e["event"] == "excepted"]
    assert used == [
        {
            "event": "excepted",
            "project": "lib",
            "version": "2.0",
            "lifted": "GHSA-aaaa-bbbb-cccc",
            "reason": "not reachable: CHG-12",
            "time": used[0]["time"],
        }
    ]


def test_a_requirement_only_refused_releases_fit_fails_for_its_target(
    tmp_path: Path, local_index: LocalIndex, capsys: pytest.CaptureFixture[str]
) -> None:
    populate(local_index)
    local_index.add(build_wheel("newapp", "1.0", requires_dist=["lib>=2"]), upload_time=OLD)
    osv = write_osv(tmp_path / "osv", advisory("MAL-2026-9", "lib"))
    config = write_policy_config(tmp_path, local_index, f'osv = "{osv}"', '"newapp"')
    assert main(["mirror", "-c", str(config)]) == 1
    out = capsys.readouterr().out
    assert "for cp311-manylinux_2_28_x86_64: lib>=2 (required by newapp 1.0" in out  # target
    assert "cannot be satisfied: the policy refuses version 2.0 (malicious: MAL-2026-9" in out


def test_a_licence_not_allowed_moves_the_closure(tmp_path: Path, local_index: LocalIndex) -> None:
    local_index.add(build_wheel("app", "1.0", requires_dist=["lib"]), upload_time=OLD)
    local_index.add(build_wheel("lib", "1.0", licence="MIT OR Apache-2.0"), upload_time=OLD)
    local_index.add(build_wheel("lib", "2.0", licence="AGPL-3.0-only"), upload_time=OLD)
    config = write_policy_config(
        tmp_path, local_index, 'licences-deny = ["AGPL-3.0-only", "GPL-3.0-only"]'
    )
    web = tmp_path / "mirror" / "web"
    result = mirrored(config)
    assert result.ok, result.failures
    assert lib_versions(web) == ["1.0"]
    with MirrorState.open(tmp_path / "mirror") as state:
        [record] = state.refusals("lib")
        assert (record.version, record.rule) == ("2.0", "licence")
        assert "AGPL-3.0-only is not allowed" in record.detail


def _bogus_provenance(repository: str = "example/lib") -> bytes:
    """A provenance object of the right shape whose one attestation verifies nothing."""

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    attestation = {
        "version": 1,
        "verification_material": {
            "certificate": b64(b"no certificate"),
            "transparency_entries": [{}],
        },
        "envelope": {"statement": b64(b"{}"), "signature": b64(b"no signature")},
    }
    publisher = {"kind": "GitHub", "repository": repository, "workflow": "release.yml"}
    return json.dumps(
        {
            "version": 1,
            "attestation_bundles": [{"publisher": publisher, "attestations": [attestation]}],
        }
    ).encode()


def test_required_provenance_refuses_files_without_it_and_those_that_do_not_verify(
    tmp_path: Path, local_index: LocalIndex, capsys: pytest.CaptureFixture[str]
) -> None:
    local_index.add(build_wheel("app", "1.0", requires_dist=["lib"]), upload_time=OLD)
    local_index.add(build_wheel("lib", "1.0"), upload_time=OLD)  # no provenance at all
    path = "/integrity/lib/2.0/provenance"
    local_index.answer_raw(path, RawAnswer(_bogus_provenance(), content_type="application/json"))
    local_index.add(build_wheel("lib", "2.0"), upload_time=OLD, provenance=local_index.base + path)
    web = tmp_path / "mirror" / "web"
    # Not required: the object is mirrored beside the file (its shape checked), not verified.
    plain = write_policy_config(tmp_path, local_index, "")
    assert main(["mirror", "-c", str(plain)]) == 0
    [entry] = listed_files(web, "lib").values()
    assert str(entry["provenance"]).endswith("lib-2.0-py3-none-any.whl.provenance")
    # Required for lib: 1.0 has none (refused: the closure could move to it, but not past it),
    # and 2.0's does not verify: the file is refused whole, and never placed.
    for old in web.rglob("lib-2.0*"):
        old.unlink()
    required = write_policy_config(
        tmp_path, local_index, '[policy.projects.lib]\nrequire-provenance = true\nreason = "T-1"'
    )
    capsys.readouterr()
    assert main(["mirror", "-c", str(required)]) == 1
    out = capsys.readouterr().out
    assert "lib-2.0-py3-none-any.whl: refused: provenance of lib-2.0-py3-none-any.whl" in out
    assert "an attestation cannot be verified" in out
    assert not list(web.rglob("lib-2.0*"))
    with MirrorState.open(tmp_path / "mirror") as state:
        [record] = state.refusals("lib")
        assert (record.version, record.rule) == ("1.0", "provenance")
    # A repository pinned that the object does not name is refused before any signature.
    pinned = write_policy_config(
        tmp_path,
        local_index,
        '[policy.projects.lib]\nrequire-provenance = true\nprovenance-repository = "acme/lib"\n'
        'reason = "T-2"',
    )
    capsys.readouterr()
    assert main(["mirror", "-c", str(pinned)]) == 1
    assert "published from example/lib, not acme/lib" in capsys.readouterr().out


def test_audit_plan_and_why_say_what_the_policy_decides(
    tmp_path: Path, local_index: LocalIndex, capsys: pytest.CaptureFixture[str]
) -> None:
    populate(local_index)
    high = advisory(
        "GHSA-1111-2222-3333",
        "lib",
        aliases=["CVE-2026-1", "PYSEC-2026-1"],
        severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
    )
    osv = write_osv(tmp_path / "osv", high)
    config = write_policy_config(
        tmp_path, local_index, f'osv = "{osv}"\nrefuse-severity = "critical"'
    )
    assert main(["mirror", "-c", str(config)]) == 0
    capsys.readouterr()
    assert main(["audit", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "lib 2.0: GHSA-1111-2222-3333 (also CVE-2026-1, PYSEC-2026-1), high:" in out
    assert "reported only" in out
    # A newer database, carried in: what the mirror lists that it now refuses, exit 1.
    newer = write_osv(tmp_path / "osv-newer", high, advisory("MAL-2026-3", "lib"))
    assert main(["audit", "-c", str(config), "--osv", str(newer), "--json"]) == 1
    found = json.loads(capsys.readouterr().out)
    decisions = {(h["advisory"], h["decision"]) for h in found["held"]}
    assert decisions == {("GHSA-1111-2222-3333", "refuse"), ("MAL-2026-3", "refuse")}
    # plan and why name the refusal, with the configuration pointing at the newer database.
    config = write_policy_config(tmp_path, local_index, f'osv = "{newer}"')
    assert main(["plan", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "the policy keeps out 1 (files, or whole releases):" in out
    assert "  lib 2.0: malicious: MAL-2026-3 (MAL-2026-3 in lib)" in out
    assert main(["plan", "-c", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["refused"] == {
        "lib": ["lib 2.0: malicious: MAL-2026-3 (MAL-2026-3 in lib)"]
    }
    assert main(["why", "-c", str(config), "lib"]) == 0
    assert "kept out by the policy (1):\n  lib 2.0: malicious" in capsys.readouterr().out
    # After the run that withdraws it, the audit shows what is kept out and kept aside.
    assert main(["mirror", "-c", str(config)]) == 0
    capsys.readouterr()
    assert main(["audit", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "no advisory names a release the mirror lists" in out
    assert "kept out by the policy (1):\n  lib 2.0: malicious: MAL-2026-3" in out
    assert "withdrawn from the mirror, kept aside (1):" in out


def test_the_project_page_for_people_shows_what_the_policy_keeps_out(
    tmp_path: Path, local_index: LocalIndex
) -> None:
    populate(local_index, new=NOW - timedelta(hours=3))
    osv = write_osv(tmp_path / "osv", advisory("MAL-2026-4", "lib", summary="steals <keys>"))
    config = write_policy_config(tmp_path, local_index, f'osv = "{osv}"\nmin-release-age = "1d"')
    assert mirrored(config).ok
    with (
        cellar_serve(config) as base,
        urllib.request.urlopen(f"{base}project/lib/") as answer,  # noqa: S310 - 127.0.0.1
    ):
        page = answer.read().decode()
    assert '<h2 id="refused">Kept out by the policy</h2>' in page
    assert "<td>2.0 (every file)</td><td>malicious</td>" in page
    assert "MAL-2026-4 (steals &lt;keys&gt;)" in page  # escaped


def test_a_project_override_lets_a_young_release_through_and_its_reason_is_logged(
    tmp_path: Path, local_index: LocalIndex
) -> None:
    populate(local_index, new=NOW - timedelta(hours=2))
    config = write_policy_config(
        tmp_path,
        local_index,
        'min-release-age = "7d"\n[policy.projects.lib]\nmin-release-age = "0"\n'
        'reason = "SEC-7: its fixes are taken at once"',
    )
    result = mirrored(config)
    assert result.ok and result.policy is not None
    assert (result.policy.refused, result.policy.excepted) == (0, 1)
    assert lib_versions(tmp_path / "mirror" / "web") == ["2.0"]
    [event] = audit_events(tmp_path)
    assert {k: event[k] for k in ("event", "project", "version", "lifted", "reason")} == {
        "event": "override",
        "project": "lib",
        "version": "2.0",
        "lifted": "min-release-age",
        "reason": "SEC-7: its fixes are taken at once",
    }


def test_withdrawal_and_provenance_work_in_a_bucket(
    tmp_path: Path, local_index: LocalIndex, s3: S3Server
) -> None:
    populate(local_index)
    path = "/integrity/lib/2.0/provenance"
    local_index.answer_raw(path, RawAnswer(_bogus_provenance(), content_type="application/json"))
    local_index.remove("lib", "lib-2.0-py3-none-any.whl")
    local_index.add(build_wheel("lib", "2.0"), upload_time=OLD, provenance=local_index.base + path)
    bucket = s3.new_bucket()
    osv = write_osv(tmp_path / "osv")
    config = write_policy_config(tmp_path, local_index, f'osv = "{osv}"')
    with config.open("a", encoding="utf-8") as stream:
        stream.write(storage_table(s3, bucket, prefix="tree"))
    assert mirrored(config).ok

    def keys() -> set[str]:
        pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return {item["Key"] for page in pages for item in page.get("Contents", [])}

    [wheel] = [k for k in keys() if k.endswith("lib-2.0-py3-none-any.whl")]
    assert wheel + ".provenance" in keys()
    write_osv(osv, advisory("MAL-2026-6", "lib"))
    result = mirrored(config)
    assert result.ok and result.policy is not None and result.policy.withdrawn == 1
    aside = "tree/withdrawn/" + wheel.removeprefix("tree/")
    assert {aside, aside + ".metadata", aside + ".provenance"} <= keys()
    assert not {k for k in keys() if k.startswith("tree/packages/") and "lib-2.0" in k}


def test_a_provenance_that_cannot_be_had_is_left_out_and_asked_for_again(
    tmp_path: Path, local_index: LocalIndex, caplog: pytest.LogCaptureFixture
) -> None:
    path = "/integrity/app/1.0/provenance"
    local_index.add(build_wheel("app", "1.0"), upload_time=OLD, provenance=local_index.base + path)
    config = write_policy_config(tmp_path, local_index, "")
    web = tmp_path / "mirror" / "web"
    assert mirrored(config).ok  # not required: the file is listed without it
    [entry] = listed_files(web, "app").values()
    assert "provenance" not in entry
    assert "provenance of app-1.0-py3-none-any.whl" in caplog.text
    assert "listed without it" in caplog.text
    local_index.answer_raw(path, RawAnswer(_bogus_provenance(), content_type="application/json"))
    assert mirrored(config).ok  # the project was not taken as done: asked again
    [entry] = listed_files(web, "app").values()
    assert str(entry["provenance"]).endswith("app-1.0-py3-none-any.whl.provenance")


def test_an_audit_log_that_cannot_be_written_is_said_and_the_run_stands(
    tmp_path: Path, local_index: LocalIndex, caplog: pytest.LogCaptureFixture
) -> None:
    populate(local_index, new=NOW - timedelta(hours=1))
    (tmp_path / "not-a-file").mkdir()
    config = write_policy_config(
        tmp_path, local_index, f'min-release-age = "1d"\naudit-log = "{tmp_path / "not-a-file"}"'
    )
    result = mirrored(config)
    assert result.ok and result.policy is not None and result.policy.held == 1
    assert f"the audit log {tmp_path / 'not-a-file'} was not written" in caplog.text
    with MirrorState.open(tmp_path / "mirror") as state:
        assert [r.version for r in state.refusals("lib")] == ["2.0"]  # recorded all the same


def test_refusals_of_a_project_no_longer_selected_are_forgotten(
    tmp_path: Path, local_index: LocalIndex
) -> None:
    populate(local_index, new=NOW - timedelta(hours=1))
    local_index.add(build_wheel("other", "1.0"), upload_time=OLD)
    config = write_policy_config(tmp_path, local_index, 'min-release-age = "1d"')
    assert mirrored(config).ok
    with MirrorState.open(tmp_path / "mirror") as state:
        assert [r.project for r in state.refusals()] == ["lib"]
    config = write_policy_config(tmp_path, local_index, 'min-release-age = "1d"', '"other"')
    assert mirrored(config).ok
    with MirrorState.open(tmp_path / "mirror") as state:
        assert state.refusals() == []
