"""Hosted projects end to end: real ``twine upload`` and ``uv publish`` to a real ``cellar serve``
(HTTP, and HTTPS with separate read and upload credentials), then real pip and uv installing
the hosted package with its public dependencies from the one index; each refusal with its
status and message; dependency confusion; yanks; verify, bundles, S3 and nginx."""

from __future__ import annotations

import dataclasses
import json
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from packaging.utils import NormalizedName

from cellar.cli import main
from cellar.config.load import load_config
from cellar.config.serve import UploadSettings
from cellar.hosted.records import read_hosted
from cellar.hosted.tokens import make_token
from cellar.nginx import render_nginx_config, site_from_config
from cellar.sync.host_files import host_files
from cellar.sync.hosting import HostedWriter
from cellar.tree.local import LocalStorage
from cellar.tree.location import S3Settings
from tests.support.installers import imported_version, make_venv, pip_install, uv_install, uv_venv
from tests.support.mirror import assert_consistent, cellar_serve
from tests.support.nginx import free_port, running_nginx
from tests.support.packages import Dist, build_sdist, build_wheel
from tests.support.private import make_secrets
from tests.support.s3 import S3Server, storage_table
from tests.support.server import serving
from tests.support.uploads import (
    htpasswd_line,
    post_form,
    twine_upload,
    upload_fields,
    uv_publish,
)
from tests.support.upstream import LocalIndex

TOKEN = make_token("ci")


def write_config(root: Path, index: LocalIndex, *, requirements: str = "", extra: str = "") -> Path:
    """A mirror of ``requirements`` from ``index`` that hosts ``acme-*`` and takes uploads:
    alice may upload to acme-* and shared, bob to bob-*, the token of ci to acme-tool."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "uploaders").write_text(
        htpasswd_line("alice", "alice-pw")
        + htpasswd_line("bob", "bob-pw")
        + htpasswd_line("ci", TOKEN)
        + htpasswd_line("ops", "ops-pw"),
        encoding="utf-8",
    )
    config = root / "cellar.toml"
    config.write_text(
        f'[mirror]\ndirectory = "mirror"\nupstream = "{index.url}"\nretries = 1\n'
        f"[packages]\nrequirements = [{requirements}]\n"
        '[targets]\npython = ["3.11"]\nplatforms = ["linux"]\n'
        '[hosted]\nuploaders = "uploaders"\nreserve = ["acme-*"]\n'
        'allow-upstream = ["shared"]\nmax-upload-size = "1M"\n'
        '[hosted.grants]\nalice = ["acme-*", "shared"]\nbob = ["bob-*"]\nci = ["acme-tool"]\nops = ["*"]\n'
        f"{extra}",
        encoding="utf-8",
    )
    return config


def with_lib(root: Path, index: LocalIndex, *, requirements: str = "", extra: str = "") -> Path:
    """``write_config``'s mirror, with ``lib`` 1.0 upstream, mirrored once."""
    index.add(build_wheel("lib", "1.0"))
    config = write_config(root, index, requirements=requirements, extra=extra)
    mirror(config)
    return config


@contextmanager
def serving_uploads(config: Path) -> Iterator[str]:
    """``cellar serve`` of ``config`` in this process (its code measured); yield its base URL."""
    loaded = load_config(config)
    settings = dataclasses.replace(
        loaded.serve,
        host="127.0.0.1",
        port=0,
        uploads=UploadSettings(loaded.hosted, hash_index=loaded.mirror.hash_index),
    )
    with serving(loaded.mirror.web_root, settings) as served:
        yield served.url


def mirror(config: Path) -> None:
    assert main(["mirror", "-c", str(config)]) == 0


def saved(directory: Path, dist: Dist) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / dist.filename
    path.write_bytes(dist.data)
    return path


def page(base: str, project: str) -> dict[str, object]:
    request = urllib.request.Request(  # noqa: S310 - the tests' own server
        f"{base}simple/{project}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        data: dict[str, object] = json.loads(response.read())
        return data


def filenames(data: dict[str, object]) -> list[str]:
    files = data["files"]
    assert isinstance(files, list)
    return sorted(str(file["filename"]) for file in files)


def test_twine_and_uv_publish_then_pip_and_uv_install_it_with_its_public_dependencies(
    tmp_path: Path,
    local_index: LocalIndex,
    installer_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    local_index.add(build_wheel("lib", "1.0"))
    local_index.add(build_wheel("lib", "2.0"))
    config = write_config(tmp_path, local_index)  # no requirement: lib comes from acme-tool
    mirror(config)
    wheel = saved(tmp_path / "dist", build_wheel("acme-tool", "1.0", requires_dist=["lib<2"]))
    sdist = saved(tmp_path / "dist", build_sdist("acme-tool", "1.0", requires_dist=["lib<2"]))
    with cellar_serve(config) as base:
        uploaded = twine_upload(f"{base}upload/", [wheel], "alice", "alice-pw", tmp=tmp_path)
        assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
        published = uv_publish(f"{base}upload/", [sdist], "__token__", TOKEN, tmp=tmp_path)
        assert published.returncode == 0, published.stdout + published.stderr
        listed = page(base, "acme-tool")
        assert filenames(listed) == sorted([wheel.name, sdist.name])
        assert listed["versions"] == ["1.0"]
        local_index.reset_log()
        mirror(config)  # the hosted release's dependency enters the closure
        assert local_index.count("/simple/acme-tool/") == 0
        assert filenames(page(base, "lib")) == ["lib-1.0-py3-none-any.whl"]
        capsys.readouterr()
        assert main(["why", "lib", "-c", str(config)]) == 0
        said = capsys.readouterr().out
        assert "acme-tool==1.0 -> lib<2" in said, said
        for install, make in ((pip_install, make_venv), (uv_install, None)):
            venv = tmp_path / f"venv-{install.__name__}"
            python = make(venv) if make is not None else uv_venv(venv, env=installer_env)
            result = install(python, f"{base}simple/", "acme-tool", env=installer_env)
            assert result.returncode == 0, result.stdout + result.stderr
            assert imported_version(python, "acme_tool") == "1.0"
            assert imported_version(python, "lib") == "1.0"
    assert_consistent(tmp_path / "mirror" / "web")
    record = json.loads((tmp_path / "mirror/web/hosted/acme-tool.json").read_text())
    assert {file["uploader"] for file in record["files"]} == {"alice", "ci"}


def test_uploads_over_https_take_upload_credentials_never_read_ones(
    tmp_path: Path, local_index: LocalIndex, installer_env: dict[str, str]
) -> None:
    local_index.add(build_wheel("lib", "1.0"))
    (tmp_path / "secrets").mkdir()
    secrets = make_secrets(tmp_path / "secrets", "reader", "read-pw")
    config = write_config(
        tmp_path,
        local_index,
        extra=f'[serve]\nhtpasswd = "{secrets.htpasswd}"\n'
        f'tls-certificate = "{secrets.certificate}"\ntls-key = "{secrets.key}"\n',
    )
    mirror(config)
    wheel = saved(tmp_path / "dist", build_wheel("acme-tool", "2.0", requires_dist=["lib"]))
    context = ssl.create_default_context(cafile=str(secrets.ca))
    with cellar_serve(config, context=context) as served:
        base = served.replace("://127.0.0.1:", "://localhost:")  # as the certificate names it
        upload = f"{base}upload/"
        # The reader's login reads, but uploads nothing.
        refused = twine_upload(upload, [wheel], "reader", "read-pw", tmp=tmp_path, ca=secrets.ca)
        assert refused.returncode != 0
        assert "401" in refused.stdout + refused.stderr
        uploaded = uv_publish(upload, [wheel], "alice", "alice-pw", tmp=tmp_path, ca=secrets.ca)
        assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
        # An uploader's login reads nothing: the pages need a reader's.
        answer = post_form(f"{base}simple/", {}, auth=("alice", "alice-pw"), context=context)
        assert answer.status in (401, 405)
        mirror(config)
        venv = make_venv(tmp_path / "venv")
        index = base.replace("https://", "https://reader:read-pw@") + "simple/"
        # requests (in pip) lets these override --cert: the machine's own bundle.
        env = {
            k: v
            for k, v in installer_env.items()
            if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
        }
        result = pip_install(
            venv, index, "acme-tool", env=env, extra_args=["--cert", str(secrets.ca)]
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert imported_version(venv, "acme_tool") == "2.0"


def test_each_refusal_has_its_status_and_message(tmp_path: Path, local_index: LocalIndex) -> None:
    config = with_lib(tmp_path, local_index, requirements='"lib"')
    good = build_wheel("acme-tool", "1.0")
    with serving_uploads(config) as base:
        upload = f"{base}upload/"
        fields = upload_fields("acme-tool", "1.0")
        file = (good.filename, good.data)

        def post(
            login: tuple[str, str] = ("alice", "alice-pw"),
            form: dict[str, str] = fields,
            sent: tuple[str, bytes] = file,
        ) -> tuple[int, str]:
            answer = post_form(upload, form, sent, auth=login)
            assert answer.reason.strip() == answer.body.strip()[:300] or answer.status == 200
            return answer.status, answer.body

        status, body = post(("__token__", make_token("ci")[:-4] + "0000"))
        assert status == 401
        assert "wrong user name, password or token" in body
        assert post(("__token__", "not-a-token"))[0] == 401
        assert post(("alice", "wrong"))[0] == 401
        status, body = post(("bob", "bob-pw"))
        assert (status, body.strip()) == (
            403,
            "bob may not upload to acme-tool (a name reserved for hosting); "
            "bob may upload to: bob-*",
        )
        assert post()[0] == 200
        status, body = post()  # the same bytes again: a retried upload
        assert (status, "nothing changed" in body) == (200, True)
        rebuilt = build_wheel("acme-tool", "1.0", requires_dist=["lib"])
        status, body = post(sent=(good.filename, rebuilt.data))
        assert status == 400
        assert body.startswith("File already exists: acme_tool-1.0-py3-none-any.whl")
        saved_path = saved(tmp_path / "dist", rebuilt)
        failed = twine_upload(upload, [saved_path], "alice", "alice-pw", tmp=tmp_path)
        assert failed.returncode != 0
        assert "File already exists" in failed.stdout + failed.stderr
        broken = (
            "acme_tool-2.0-py3-none-any.whl",
            b"PK\x03\x04 this is not a zip archive at all",
        )
        status, body = post(form=upload_fields("acme-tool", "2.0"), sent=broken)
        assert status == 400
        assert "not a readable wheel" in body
        liar = build_wheel("acme-other", "2.0")
        status, body = post(
            form=upload_fields("acme-tool", "2.0"),
            sent=("acme_tool-2.0-py3-none-any.whl", liar.data),
        )
        assert (status, "no acme-tool-2.0.dist-info/METADATA in the wheel" in body) == (
            400,
            True,
        ), body
        status, body = post(form={**fields, "sha256_digest": "0" * 64})
        assert (status, "the upload was damaged" in body) == (400, True)
        big = build_wheel("acme-big", "1.0", extra_files={"acme_big/blob": bytes(2 << 20)})
        status, body = post(form=upload_fields("acme-big", "1.0"), sent=(big.filename, big.data))
        assert status in (200, 413)  # zeros compress: under the limit as sent
        huge = ("acme_huge-1.0-py3-none-any.whl", b"PK" + bytes(1100 * 1024))
        status, body = post(form=upload_fields("acme-huge", "1.0"), sent=huge)
        assert (status, "over the upload limit" in body) == (413, True)
        status, body = post(form=upload_fields("acme-tool", "3.0"), sent=("../evil.whl", b"x"))
        assert (status, "path separator" in body) == (400, True)
        status, body = post(form={**fields, ":action": "remove_pkg"})
        assert (status, "unsupported :action" in body) == (400, True)
        # A name the mirror has from the upstream is never taken over by an upload.
        public = build_wheel("lib", "9.0")
        status, body = post(
            ("ops", "ops-pw"), form=upload_fields("lib", "9.0"), sent=(public.filename, public.data)
        )
        assert (status, "lib is mirrored from the upstream" in body) == (403, True), body
        status, body = post(form=upload_fields("lib", "9.0"), sent=(public.filename, public.data))
        assert (status, "alice may not upload to lib" in body) == (403, True)
        assert filenames(page(base, "acme-tool")) == [good.filename]
        assert filenames(page(base, "lib")) == ["lib-1.0-py3-none-any.whl"]
    assert_consistent(tmp_path / "mirror" / "web")
    assert not list((tmp_path / "mirror/web/hosted").glob("incoming/*"))


def test_an_upstream_release_of_a_hosted_name_never_reaches_the_mirror_or_clients(
    tmp_path: Path, local_index: LocalIndex, installer_env: dict[str, str]
) -> None:
    local_index.add(build_wheel("lib", "1.0"))
    local_index.add(build_wheel("app", "1.0", requires_dist=["acme-tool", "acme-secret"]))
    config = write_config(tmp_path, local_index, requirements='"lib"')
    mirror(config)
    storage = LocalStorage(tmp_path / "mirror" / "web")
    ours = saved(tmp_path / "dist", build_wheel("acme-tool", "1.0", requires_dist=["lib"]))
    assert host_files(HostedWriter(storage), [ours], "admin", max_size=1 << 20)[0].added
    # The attack: the upstream publishes a higher version of the internal name, and a public
    # project that pulls it in along with a name reserved but not uploaded yet.
    local_index.add(build_wheel("acme-tool", "99.0", requires_dist=["evil"]))
    local_index.add(build_wheel("acme-secret", "1.0"))
    local_index.add(build_wheel("evil", "1.0"))
    local_index.reset_log()
    config.write_text(config.read_text().replace('["lib"]', '["lib", "acme-tool"]'))
    mirror(config)
    asked = [record.path for record in local_index.requests]
    assert not [path for path in asked if "acme" in path or "evil" in path], asked
    web = tmp_path / "mirror" / "web"
    assert not list(web.glob("packages/*/*/*/acme_tool-99*"))
    assert not (web / "simple" / "evil").exists()
    # A public project needing a reserved name fails to resolve, and still asks nothing.
    config.write_text(config.read_text().replace('["lib", "acme-tool"]', '["app"]'))
    assert main(["mirror", "-c", str(config)]) == 1
    assert not [r.path for r in local_index.requests if "acme" in r.path]
    with cellar_serve(config) as base:
        assert filenames(page(base, "acme-tool")) == [ours.name]
        venv = make_venv(tmp_path / "venv")
        result = pip_install(venv, f"{base}simple/", "acme-tool", env=installer_env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert imported_version(venv, "acme_tool") == "1.0"
        refused = pip_install(venv, f"{base}simple/", "acme-tool==99.0", env=installer_env)
        assert refused.returncode != 0


def test_yank_and_unyank_by_an_authorised_user(
    tmp_path: Path, local_index: LocalIndex, installer_env: dict[str, str]
) -> None:
    config = with_lib(tmp_path, local_index)
    one, two = build_wheel("acme-tool", "1.0"), build_wheel("acme-tool", "2.0")
    with serving_uploads(config) as base:
        upload = f"{base}upload/"
        for dist, version in ((one, "1.0"), (two, "2.0")):
            answer = post_form(
                upload,
                upload_fields("acme-tool", version),
                (dist.filename, dist.data),
                auth=("alice", "alice-pw"),
            )
            assert answer.status == 200, answer.body
        yank = {":action": "yank", "name": "acme-tool", "version": "2.0", "reason": "broken"}
        assert post_form(upload, yank, auth=("bob", "bob-pw")).status == 403
        assert post_form(upload, {**yank, "version": "7"}, auth=("alice", "alice-pw")).status == 404
        answer = post_form(upload, yank, auth=("alice", "alice-pw"))
        assert (answer.status, answer.body.strip()) == (
            200,
            "yanked acme-tool 2.0: acme_tool-2.0-py3-none-any.whl",
        )
        files = {f["filename"]: f["yanked"] for f in page(base, "acme-tool")["files"]}  # type: ignore[attr-defined]
        assert files == {one.filename: False, two.filename: "broken"}
        venv = make_venv(tmp_path / "venv")
        result = pip_install(venv, f"{base}simple/", "acme-tool", env=installer_env)
        assert result.returncode == 0, result.stderr
        assert imported_version(venv, "acme_tool") == "1.0"  # PEP 592: passed over
        pinned = pip_install(venv, f"{base}simple/", "acme-tool==2.0", env=installer_env)
        assert pinned.returncode == 0, pinned.stderr  # PEP 592: still there when pinned
        unyank = {":action": "unyank", "name": "acme-tool", "version": "2.0"}
        assert post_form(upload, unyank, auth=("alice", "alice-pw")).status == 200
        files = {f["filename"]: f["yanked"] for f in page(base, "acme-tool")["files"]}  # type: ignore[attr-defined]
        assert files == {one.filename: False, two.filename: False}
    # From the command line, on the machine that holds the tree.
    assert main(["host", "yank", "acme-tool", "1.0", "--reason", "old", "-c", str(config)]) == 0
    listed = json.loads((tmp_path / "mirror/web/simple/acme-tool/index.v1_json").read_text())
    assert [f["yanked"] for f in listed["files"]] == ["old", False]
    assert main(["host", "unyank", "acme-tool", "9.9", "-c", str(config)]) == 1


def test_a_project_allowed_upstream_lists_both_and_never_an_upstream_hosted_version(
    tmp_path: Path, local_index: LocalIndex
) -> None:
    local_index.add(build_wheel("shared", "1.0"))
    local_index.add(build_wheel("shared", "2.0"))
    config = write_config(tmp_path, local_index, requirements='"shared"')
    config.write_text(config.read_text().replace("[packages]\n", "[packages]\nversions = 5\n"))
    mirror(config)
    ours = build_wheel("shared", "2.0", requires_dist=[])
    with cellar_serve(config) as base:
        answer = post_form(
            f"{base}upload/",
            upload_fields("shared", "2.0"),
            (ours.filename, ours.data),
            auth=("alice", "alice-pw"),
        )
        assert answer.status == 200, answer.body
        listed = page(base, "shared")
        urls = {f["filename"]: f["url"] for f in listed["files"]}  # type: ignore[attr-defined]
        assert set(urls) == {"shared-1.0-py3-none-any.whl", "shared-2.0-py3-none-any.whl"}
        assert urls["shared-2.0-py3-none-any.whl"].startswith("../../packages/hosted/")
        assert not urls["shared-1.0-py3-none-any.whl"].startswith("../../packages/hosted/")
        local_index.add(build_wheel("shared", "3.0"))
        mirror(config)
        listed = page(base, "shared")
        urls = {f["filename"]: f["url"] for f in listed["files"]}  # type: ignore[attr-defined]
        assert sorted(urls) == [
            "shared-1.0-py3-none-any.whl",
            "shared-2.0-py3-none-any.whl",
            "shared-3.0-py3-none-any.whl",
        ]
        hosted = urls["shared-2.0-py3-none-any.whl"]
        assert hosted == "../../packages/hosted/shared/shared-2.0-py3-none-any.whl"
    assert_consistent(tmp_path / "mirror" / "web")


def test_verify_checks_hosted_files_and_never_drops_one(
    tmp_path: Path, local_index: LocalIndex
) -> None:
    config = with_lib(tmp_path, local_index, requirements='"lib"')
    web = tmp_path / "mirror" / "web"
    ours = saved(tmp_path / "dist", build_wheel("acme-tool", "1.0"))
    assert host_files(HostedWriter(LocalStorage(web)), [ours], "admin", max_size=1 << 20)
    mirror(config)
    assert main(["verify", "-c", str(config)]) == 0
    hosted = web / "packages/hosted/acme-tool" / ours.name
    hosted.write_bytes(b"damaged" + ours.read_bytes())
    (web / "simple/acme-tool/index.html").unlink()
    assert main(["verify", "--repair", "--prune-orphans", "-c", str(config)]) == 1
    assert hosted.read_bytes().startswith(b"damaged")  # the only copy: never deleted
    listed = json.loads((web / "simple/acme-tool/index.v1_json").read_text())
    assert [f["filename"] for f in listed["files"]] == [ours.name]
    assert (web / "simple/acme-tool/index.html").is_file()  # rewritten from the record
    hosted.write_bytes(ours.read_bytes())  # restored from a backup
    assert main(["verify", "-c", str(config)]) == 0


def test_a_bundle_carries_hosted_projects_to_the_inner_mirror(
    tmp_path: Path, local_index: LocalIndex, installer_env: dict[str, str]
) -> None:
    local_index.add(build_wheel("lib", "1.0"))
    outer = write_config(tmp_path / "outer", local_index)
    keys = tmp_path / "keys"
    assert main(["keygen", "-o", str(keys)]) == 0
    outer.write_text(outer.read_text() + f'[bundle]\nsigning-key = "{keys / "cellar.key"}"\n')
    mirror(outer)
    ours = saved(tmp_path / "dist", build_wheel("acme-tool", "1.0", requires_dist=["lib"]))
    assert main(["host", "add", str(ours), "-c", str(outer)]) == 0
    mirror(outer)
    assert main(["export", "-o", str(tmp_path / "b1"), "-c", str(outer)]) == 0
    inner = tmp_path / "inner" / "cellar.toml"
    inner.parent.mkdir()
    inner.write_text(
        '[mirror]\ndirectory = "mirror"\n[packages]\nrequirements = []\n'
        f'[bundle]\ntrusted-keys = ["{keys / "cellar.pub"}"]\n'
        '[targets]\npython = ["3.11"]\nplatforms = ["linux"]\n'
    )
    assert main(["import", str(tmp_path / "b1"), "-c", str(inner)]) == 0
    web = tmp_path / "inner" / "mirror" / "web"
    assert_consistent(web)
    assert (web / "hosted" / "acme-tool.json").is_file()
    assert not (web / "hosted" / "lock").exists()
    assert main(["verify", "-c", str(inner)]) == 0
    with cellar_serve(inner) as base:
        venv = make_venv(tmp_path / "venv")
        result = pip_install(venv, f"{base}simple/", "acme-tool", env=installer_env)
        assert result.returncode == 0, result.stdout + result.stderr


def test_hosted_files_in_an_s3_bucket(
    tmp_path: Path, local_index: LocalIndex, s3: S3Server, installer_env: dict[str, str]
) -> None:
    local_index.add(build_wheel("lib", "1.0"))
    bucket = s3.new_bucket()
    config = write_config(tmp_path, local_index, extra=storage_table(s3, bucket, prefix="tree"))
    mirror(config)
    ours = saved(tmp_path / "dist", build_wheel("acme-tool", "1.0", requires_dist=["lib"]))
    with cellar_serve(config) as base:
        uploaded = twine_upload(f"{base}upload/", [ours], "alice", "alice-pw", tmp=tmp_path)
        assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
        mirror(config)
        venv = make_venv(tmp_path / "venv")
        result = pip_install(venv, f"{base}simple/", "acme-tool", env=installer_env)
        assert result.returncode == 0, result.stdout + result.stderr
    held = s3.objects(bucket, "tree/")
    assert f"packages/hosted/acme-tool/{ours.name}" in held
    assert "hosted/acme-tool.json" in held
    assert "hosted/lock" not in held
    assert not [key for key in held if key.startswith("hosted/incoming/")]
    assert main(["verify", "-c", str(config)]) == 0


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_uploads_at_once_to_one_project_all_land(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """Eight writers at once (threads here; processes and machines behave the same through
    the lease): every file ends up in the record and on the page."""
    if backend == "s3":
        server: S3Server = request.getfixturevalue("s3")
        from cellar.tree.s3 import S3Storage  # noqa: PLC0415 - boto3 only for this case

        settings = S3Settings(server.new_bucket(), "t", server.endpoint, "us-east-1", "path")
        storage = S3Storage.connect(settings, tmp_path / "staging")
        request.addfinalizer(storage.close)
    else:
        storage = LocalStorage(tmp_path / "web")  # type: ignore[assignment]
    writer = HostedWriter(storage)
    dists = [saved(tmp_path / "dist", build_wheel("acme-tool", f"1.{n}")) for n in range(8)]
    errors: list[BaseException] = []

    def upload(path: Path) -> None:
        try:
            host_files(writer, [path], "ci", max_size=1 << 20)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=upload, args=(path,)) for path in dists]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    record = read_hosted(storage).records[NormalizedName("acme-tool")]
    assert sorted(file.filename for file in record.files) == sorted(p.name for p in dists)
    body = storage.read("simple/acme-tool/index.v1_json")
    assert body is not None
    assert len(json.loads(body)["files"]) == 8
    assert storage.read("hosted/lock") is None


def test_nginx_proxies_uploads_to_cellar_serve(tmp_path: Path, local_index: LocalIndex) -> None:
    config = with_lib(tmp_path, local_index, requirements='"lib"')
    ours = build_wheel("acme-tool", "1.0")
    with cellar_serve(config) as base:
        port = free_port()
        site = site_from_config(
            load_config(config), listen=(f"127.0.0.1:{port}",), upload_backend=base
        )
        with running_nginx(tmp_path / "nginx", render_nginx_config(site), port):
            front = f"http://127.0.0.1:{port}/"
            answer = post_form(
                f"{front}upload/",
                upload_fields("acme-tool", "1.0"),
                (ours.filename, ours.data),
                auth=("alice", "alice-pw"),
            )
            assert answer.status == 200, answer
            refused = post_form(
                f"{front}upload/",
                upload_fields("acme-tool", "1.0"),
                (ours.filename, b"x"),
                auth=("alice", "wrong"),
            )
            assert refused.status == 401
            assert post_form(f"{front}simple/", {}).status == 405
            with urllib.request.urlopen(f"{front}simple/acme-tool/", timeout=10) as response:  # noqa: S310
                assert ours.filename in response.read().decode()
            url = f"{front}packages/hosted/acme-tool/{ours.filename}"
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
                assert response.read() == ours.data


def test_host_add_takes_a_pypiserver_directory_and_host_token_makes_a_working_token(
    tmp_path: Path, local_index: LocalIndex
) -> None:
    config = with_lib(tmp_path, local_index, requirements='"lib"')
    packages = tmp_path / "pypiserver-packages"
    for dist in (
        build_wheel("acme-tool", "1.0"),
        build_sdist("acme-tool", "1.0"),
        build_wheel("acme-lib", "0.1"),
    ):
        saved(packages / "sub", dist)
    (packages / "notes.txt").write_text("not a package")
    (packages / "acme_bad-1.0-py3-none-any.whl").write_bytes(b"not a zip")
    result = subprocess.run(
        [sys.executable, "-m", "cellar", "host", "add", str(packages), "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "3 hosted, 0 already there, 1 refused" in result.stdout
    assert "acme_bad-1.0-py3-none-any.whl: not a readable wheel" in result.stdout
    again = subprocess.run(
        [sys.executable, "-m", "cellar", "host", "add", str(packages / "sub"), "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert "0 hosted, 3 already there, 0 refused" in again.stdout
    made = subprocess.run(
        [sys.executable, "-m", "cellar", "host", "token", "ci", "-c", str(config)],
        capture_output=True,
        text=True,
        check=True,
    )
    token = made.stdout.strip()
    assert token.startswith("cellar.")
    assert (tmp_path / "uploaders").stat().st_mode & 0o777 == 0o600
    ours = build_wheel("acme-tool", "2.0")
    with cellar_serve(config) as base:
        fields = upload_fields("acme-tool", "2.0")
        old = post_form(
            f"{base}upload/", fields, (ours.filename, ours.data), auth=("__token__", TOKEN)
        )
        assert old.status == 401  # replaced by the new one
        new = post_form(
            f"{base}upload/", fields, (ours.filename, ours.data), auth=("__token__", token)
        )
        assert new.status == 200, new.body
        with urllib.request.urlopen(f"{base}", timeout=10) as response:  # noqa: S310
            home = response.read().decode()
        assert 'acme-tool</a> <span class="badge">hosted</span>' in home
        assert "lib</a></li>" in home
        with urllib.request.urlopen(f"{base}project/acme-tool/", timeout=10) as response:  # noqa: S310
            assert "Hosted here" in response.read().decode()
    status = subprocess.run(
        [sys.executable, "-m", "cellar", "status", "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "hosted:   2 projects, 4 files" in status.stdout, status.stdout
    listing = subprocess.run(
        [sys.executable, "-m", "cellar", "host", "list", "--json", "-c", str(config)],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(listing.stdout)
    assert sorted(data) == ["acme-lib", "acme-tool"]
    assert len(data["acme-tool"]["files"]) == 3


def test_cellar_delete_refuses_a_hosted_project_and_a_reserved_name_says_why(
    tmp_path: Path, local_index: LocalIndex
) -> None:
    local_index.add(build_wheel("lib", "1.0"))
    local_index.add(build_wheel("app", "1.0", requires_dist=["acme-later"]))
    config = write_config(tmp_path, local_index, requirements='"lib"')
    mirror(config)
    web = tmp_path / "mirror" / "web"
    ours = saved(tmp_path / "dist", build_wheel("acme-tool", "1.0"))
    assert host_files(HostedWriter(LocalStorage(web)), [ours], "admin", max_size=1 << 20)
    result = subprocess.run(
        [sys.executable, "-m", "cellar", "delete", "acme-tool", "lib", "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "acme-tool is hosted, not mirrored" in result.stderr
    assert (web / "packages/hosted/acme-tool" / ours.name).is_file()
    assert (web / "simple/lib/index.html").is_file()
    config.write_text(config.read_text().replace('["lib"]', '["app"]'))
    planned = subprocess.run(
        [sys.executable, "-m", "cellar", "plan", "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert planned.returncode == 1
    assert "reserved for hosting ([hosted] reserve), and nothing is uploaded yet" in (
        planned.stdout + planned.stderr
    )
    assert not [r.path for r in local_index.requests if "acme" in r.path]


def test_uploads_at_once_to_a_server_of_two_worker_processes_all_land(
    tmp_path: Path, local_index: LocalIndex
) -> None:
    config = with_lib(tmp_path, local_index, extra="[serve]\nworkers = 2\n")
    dists = [build_wheel("acme-tool", f"1.{n}") for n in range(8)]
    answers: list[int] = []
    with cellar_serve(config) as base:

        def upload(dist: Dist) -> None:
            version = dist.filename.split("-")[1]
            answer = post_form(
                f"{base}upload/",
                upload_fields("acme-tool", version),
                (dist.filename, dist.data),
                auth=("alice", "alice-pw"),
            )
            answers.append(answer.status)

        threads = [threading.Thread(target=upload, args=(dist,)) for dist in dists]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert answers == [200] * 8
        assert filenames(page(base, "acme-tool")) == sorted(dist.filename for dist in dists)
    assert_consistent(tmp_path / "mirror" / "web")
    assert not (tmp_path / "mirror/web/hosted/lock").exists()


def test_the_upload_api_refuses_what_no_client_should_send(
    tmp_path: Path, local_index: LocalIndex, caplog: pytest.LogCaptureFixture
) -> None:
    config = with_lib(tmp_path, local_index)
    ours = build_wheel("acme-tool", "1.0")
    alice = ("alice", "alice-pw")
    with serving_uploads(config) as base:
        upload = f"{base}upload/"
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(upload, timeout=10)  # noqa: S310 - a browser's GET
        assert raised.value.code == 405
        assert raised.value.headers["Allow"] == "POST"
        request = urllib.request.Request(  # noqa: S310
            upload, data=b"name=x", method="POST", headers={"Authorization": _basic(*alice)}
        )
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(request, timeout=10)  # noqa: S310
        assert raised.value.code == 400
        assert "multipart/form-data" in raised.value.read().decode()
        assert post_form(upload, upload_fields("acme-tool", "1.0")).status == 401
        answer = post_form(upload, upload_fields("acme-tool", "1.0"), auth=alice)
        assert (answer.status, "no file in the form" in answer.body) == (400, True)
        big = {**upload_fields("acme-tool", "1.0"), "description": "x" * (1 << 20 + 1)}
        answer = post_form(upload, big, (ours.filename, ours.data), auth=alice)
        assert (answer.status, "too large" in answer.body) == (413, True)
        yank = {":action": "yank", "name": "acme-tool"}
        answer = post_form(upload, yank, auth=alice)
        assert (answer.status, "needs the fields name and version" in answer.body) == (400, True)
        answer = post_form(upload, {**yank, "version": "1.0"}, auth=alice)
        assert (answer.status, "not a hosted project" in answer.body) == (404, True)
        # A part whose headers do not parse, and a body cut short: 400, no traceback.
        for body, length in (
            (b"--XX\r\nbroken headers\r\n\r\nx\r\n--XX--\r\n", None),
            (b'--XX\r\nContent-Disposition: form-data; name="content"; filename="a"\r\n\r\nab', 99),
        ):
            reply = _raw_post(base, body, length, _basic(*alice))
            assert reply.startswith(b"HTTP/1.1 400") or reply == b"", reply
        # Bare path, no slash: as some clients are configured.
        bare = post_form(
            upload.rstrip("/"),
            upload_fields("acme-tool", "1.0"),
            (ours.filename, ours.data),
            auth=alice,
        )
        assert bare.status == 200, bare.body
        # An uploaders file made unusable while serving: nobody uploads, the log says why.
        (tmp_path / "uploaders").write_text("alice:plaintext\n", encoding="utf-8")
        time.sleep(0.05)
        answer = post_form(upload, upload_fields("acme-tool", "1.0"), auth=("ci", "x"))
        assert (answer.status, "unusable" in answer.body) == (500, True)
        (tmp_path / "uploaders").write_text(htpasswd_line("alice", "alice-pw"), encoding="utf-8")
        time.sleep(0.05)
        # Wrong passwords from one address: slowed down, then refused before any check.
        statuses = [
            post_form(upload, upload_fields("acme-tool", "1.0"), auth=("alice", "no")).status
            for _ in range(5)
        ]
        assert statuses[:3] == [401, 401, 401]
        assert 429 in statuses[3:]
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]


def _raw_post(base: str, body: bytes, length: int | None, authorization: str) -> bytes:
    """POST ``body`` to the upload path as raw bytes (``length`` may overstate it: the client
    then hangs up); return the first bytes of the answer, if any."""
    port = int(base.rstrip("/").rsplit(":", 1)[1])
    head = (
        "POST /upload/ HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: {authorization}\r\n"
        "Content-Type: multipart/form-data; boundary=XX\r\n"
        f"Content-Length: {length if length is not None else len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(head + body)
        connection.shutdown(socket.SHUT_WR)
        return connection.recv(200)


def _basic(user: str, password: str) -> str:
    import base64  # noqa: PLC0415

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_host_commands_in_this_process(
    tmp_path: Path, local_index: LocalIndex, capsys: pytest.CaptureFixture[str]
) -> None:
    config = with_lib(tmp_path, local_index, requirements='"lib"')
    (tmp_path / "uploaders").unlink()
    capsys.readouterr()
    assert main(["host", "token", "ci", "-c", str(config)]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("cellar.")
    assert main(["host", "token", "nobody", "-c", str(config)]) == 0  # warned: no grant
    assert main(["host", "token", "a:b", "-c", str(config)]) == 2
    lines = (tmp_path / "uploaders").read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == ["ci", "nobody"]
    assert main(["host", "list", "-c", str(config)]) == 0
    assert "no hosted projects" in capsys.readouterr().out
    dist = saved(tmp_path / "dist", build_wheel("acme-tool", "1.0"))
    assert main(["host", "add", str(dist), "--uploader", "me", "-c", str(config)]) == 0
    assert main(["host", "add", str(tmp_path / "nothing-here"), "-c", str(config)]) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["host", "add", str(empty), "-c", str(config)]) == 1
    capsys.readouterr()
    assert main(["host", "list", "-c", str(config)]) == 0
    assert "acme_tool-1.0-py3-none-any.whl  " in capsys.readouterr().out
    (tmp_path / "mirror/web/hosted/acme-other.json").write_text("{}")
    assert main(["host", "list", "-c", str(config)]) == 1
    assert "acme-other: DAMAGED RECORD" in capsys.readouterr().out
    assert main(["host", "list", "--json", "-c", str(config)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["acme-tool"]["files"][0]["uploader"] == "me"
    assert "damaged" in data["acme-other"]
    with serving_uploads(config) as base:
        answer = post_form(
            f"{base}upload/",
            upload_fields("acme-tool", "2.0"),
            (build_wheel("acme-tool", "2.0").filename, build_wheel("acme-tool", "2.0").data),
            auth=("__token__", token),
        )
        assert answer.status == 200, answer.body
    no_uploads = tmp_path / "plain.toml"
    no_uploads.write_text(config.read_text().split("[hosted]")[0])
    assert main(["host", "token", "ci", "-c", str(no_uploads)]) == 2


def test_an_unchanged_rerun_with_hosted_projects_keeps_its_plan(
    tmp_path: Path, local_index: LocalIndex
) -> None:
    local_index.add(build_wheel("app", "1.0", requires_dist=["lib"]))
    config = with_lib(tmp_path, local_index, requirements='"app"')
    ours = saved(tmp_path / "dist", build_wheel("acme-tool", "1.0", requires_dist=["lib"]))
    web = tmp_path / "mirror" / "web"
    assert host_files(HostedWriter(LocalStorage(web)), [ours], "admin", max_size=1 << 20)
    mirror(config)
    local_index.reset_log()
    mirror(config)
    # The pages the plan read, each asked conditionally (304): nothing resolved again, and
    # nothing about the hosted project asked of anyone.
    assert sorted(r.path for r in local_index.requests) == ["/simple/app/", "/simple/lib/"]
    ours = saved(tmp_path / "dist", build_wheel("acme-tool", "2.0", requires_dist=["dep"]))
    local_index.add(build_wheel("dep", "1.0"))
    assert host_files(HostedWriter(LocalStorage(web)), [ours], "admin", max_size=1 << 20)
    mirror(config)  # a new hosted release: planned again, its dependency mirrored
    assert list(web.glob("packages/*/*/*/dep-1.0-py3-none-any.whl"))
