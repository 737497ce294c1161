"""Live: mirror real projects from PyPI, serve them, and install with pip from the mirror alone.

Reaches the public index, so it is deselected by default; run with ``pytest -m live``.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from cellar.cli import main
from cellar.config.model import default_upstream
from tests.support.installers import find_python, make_venv, pip_install
from tests.support.mirror import (
    EVERY_VERSION,
    assert_consistent,
    cellar_serve,
    listed_files,
    write_config,
)
from tests.support.packages import Dist
from tests.support.upstream import LocalIndex, RawAnswer

pytestmark = pytest.mark.live


def test_mirror_from_pypi_and_install(tmp_path: Path, installer_env: dict[str, str]) -> None:
    config = write_config(tmp_path, default_upstream(), ["six==1.16.0", "idna>=3.7,<3.9"])
    assert main(["mirror", "-c", str(config)]) == 0
    web = tmp_path / "mirror" / "web"
    # Every listed file, and every .metadata file the upstream offered, is in place and verified.
    assert assert_consistent(web) >= 2
    # PyPI's own file paths are kept, as bandersnatch keeps them.
    assert list((web / "packages").glob("??/??/*/six-1.16.0-py2.py3-none-any.whl"))
    with cellar_serve(config) as base:
        python = make_venv(tmp_path / "venv", sys.executable)
        result = pip_install(python, base + "simple/", "six", "idna", env=installer_env)
        assert result.returncode == 0, result.stderr
    out = subprocess.run(
        [str(python), "-c", "import six, idna; print(six.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "1.16.0"


def test_closure_of_pandas_folium_pip_for_cpython_311_manylinux(
    tmp_path: Path, installer_env: dict[str, str]
) -> None:
    """The issue's promise on real projects: the closure alone installs and imports."""
    config = write_config(tmp_path, default_upstream(), ["pandas", "folium", "pip"])
    with config.open("a", encoding="utf-8") as stream:
        stream.write('[targets]\npython = ["3.11"]\nplatforms = ["manylinux_2_28_x86_64"]\n')
    assert main(["mirror", "-c", str(config)]) == 0
    web = tmp_path / "mirror" / "web"
    assert_consistent(web)
    for needed in ("numpy", "python-dateutil", "tzdata", "jinja2", "branca", "requests"):
        assert (web / "simple" / needed / "index.v1_json").is_file(), needed
    python = find_python("3.11")
    with cellar_serve(config) as base:
        venv = make_venv(tmp_path / "venv", python)
        result = pip_install(venv, base + "simple/", "pandas", "folium", "pip", env=installer_env)
        assert result.returncode == 0, result.stderr
    subprocess.run(
        [str(venv), "-c", "import pandas, folium; pandas.DataFrame({'a': [1]}); folium.Map()"],
        check=True,
    )


def test_the_default_limits_take_pypis_largest_pages(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """PyPI's root page (about 40 MB, read for its serials) and one of its largest project pages
    (ddtrace's, about 20 MB) pass the default max-page-size and deadline; a tight limit stops
    the same page with the project failing alone."""
    config = write_config(
        tmp_path, default_upstream(), ["ddtrace"], extra_mirror='root-serials = "always"'
    )
    assert main(["plan", "-c", str(config)]) == 0
    out = capsys.readouterr()
    assert "ddtrace" in out.out
    # The root page was read whole (a JSON one gives serials; an HTML one, none), not cut.
    assert "root page" in out.err, out.err
    assert "max-page-size" not in out.out + out.err
    tight = write_config(
        tmp_path, default_upstream(), ["ddtrace", "six"], extra_mirror='max-page-size = "4MiB"'
    )
    assert main(["plan", "-c", str(tight)]) == 1
    out = capsys.readouterr()
    assert "max-page-size" in out.out + out.err
    assert "six" in out.out


def _pypi_file(project: str, filename: str) -> tuple[dict[str, Any], bytes]:
    """The entry of ``filename`` on ``project``'s page on PyPI, and the file's bytes."""
    request = urllib.request.Request(  # noqa: S310 - PyPI's https URL
        f"{default_upstream()}{project}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 - PyPI
        page = json.load(answer)
    [entry] = [f for f in page["files"] if f["filename"] == filename]
    with urllib.request.urlopen(entry["url"], timeout=120) as answer:  # noqa: S310
        data = answer.read()
    assert hashlib.sha256(data).hexdigest() == entry["hashes"]["sha256"]
    return entry, data


def _real_provenance(entry: dict[str, Any]) -> bytes:
    """PyPI's provenance object for the file of ``entry``: from the URL its page gives, or,
    where the upstream this machine reaches serves pages without provenance (an API 1.1
    proxy), PyPI's copy that pypi-attestations ships in its own sdist on PyPI as test data."""
    if entry.get("provenance"):
        with urllib.request.urlopen(entry["provenance"], timeout=60) as answer:  # noqa: S310
            return bytes(answer.read())
    _, sdist = _pypi_file("pypi-attestations", "pypi_attestations-0.0.31.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(sdist)) as archive:
        member = archive.extractfile(
            f"pypi_attestations-0.0.31/test/assets/{entry['filename']}.provenance"
        )
        assert member is not None
        return member.read()


def test_the_attestations_of_a_real_project_are_verified_offline(
    tmp_path: Path, local_index: LocalIndex, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real file of a real PyPI project, and PyPI's provenance for it, verified by Cellar
    (Sigstore's trust root as shipped, no network) before it is listed; a repository pinned
    that did not publish it is refused."""
    filename = "pypi_attestations-0.0.19.tar.gz"
    entry, data = _pypi_file("pypi-attestations", filename)
    provenance = _real_provenance(entry)
    metadata = b"Metadata-Version: 2.1\nName: pypi-attestations\nVersion: 0.0.19\n\n"
    path = f"/integrity/pypi-attestations/0.0.19/{filename}/provenance"
    local_index.answer_raw(path, RawAnswer(provenance, content_type="application/json"))
    local_index.add(
        Dist(filename, data, metadata), metadata=False, provenance=local_index.base + path
    )

    def config(repository: str) -> Path:
        written = write_config(
            tmp_path, local_index.url, ["pypi-attestations==0.0.19"], extra_packages=EVERY_VERSION
        )
        with written.open("a", encoding="utf-8") as stream:
            stream.write(
                "[policy]\nrequire-provenance = true\n[policy.projects.pypi-attestations]\n"
                f'require-provenance = true\nprovenance-repository = "{repository}"\n'
                'reason = "published by its own workflow only"\n'
            )
        return written

    assert main(["mirror", "-c", str(config("trailofbits/pypi-attestations"))]) == 0
    web = tmp_path / "mirror" / "web"
    assert_consistent(web)
    [listed] = listed_files(web, "pypi-attestations").values()
    assert str(listed["provenance"]).endswith(f"{filename}.provenance")
    [kept] = web.rglob(f"{filename}.provenance")
    assert kept.read_bytes() == provenance
    for stale in web.rglob(f"{filename}*"):
        stale.unlink()
    capsys.readouterr()
    assert main(["mirror", "-c", str(config("someone/else"))]) == 1
    assert "published from trailofbits/pypi-attestations, not someone/else" in (
        capsys.readouterr().out
    )
    assert not list(web.rglob(filename))


def test_the_minimum_age_holds_the_newest_real_release(tmp_path: Path) -> None:
    """With PyPI's own upload times: an age just past the newest release of a real project
    holds that release back, and the closure takes the newest one old enough."""
    request = urllib.request.Request(  # noqa: S310 - PyPI's https URL
        f"{default_upstream()}idna/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
        page = json.load(answer)
    uploaded: dict[str, float] = {}
    for entry in page["files"]:
        if entry["filename"].endswith(".whl") and not entry.get("yanked"):
            version = entry["filename"].split("-")[1]
            stamp = datetime.fromisoformat(entry["upload-time"].replace("Z", "+00:00"))
            uploaded[version] = max(uploaded.get(version, 0.0), stamp.timestamp())
    stable = sorted((v for v in uploaded if not Version(v).is_prerelease), key=Version)
    newest, previous = stable[-1], stable[-2]
    age_days = (time.time() - uploaded[newest]) / 86400 + 1  # the newest is a day too young
    config = write_config(tmp_path, default_upstream(), ["idna"])
    with config.open("a", encoding="utf-8") as stream:
        stream.write(
            '[targets]\npython = ["3.12"]\nplatforms = ["manylinux_2_28_x86_64"]\n'
            f'[policy]\nmin-release-age = "{age_days:.3f}d"\n'
        )
    assert main(["mirror", "-c", str(config)]) == 0
    listed = {name.split("-")[1] for name in listed_files(tmp_path / "mirror" / "web", "idna")}
    old_enough = [v for v in stable if time.time() - uploaded[v] >= age_days * 86400]
    assert listed == {old_enough[-1]}
    assert newest not in listed
    assert Version(old_enough[-1]) <= Version(previous)


def test_a_hosted_name_that_pypi_also_has_is_never_taken_from_pypi(
    tmp_path: Path, installer_env: dict[str, str]
) -> None:
    """Dependency confusion against the real index: ``idna`` is hosted here at 3.999 (as if it
    were an internal name someone also published on PyPI), and ``requests`` needs it. The
    closure takes the hosted idna for every target; not one of PyPI's idna files is mirrored,
    and pip installs requests with the hosted idna from the one index."""
    from cellar.sync.host_files import host_files  # noqa: PLC0415
    from cellar.sync.hosting import HostedWriter  # noqa: PLC0415
    from cellar.tree.local import LocalStorage  # noqa: PLC0415
    from tests.support.packages import build_wheel  # noqa: PLC0415

    config = write_config(tmp_path, default_upstream(), ["requests>=2.32,<3"])
    with config.open("a", encoding="utf-8") as stream:
        stream.write('[hosted]\nreserve = ["idna"]\n')
    web = tmp_path / "mirror" / "web"
    (web / "simple").mkdir(parents=True)
    ours = tmp_path / "dist"
    ours.mkdir()
    dist = build_wheel("idna", "3.999")
    (ours / dist.filename).write_bytes(dist.data)
    hosted = host_files(HostedWriter(LocalStorage(web)), [ours], "admin", max_size=1 << 20)
    assert [result.added for result in hosted] == [True]
    assert main(["mirror", "-c", str(config)]) == 0
    assert_consistent(web)
    mirrored = [p.name for p in (web / "packages").rglob("*.whl") if "hosted" not in p.parts]
    assert [name for name in mirrored if name.startswith("idna-")] == []
    assert any(name.startswith("requests-") for name in mirrored)
    assert any(name.startswith("urllib3-") for name in mirrored)
    with cellar_serve(config) as base:
        python = make_venv(tmp_path / "venv", sys.executable)
        result = pip_install(python, base + "simple/", "requests", env=installer_env)
        assert result.returncode == 0, result.stdout + result.stderr
    out = subprocess.run(
        [str(python), "-c", "import idna; print(idna.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "3.999"
