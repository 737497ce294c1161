"""A mirror in an S3-compatible bucket (``[storage] backend = "s3"``), against a real S3-protocol
server on 127.0.0.1 (moto's server mode, ``tests/support/s3.py``; no client is mocked).

Mirror into the bucket, serve it from two ``cellar serve`` processes at once and install with
pip and uv from each; verify, repair a deleted object, delete a project; SIGKILL mid-run and
run again; redirects to presigned URLs; one clear message for a bucket that is not there.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cellar.cli import main
from cellar.tree.location import S3Settings
from cellar.tree.s3 import S3Storage
from cellar.tree.storage import ObjectInfo
from tests.support.installers import imported_version, make_venv, pip_install, uv_install, uv_venv
from tests.support.mirror import (
    EVERY_VERSION,
    assert_consistent,
    cellar_serve,
    run_cli,
    write_config,
)
from tests.support.packages import build_sdist, build_wheel
from tests.support.s3 import S3Server, SlowRelay, copy_bucket, storage_table
from tests.support.server import ask, serving
from tests.support.upstream import LocalIndex

pytestmark = pytest.mark.slow

#: Incompressible: the wheel stays larger than what a server sends from memory (streamed).
_NOISE = random.Random(7).randbytes(600_000)  # noqa: S311 - test data
REQUIREMENTS = ["alpha", "beta", "heavy"]
PREFIX = "pypi/mirror"
#: The objects that say when and how the last run went: they change with every run.
RUN_RECORDS = ("last-modified", "cellar-state.json")


def populate(index: LocalIndex) -> None:
    index.add(build_wheel("alpha", "1.0"))
    index.add(build_wheel("alpha", "2.0"))
    index.add(build_sdist("alpha", "2.0"))
    index.add(build_wheel("beta", "1.0", requires_dist=["alpha"]))
    index.add(build_wheel("heavy", "1.0", extra_files={"heavy/noise.bin": _NOISE}))


def s3_config(
    root: Path,
    upstream: str,
    server: S3Server,
    bucket: str,
    *,
    extra: str = "",
    extra_mirror: str = "",
) -> Path:
    config = write_config(
        root, upstream, REQUIREMENTS, extra_mirror=extra_mirror, extra_packages=EVERY_VERSION
    )
    with config.open("a", encoding="utf-8") as stream:
        stream.write(storage_table(server, bucket, prefix=PREFIX, extra=extra))
    return config


@dataclass(frozen=True)
class Mirrored:
    config: Path
    bucket: str
    upstream: str


@pytest.fixture(scope="module")
def index() -> Iterator[LocalIndex]:
    with LocalIndex() as started:
        populate(started)
        yield started


@pytest.fixture(scope="module")
def mirrored(s3: S3Server, index: LocalIndex, tmp_path_factory: pytest.TempPathFactory) -> Mirrored:
    root = tmp_path_factory.mktemp("s3-mirror")
    bucket = s3.new_bucket()
    # With bandersnatch's JSON API documents, which go to the bucket too.
    config = s3_config(root, index.url, s3, bucket, extra_mirror="json-api = true")
    assert main(["mirror", "-c", str(config)]) == 0
    return Mirrored(config, bucket, index.url)


def tree_of(s3: S3Server, bucket: str, into: Path) -> Path:
    """The bucket's tree (below the prefix) as a local directory."""
    return copy_bucket(s3, bucket, f"{PREFIX}/", into)


def test_the_tree_is_in_the_bucket_and_nothing_is_left_on_disk(
    s3: S3Server, mirrored: Mirrored, tmp_path: Path
) -> None:
    web = tree_of(s3, mirrored.bucket, tmp_path / "copy")
    assert assert_consistent(web) == 5  # alpha: 2 wheels and an sdist; beta; heavy
    assert (web / "last-modified").is_file()
    document = json.loads((web / "pypi" / "heavy" / "json").read_bytes())
    assert document["info"]["version"] == "1.0"
    assert (web / "json" / "heavy").read_bytes() == (web / "pypi" / "heavy" / "json").read_bytes()
    mirror = mirrored.config.parent / "mirror"
    assert not (mirror / "web").exists()  # the tree is in the bucket only
    staging = mirror / ".cellar" / "staging"
    assert not [p for p in staging.rglob("*") if p.is_file()]  # every upload cleaned up
    # Nothing outside the prefix.
    inside = {f"{PREFIX}/{key}" for key in s3.objects(mirrored.bucket, f"{PREFIX}/")}
    assert set(s3.objects(mirrored.bucket)) == inside


def test_a_second_run_changes_nothing(s3: S3Server, mirrored: Mirrored) -> None:
    client = s3.client()

    def etags() -> dict[str, str]:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=mirrored.bucket)
        return {
            entry["Key"]: entry["ETag"]
            for page in pages
            for entry in page.get("Contents", [])
            if not entry["Key"].endswith(RUN_RECORDS)
        }

    before = etags()
    assert main(["mirror", "-c", str(mirrored.config)]) == 0
    assert etags() == before


def test_two_servers_share_the_bucket_and_pip_and_uv_install_from_each(
    mirrored: Mirrored, tmp_path: Path, installer_env: dict[str, str]
) -> None:
    with cellar_serve(mirrored.config) as one, cellar_serve(mirrored.config) as two:
        assert one != two
        for base in (one, two):
            with urllib.request.urlopen(f"{base}simple/heavy/", timeout=10) as answer:  # noqa: S310
                assert b"heavy-1.0-py3-none-any.whl" in answer.read()
            with urllib.request.urlopen(f"{base}pypi/heavy/json", timeout=10) as answer:  # noqa: S310
                assert json.loads(answer.read())["info"]["name"] == "heavy"
        python = make_venv(tmp_path / "pip", sys.executable)
        result = pip_install(python, f"{one}simple/", "beta", "heavy", env=installer_env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert imported_version(python, "alpha") == "2.0"
        assert imported_version(python, "heavy") == "1.0"
        uv_python = uv_venv(tmp_path / "uv", sys.executable, env=installer_env)
        result = uv_install(uv_python, f"{two}simple/", "beta", "heavy", env=installer_env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert imported_version(uv_python, "beta") == "1.0"


def test_files_may_be_redirected_to_presigned_urls(
    s3: S3Server,
    index: LocalIndex,
    tmp_path: Path,
    installer_env: dict[str, str],
) -> None:
    bucket = s3.new_bucket()
    config = s3_config(tmp_path, index.url, s3, bucket, extra='files = "redirect"\n')
    assert main(["mirror", "-c", str(config)]) == 0
    web = tree_of(s3, bucket, tmp_path / "copy")
    wheel = next(web.rglob("heavy-1.0-py3-none-any.whl")).relative_to(web).as_posix()
    with cellar_serve(config) as base:
        request = urllib.request.Request(f"{base}{wheel}")  # noqa: S310

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: object, **kwargs: object) -> None:
                return None

        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.build_opener(NoRedirect).open(request, timeout=10)
        answer.value.close()
        assert answer.value.code == 307
        location = answer.value.headers["Location"]
        assert location.startswith(f"{s3.endpoint}/{bucket}/{PREFIX}/{wheel}?")
        assert "Signature" in location
        python = make_venv(tmp_path / "pip", sys.executable)
        result = pip_install(python, f"{base}simple/", "heavy", env=installer_env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert imported_version(python, "heavy") == "1.0"


def test_verify_finds_a_deleted_object_and_repair_puts_it_back(
    s3: S3Server, index: LocalIndex, tmp_path: Path
) -> None:
    bucket = s3.new_bucket()
    config = s3_config(tmp_path, index.url, s3, bucket)
    assert main(["mirror", "-c", str(config)]) == 0
    web = tree_of(s3, bucket, tmp_path / "before")
    wheel = next(web.rglob("beta-1.0-py3-none-any.whl")).relative_to(web).as_posix()
    s3.client().delete_object(Bucket=bucket, Key=f"{PREFIX}/{wheel}")
    found = run_cli("verify", "-c", str(config))
    assert found.returncode == 1, found.stdout + found.stderr
    assert "beta-1.0-py3-none-any.whl" in found.stdout + found.stderr
    repaired = run_cli("verify", "-c", str(config), "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    again = tree_of(s3, bucket, tmp_path / "after")
    assert (again / wheel).read_bytes() == (web / wheel).read_bytes()
    assert run_cli("verify", "-c", str(config)).returncode == 0
    fast = run_cli("verify", "-c", str(config), "--fast")  # sizes from one listing
    assert fast.returncode == 0, fast.stdout + fast.stderr


def test_delete_removes_a_project_from_the_bucket(
    s3: S3Server, index: LocalIndex, tmp_path: Path
) -> None:
    bucket = s3.new_bucket()
    config = s3_config(tmp_path, index.url, s3, bucket)
    assert main(["mirror", "-c", str(config)]) == 0
    assert main(["delete", "-c", str(config), "heavy"]) == 0
    keys = set(s3.objects(bucket, f"{PREFIX}/"))
    assert not [key for key in keys if "heavy" in key]
    web = tree_of(s3, bucket, tmp_path / "copy")
    assert assert_consistent(web) == 4


def test_killed_mid_run_the_bucket_lists_nothing_missing_and_converges(
    s3: S3Server, tmp_path: Path, local_index: LocalIndex
) -> None:
    names = [f"proj{i}" for i in range(8)]
    for i, name in enumerate(names):
        noise = random.Random(i).randbytes(150_000)  # noqa: S311 - test data
        local_index.add(build_wheel(name, "1.0", extra_files={"data.bin": noise}))
    local_index.fault("*.whl", delay=0.3)
    bucket = s3.new_bucket()
    config = write_config(
        tmp_path, local_index.url, names, extra_mirror="workers = 2", extra_packages=EVERY_VERSION
    )
    with config.open("a", encoding="utf-8") as stream:
        stream.write(storage_table(s3, bucket, prefix=PREFIX))
    for round_ in range(4):
        asked = len(local_index.requests)
        process = subprocess.Popen(
            [sys.executable, "-m", "cellar", "mirror", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while len(local_index.requests) == asked and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.4 + 0.3 * round_)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        web = tree_of(s3, bucket, tmp_path / f"killed-{round_}")
        if (web / "simple").exists():
            assert_consistent(web, root_complete=False)  # nothing listed that is not there
    local_index.clear_faults()
    assert main(["mirror", "-c", str(config)]) == 0
    finished = tree_of(s3, bucket, tmp_path / "finished")
    assert assert_consistent(finished) == len(names)
    # The same bucket as one run that was never interrupted.
    clean_bucket = s3.new_bucket()
    (tmp_path / "clean").mkdir()
    clean = write_config(tmp_path / "clean", local_index.url, names, extra_packages=EVERY_VERSION)
    with clean.open("a", encoding="utf-8") as stream:
        stream.write(storage_table(s3, clean_bucket, prefix=PREFIX))
    assert main(["mirror", "-c", str(clean)]) == 0
    ours = {k: v for k, v in s3.objects(bucket).items() if not k.endswith(RUN_RECORDS)}
    theirs = {k: v for k, v in s3.objects(clean_bucket).items() if not k.endswith(RUN_RECORDS)}
    assert ours == theirs
    assert not s3.client().list_multipart_uploads(Bucket=bucket).get("Uploads")


@pytest.mark.parametrize("command", ["mirror", "verify", "serve"])
def test_a_bucket_that_is_not_there_is_one_clear_error(
    s3: S3Server, index: LocalIndex, tmp_path: Path, command: str
) -> None:
    if command == "verify":  # a mirror whose state is there, its bucket gone
        config = s3_config(tmp_path, index.url, s3, s3.new_bucket())
        assert main(["mirror", "-c", str(config)]) == 0
    config = s3_config(tmp_path, index.url, s3, "no-such-bucket-here")
    result = run_cli(command, "-c", str(config), *(["--port", "0"] if command == "serve" else []))
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "s3://no-such-bucket-here/pypi/mirror/" in lines[0]
    assert "no such bucket" in lines[0]


def small_parts(
    s3: S3Server, staging: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> tuple[S3Storage, str]:
    """An ``S3Storage`` of a new bucket that uploads in parts above 5 MiB (S3's smallest
    part), in this process; and the bucket's name."""
    import cellar.tree.s3 as s3_module  # noqa: PLC0415

    monkeypatch.setattr(s3_module, "MULTIPART_BYTES", 5 << 20)
    monkeypatch.setattr(s3_module, "PART_BYTES", 5 << 20)
    bucket = s3.new_bucket()
    settings = S3Settings(bucket, "p", s3.endpoint, "us-east-1", "path")
    storage = S3Storage.connect(settings, staging)
    request.addfinalizer(storage.close)
    return storage, bucket


def test_large_files_go_up_in_parts(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    storage, _ = small_parts(s3, tmp_path / "staging", monkeypatch, request)
    data = random.Random(3).randbytes(12 << 20)  # noqa: S311 - test data
    staged = storage.stage("packages/ab/big.whl")
    staged.begin(0)
    for start in range(0, len(data), 1 << 20):
        staged.write(data[start : start + (1 << 20)])
    staged.end()
    info = staged.commit()
    assert info.size == len(data)
    assert info.version.endswith("-3")  # a multipart ETag: three parts
    assert storage.read("packages/ab/big.whl") == data
    assert not [p for p in (tmp_path / "staging").rglob("*") if p.is_file()]


def test_a_server_on_another_machine_shows_the_holdings_from_the_bucket(
    mirrored: Mirrored, tmp_path: Path
) -> None:
    # A serving machine: the same [storage], a mirror directory with no state of its own.
    text = mirrored.config.read_text(encoding="utf-8")
    elsewhere = tmp_path / "cellar.toml"
    elsewhere.write_text(text.replace('directory = "mirror"', 'directory = "served"'), "utf-8")
    with cellar_serve(elsewhere) as base:
        with urllib.request.urlopen(base, timeout=10) as answer:  # noqa: S310 - loopback
            home = answer.read().decode()
        with urllib.request.urlopen(f"{base}project/heavy/", timeout=10) as answer:  # noqa: S310
            project = answer.read().decode()
    assert "cannot be read" not in home
    # The totals and the last run come from cellar-state.json (without it: projects only).
    assert '<div class="card"><b>5</b><span>files</span></div>' in home
    assert "disk used" in home
    assert "heavy-1.0-py3-none-any.whl" in project


def test_a_bucket_in_another_region_is_named(
    s3: S3Server, index: LocalIndex, tmp_path: Path
) -> None:
    bucket = s3.new_bucket()  # in us-east-1
    config = s3_config(tmp_path, index.url, s3, bucket)
    config.write_text(
        config.read_text(encoding="utf-8").replace('region = "us-east-1"', 'region = "eu-west-1"'),
        encoding="utf-8",
    )
    result = run_cli("mirror", "-c", str(config))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "the bucket is in us-east-1, not eu-west-1: set [storage] region" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_killed_during_an_upload_nothing_half_is_listed_and_the_rerun_converges(
    s3: S3Server, tmp_path: Path, local_index: LocalIndex
) -> None:
    names = [f"upl{i}" for i in range(4)]
    for i, name in enumerate(names):
        noise = random.Random(100 + i).randbytes(400_000)  # noqa: S311 - test data
        local_index.add(build_wheel(name, "1.0", extra_files={"data.bin": noise}))
    host, port = s3.endpoint.removeprefix("http://").split(":")
    bucket = s3.new_bucket()
    config = write_config(tmp_path, local_index.url, names, extra_packages=EVERY_VERSION)
    plain = config.read_text(encoding="utf-8")
    with SlowRelay((host, int(port))) as relay:
        # Every upload through a slow link: a 400 kB PUT takes about a second.
        slow = S3Server(relay.endpoint, s3.client())
        config.write_text(plain + storage_table(slow, bucket, prefix=PREFIX), "utf-8")
        process = subprocess.Popen(
            [sys.executable, "-m", "cellar", "mirror", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not [p for p in relay.puts if p.endswith(".whl")] and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # well into the body of the first wheel's PUT
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        cut = [p for p in relay.puts if p.endswith(".whl")]
    assert cut, "the run should have been killed during an upload"
    held = s3.objects(bucket)
    web = tree_of(s3, bucket, tmp_path / "killed")
    if (web / "simple").exists():
        assert_consistent(web, root_complete=False)
    # The wheel whose PUT was cut is not in the bucket at all (a PUT is whole or nothing).
    assert cut[0].split(f"/{bucket}/", 1)[1] not in held
    staging = tmp_path / "mirror" / ".cellar" / "staging"
    config.write_text(plain + storage_table(s3, bucket, prefix=PREFIX), "utf-8")
    assert main(["mirror", "-c", str(config)]) == 0
    assert assert_consistent(tree_of(s3, bucket, tmp_path / "finished")) == len(names)
    assert not [p for p in staging.rglob("*") if p.is_file()]
    clean_bucket = s3.new_bucket()
    (tmp_path / "clean").mkdir()
    clean = write_config(tmp_path / "clean", local_index.url, names, extra_packages=EVERY_VERSION)
    clean.write_text(
        clean.read_text(encoding="utf-8") + storage_table(s3, clean_bucket, prefix=PREFIX), "utf-8"
    )
    assert main(["mirror", "-c", str(clean)]) == 0
    ours = {k: v for k, v in s3.objects(bucket).items() if not k.endswith(RUN_RECORDS)}
    theirs = {k: v for k, v in s3.objects(clean_bucket).items() if not k.endswith(RUN_RECORDS)}
    assert ours == theirs


def test_an_upload_in_parts_cut_short_is_resumed_with_the_parts_already_there(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    staging = tmp_path / "staging"
    storage, bucket = small_parts(s3, staging, monkeypatch, request)
    data = random.Random(5).randbytes(17 << 20)  # noqa: S311 - four parts: 5, 5, 5, 2 MiB
    sent: list[int] = []
    cut: list[int] = []
    real = storage.client.upload_part

    def upload_part(**kwargs: Any) -> Any:
        sent.append(kwargs["PartNumber"])
        if kwargs["PartNumber"] == 3 and not cut:
            cut.append(3)
            raise ConnectionResetError("the link went down")  # the first attempt is cut
        return real(**kwargs)

    monkeypatch.setattr(storage.client, "upload_part", upload_part)

    def stage_and_commit() -> ObjectInfo:
        staged = storage.stage("packages/ab/big.whl")
        staged.begin(0)
        staged.write(data)
        staged.end()
        return staged.commit()

    with pytest.raises(OSError, match="the link went down"):
        stage_and_commit()
    assert (staging / "packages/ab/big.whl.cellar-upload").is_file()  # kept to resume
    assert storage.stat("packages/ab/big.whl") is None  # nothing half there
    # A killed run's sweep keeps what can be resumed.
    storage.sweep()
    assert (staging / "packages/ab/big.whl.cellar-upload").is_file()
    assert s3.client().list_multipart_uploads(Bucket=bucket).get("Uploads")
    first = sorted(sent)
    sent.clear()
    info = stage_and_commit()
    assert info.size == len(data)
    assert storage.read("packages/ab/big.whl") == data
    # Parts 1, 2 (and 4, if it went up before the cut) were not sent again.
    assert sorted(sent) == sorted({1, 2, 3, 4} - (set(first) - {3}))
    assert 3 in sent
    assert not [p for p in staging.rglob("*") if p.is_file()]
    assert not s3.client().list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_prune_removes_what_is_no_longer_selected_from_the_bucket(
    s3: S3Server, index: LocalIndex, tmp_path: Path
) -> None:
    bucket = s3.new_bucket()
    config = s3_config(tmp_path, index.url, s3, bucket, extra_mirror="prune = true")
    assert main(["mirror", "-c", str(config)]) == 0
    stray = f"{PREFIX}/packages/00/00/stray-1.0-py3-none-any.whl"  # listed by no page
    s3.client().put_object(Bucket=bucket, Key=stray, Body=b"stray")
    config.write_text(
        config.read_text(encoding="utf-8").replace('"alpha", "beta", "heavy"', '"alpha"'),
        encoding="utf-8",
    )
    assert main(["mirror", "-c", str(config)]) == 0
    keys = set(s3.objects(bucket, f"{PREFIX}/"))
    assert not [key for key in keys if "beta" in key or "heavy" in key]
    assert stray.removeprefix(f"{PREFIX}/") not in keys
    assert assert_consistent(tree_of(s3, bucket, tmp_path / "copy")) == 3


@pytest.mark.parametrize("files", ["stream", "redirect"])
def test_a_server_over_the_bucket_answers_as_one_over_the_directory(
    s3: S3Server, mirrored: Mirrored, tmp_path: Path, request: pytest.FixtureRequest, files: str
) -> None:
    # In this process (for once), so every answer's path through S3Storage is measured too.
    web = tree_of(s3, mirrored.bucket, tmp_path / "copy")
    settings = S3Settings(
        mirrored.bucket,
        PREFIX,
        s3.endpoint,
        "us-east-1",
        "path",
        files=files,  # type: ignore[arg-type]
    )
    storage = S3Storage.connect(settings, tmp_path / "staging")
    heavy = next(web.rglob("heavy-1.0-py3-none-any.whl")).relative_to(web).as_posix()
    light = next(web.rglob("beta-1.0-py3-none-any.whl")).relative_to(web).as_posix()
    asked = [
        ("/simple/", {"Accept": "application/vnd.pypi.simple.v1+json"}, "GET"),
        ("/simple/heavy/", {"Accept": "text/html", "Accept-Encoding": "gzip"}, "GET"),
        ("/simple/Heavy/", {}, "GET"),
        ("/simple/nothing/", {}, "GET"),
        (f"/{light}", {}, "GET"),
        (f"/{light}", {}, "GET"),  # again: from what the server kept
        (f"/{light}.metadata", {}, "GET"),
        (f"/{heavy}", {}, "GET"),
        (f"/{heavy}", {"Range": "bytes=1000-1999"}, "GET"),
        (f"/{heavy}", {"Range": "bytes=9000000-"}, "GET"),
        (f"/{heavy}", {}, "HEAD"),
        ("/packages/.hidden", {}, "GET"),
    ]
    with serving(web) as local, serving(web, storage=storage) as remote:
        for path, headers, method in asked:
            here, there = ask(local, path, method, headers), ask(remote, path, method, headers)
            if files == "redirect" and path.startswith("/packages/") and here.status != 404:
                assert there.status == 307, path
                assert there.headers["Location"].startswith(f"{s3.endpoint}/{mirrored.bucket}/")
                continue
            assert there.status == here.status, path
            assert there.body == here.body, path
            for name in ("Content-Type", "Content-Range", "Content-Encoding", "Cache-Control"):
                assert there.headers[name] == here.headers[name], (path, name)
        etag = ask(remote, "/simple/heavy/").headers["ETag"]
        assert ask(remote, "/simple/heavy/", headers={"If-None-Match": etag}).status == 304
        document = ask(remote, "/pypi/heavy/json")
        assert (document.status, json.loads(document.body)["info"]["name"]) == (200, "heavy")
    request.addfinalizer(storage.close)


def test_what_a_server_learns_of_objects_is_bounded(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    import cellar.tree.s3 as s3_module  # noqa: PLC0415

    monkeypatch.setattr(s3_module, "FOUND_LIMIT", 3)
    settings = S3Settings(s3.new_bucket(), "p", s3.endpoint, "us-east-1", "path")
    storage = S3Storage.connect(settings, tmp_path / "staging")
    request.addfinalizer(storage.close)
    storage.put({"simple/index.html": b"root"})
    for number in range(10):  # a client asking for name after name
        assert storage.find(f"simple/guess-{number}/index.html") is None
        assert len(storage._found) <= 3  # the bound is the point
    found = storage.find("simple/index.html")
    assert found is not None and found.size == 4
    assert storage.find("simple/.hidden") is None and storage.find("simple//x") is None
