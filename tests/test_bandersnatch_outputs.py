"""A bandersnatch configuration run end to end writes the files bandersnatch writes beside pages.

``generation``, ``status`` and ``web/last-modified``; with ``json = true`` the JSON API documents
in ``web/json/<name>`` and ``web/pypi/<name>/json``; with ``diff-file`` the list of files the run
wrote; and ``stop-on-error`` stops the run at the first failure.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cellar.cli import main
from tests.support.mirror import assert_consistent, listed_files
from tests.support.packages import build_wheel
from tests.support.upstream import LocalIndex


def write_conf(tmp_path: Path, master: str, *, extra: str = "") -> Path:
    path = tmp_path / "bandersnatch.conf"
    path.write_text(
        "[mirror]\n"
        "directory = mirror\n"
        f"master = {master}\n"
        "allow-non-https = true\n"
        "workers = 2\n"
        "json = true\n"
        f"diff-file = {tmp_path / 'mirrored-files'}\n"
        f"{extra}"
        "[plugins]\nenabled =\n    allowlist_project\n"
        "[allowlist]\npackages =\n    alpha\n    beta\n",
        encoding="utf-8",
    )
    return path


def test_json_api_generation_status_and_diff_file(tmp_path: Path, local_index: LocalIndex) -> None:
    local_index.add(build_wheel("alpha", "1.0"))
    local_index.add(build_wheel("alpha", "2.0"))
    local_index.add(build_wheel("beta", "0.1"))
    conf = write_conf(tmp_path, local_index.base)
    assert main(["mirror", "-c", str(conf)]) == 0
    root = tmp_path / "mirror"
    web = root / "web"
    assert assert_consistent(web) == 3
    assert (root / "generation").read_bytes() == b"5"
    assert int((root / "status").read_text()) > 0
    assert (web / "last-modified").read_text().endswith("\n")
    document = json.loads((web / "json" / "alpha").read_bytes())
    assert (web / "pypi" / "alpha" / "json").read_bytes() == (web / "json" / "alpha").read_bytes()
    assert document["info"]["version"] == "2.0"
    assert sorted(document["releases"]) == ["1.0", "2.0"]
    written = (tmp_path / "mirrored-files").read_text().splitlines()
    assert str(web / "json" / "alpha") in written
    assert str(web / "simple" / "alpha" / "index.html") in written
    assert sum(line.endswith(".whl") for line in written) == 3

    # A second run writes nothing new: the diff file is empty.
    assert main(["mirror", "-c", str(conf)]) == 0
    assert ".whl" not in (tmp_path / "mirrored-files").read_text()


def test_stop_on_error_stops_at_the_first_failure(
    tmp_path: Path, local_index: LocalIndex, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("alpha", "beta"):
        local_index.add(build_wheel(name, "1.0"))
    local_index.fault("*alpha-1.0-py3-none-any.whl", status=500)
    local_index.fault("*beta-1.0-py3-none-any.whl", delay=10)
    conf = write_conf(tmp_path, local_index.base, extra="stop-on-error = true\n")
    assert main(["mirror", "-c", str(conf)]) == 1
    assert "stop-on-error" in capsys.readouterr().err
    web = tmp_path / "mirror" / "web"
    # beta's slow download was still under way at alpha's failure: it was stopped, not published.
    assert listed_files(web, "alpha") == {}
    assert listed_files(web, "beta") == {}
    assert not (tmp_path / "mirror" / "status").exists()
    assert_consistent(web)
