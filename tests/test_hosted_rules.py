"""Hosted projects' rules, without servers: name patterns, tokens, records, what an upload must
be (every refusal, on archives built here), ``[hosted]``'s problems, the lease, the overlay the
plan sees, and the nginx configuration of the upload path."""

from __future__ import annotations

import dataclasses
import io
import json
import tarfile
import threading
import time
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName

from cellar.config.checks import ConfigError
from cellar.config.hosted import HostedSettings, NamePattern
from cellar.config.load import parse_config
from cellar.config.model import Config
from cellar.hosted.model import (
    HOSTED_URL,
    HostedFile,
    HostedRecord,
    HostedRecordError,
    dump_record,
    load_record,
    name_of_record_key,
)
from cellar.hosted.overlay import HostedOverlay
from cellar.hosted.records import HostedTree, read_hosted
from cellar.hosted.tokens import make_token, token_user
from cellar.hosted.validate import UploadForm, UploadRefused, check_filename, check_upload
from cellar.model import DistFile, ProjectPage
from cellar.nginx import render_nginx_config, site_from_config
from cellar.nginx.site import NginxConfigError
from cellar.sync.plan import _hidden_from_uv
from cellar.sync.uv_pins import UvSettings
from cellar.tree.lease import LeaseHeldError, lease
from cellar.tree.local import LocalStorage
from tests.support.packages import build_sdist, build_wheel


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("acme-*", "acme-tool", True),
        ("acme-*", "Acme_Tool", True),
        ("acme-*", "acme.tool", True),
        ("acme-*", "acme", False),
        ("acme-*", "acmetool", False),
        ("acme_*", "acme-tool", True),
        ("acme*", "acmetool", True),
        ("acme*", "acme-tool", True),
        ("*", "anything", True),
        ("Acme.Tool", "acme-tool", True),
        ("acme-tool", "acme-tool2", False),
    ],
)
def test_name_patterns_match_normalised_names(pattern: str, name: str, matches: bool) -> None:
    assert NamePattern(pattern).matches(name) is matches


def test_grants_and_reservations() -> None:
    settings = HostedSettings(
        grants=(("alice", (NamePattern("acme-*"),)),),
        reserve=(NamePattern("acme-*"), NamePattern("secret")),
    )
    assert settings.may_upload("alice", "ACME_thing")
    assert not settings.may_upload("alice", "other")
    assert not settings.may_upload("bob", "acme-thing")
    assert settings.reserved("Secret") and not settings.reserved("public")


def test_tokens_name_their_user_and_nothing_else_passes() -> None:
    token = make_token("ci-bot.x")
    assert token_user(token) == "ci-bot.x"
    assert token_user(make_token("ünïcode")) == "ünïcode"
    assert make_token("a") != make_token("a")
    for bad in (
        "",
        "pypi-AgEIcHlwaS5vcmc",
        token[:-1],
        token[:-1] + "g",
        "cellar." + token.split(".")[2],
        "cellar.@@@." + "0" * 48,
        make_token("a:b"),
        make_token("__token__"),
    ):
        assert token_user(bad) is None, bad


def _file(name: str = "acme_tool-1.0-py3-none-any.whl", **changes: object) -> HostedFile:
    values: dict[str, object] = {
        "filename": name,
        "version": "1.0",
        "sha256": "a" * 64,
        "size": 10,
        "upload_time": "2026-12-01T00:00:00.000000Z",
        "uploader": "alice",
        "requires_dist": ("lib>=1",),
        **changes,
    }
    return HostedFile(**values)  # type: ignore[arg-type]


def test_a_record_reads_back_as_written() -> None:
    record = HostedRecord(
        "Acme-Tool",
        (
            _file(),
            _file("acme_tool-1.0.tar.gz", yanked="broken", build_requires=("setuptools",)),
            _file("acme_tool-2.0-py3-none-any.whl", version="2.0", yanked=True),
        ),
    )
    assert load_record(dump_record(record), "hosted/acme-tool.json") == record
    assert record.versions() == ("1.0", "2.0")
    assert name_of_record_key("hosted/acme-tool.json") == "acme-tool"
    for key in ("hosted/Acme.json", "hosted/lock", "hosted/incoming/x.json", "hosted/.json"):
        assert name_of_record_key(key) is None, key


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda d: d.update(format=2), "format 2"),
        (lambda d: d.update(name="other"), "names 'other'"),
        (lambda d: d["files"][0].update(filename="../x.whl"), "not a plain name"),
        (lambda d: d["files"][0].update(size=-1), "size is -1"),
        (lambda d: d["files"][0].update(size=True), "size is True"),
        (lambda d: d["files"][0].update(yanked=3), "yanked is 3"),
        (lambda d: d["files"][0].pop("sha256"), "sha256"),
        (lambda d: d["files"][0].update(uploader=None), "expected a string"),
    ],
)
def test_a_damaged_record_is_refused_with_its_key(change: object, says: str) -> None:
    data = json.loads(dump_record(HostedRecord("acme-tool", (_file(),))))
    change(data)  # type: ignore[operator]
    with pytest.raises(HostedRecordError) as raised:
        load_record(json.dumps(data).encode(), "hosted/acme-tool.json")
    assert "hosted/acme-tool.json" in str(raised.value)
    assert says in str(raised.value)
    with pytest.raises(HostedRecordError):
        load_record(b"{not json", "hosted/acme-tool.json")


def test_a_damaged_record_still_keeps_its_name_hosted(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put({"hosted/acme-tool.json": b"[]", "hosted/lock": b"{}"})
    tree = read_hosted(storage)
    assert tree.names == {"acme-tool"}
    assert "acme-tool" in tree.damaged
    assert HostedOverlay(tree).is_local(NormalizedName("acme-tool"))


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "empty"),
        ("..", "empty"),
        ("a/b.whl", "path separator"),
        ("a\\b.whl", "path separator"),
        (".hidden-1.0.tar.gz", "starts with a dot"),
        ("a\x00b-1.0.tar.gz", "control characters"),
        ("a" * 201 + ".whl", "longer than 200 bytes"),
        ("\udcff-1.0.tar.gz", "not valid Unicode"),
        ("good-1.0.tar.gz", None),
    ],
)
def test_file_names_must_be_plain(name: str, problem: str | None) -> None:
    found = check_filename(name)
    assert (found is None) if problem is None else (problem in (found or ""))


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / "upload"
    path.write_bytes(data)
    return path


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in members.items():
            archive.writestr(name, body)
    return buffer.getvalue()


def _tar(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return buffer.getvalue()


def test_a_good_wheel_and_sdist_pass_with_what_their_record_needs(tmp_path: Path) -> None:
    wheel = build_wheel("Acme.Tool", "1.0", requires_dist=["lib>=1"], requires_python=">=3.9")
    checked = check_upload(
        _write(tmp_path, wheel.filename, wheel.data),
        wheel.filename,
        UploadForm("Acme.Tool", "1.0.0"),
        max_size=1 << 20,
    )
    assert (checked.project, checked.display_name, checked.version) == (
        "acme-tool",
        "Acme.Tool",
        "1.0",
    )
    assert checked.metadata_file == wheel.metadata
    assert [str(r) for r in checked.metadata.requires_dist] == ["lib>=1"]
    sdist = build_sdist("acme-tool", "1.0", requires_dist=["lib"])
    checked = check_upload(
        _write(tmp_path, sdist.filename, sdist.data), sdist.filename, UploadForm(), max_size=1 << 20
    )
    assert checked.metadata_file is None
    assert checked.metadata.build_requires is not None


def _refusal(
    tmp_path: Path, name: str, data: bytes, form: UploadForm | None = None
) -> UploadRefused:
    with pytest.raises(UploadRefused) as raised:
        check_upload(_write(tmp_path, name, data), name, form or UploadForm(), max_size=64 * 1024)
    return raised.value


def test_every_kind_of_bad_upload_is_refused_with_its_reason(tmp_path: Path) -> None:
    wheel = build_wheel("acme-tool", "1.0")
    name = wheel.filename
    dist_info = "acme_tool-1.0.dist-info"
    cases: list[tuple[str, bytes, UploadForm | None, int, str]] = [
        ("acme_tool-1.0-py3.6.egg", b"x", None, 400, "not a wheel or sdist file name"),
        ("acme-tool.whl", wheel.data, None, 400, "not a wheel or sdist file name"),
        ("acme_tool-1.0.tgz", b"x", None, 400, "not a wheel or sdist file name"),
        (name, b"", None, 400, "the file is empty"),
        (name, b"PK" + bytes(70 * 1024), None, 413, "over the limit"),
        (name, wheel.data, UploadForm(digests={"sha256_digest": "0" * 64}), 400, "sha256 digest"),
        (name, wheel.data, UploadForm(digests={"md5_digest": "0" * 32}), 400, "md5 digest"),
        (
            name,
            wheel.data,
            UploadForm(digests={"blake2_256_digest": "0" * 64}),
            400,
            "blake2_256 digest",
        ),
        (name, wheel.data, UploadForm(name="other"), 400, "the form names project 'other'"),
        (name, wheel.data, UploadForm(version="2.0"), 400, "the form says version '2.0'"),
        (name, wheel.data, UploadForm(version="not a version"), 400, "the form says version"),
        (name, b"not a zip", None, 400, "not a readable wheel"),
        (name, _zip({f"{dist_info}/METADATA": wheel.metadata}), None, 400, "no .dist-info/WHEEL"),
        (
            name,
            _zip({f"{dist_info}/WHEEL": b"x", "../../etc/passwd": b"x"}),
            None,
            400,
            "would leave the wheel",
        ),
        (name, _zip({f"{dist_info}/WHEEL": b"x", "/abs": b"x"}), None, 400, "would leave"),
        (
            name,
            _zip({f"{dist_info}/WHEEL": b"x", "bomb": bytes(2 << 20)}),
            None,
            400,
            "would inflate to over",
        ),
        (
            name,
            _zip({f"{dist_info}/WHEEL": b"x"}),
            None,
            400,
            "no acme-tool-1.0.dist-info/METADATA",
        ),
        (
            name,
            _zip(
                {
                    f"{dist_info}/WHEEL": b"x",
                    f"{dist_info}/METADATA": b"Name: other\nVersion: 1.0\n",
                }
            ),
            None,
            400,
            "its metadata is not the file's",
        ),
        ("acme_tool-1.0.tar.gz", b"not a tar", None, 400, "not a readable sdist"),
        (
            "acme_tool-1.0.tar.gz",
            _tar({"acme_tool-1.0/PKG-INFO": b"x", "acme_tool-1.0/zeros": bytes(4 << 20)}),
            None,
            400,
            "would inflate to over",
        ),
        (
            "acme_tool-1.0.tar.gz",
            _tar({"acme_tool-1.0/setup.py": b""}),
            None,
            400,
            "no PKG-INFO at the sdist's top directory",
        ),
        (
            "acme_tool-1.0.tar.gz",
            _tar({"acme_tool-1.0/PKG-INFO": b"Name: acme-tool\nVersion: 1.0\n", "../x": b""}),
            None,
            400,
            "would leave the sdist",
        ),
        (
            "acme_tool-1.0.tar.gz",
            _tar(
                {"acme_tool-1.0/PKG-INFO": b"Name: acme-tool\nVersion: 1.0\n"},
                links={"acme_tool-1.0/link": "/etc/passwd"},
            ),
            None,
            400,
            "leads out of the sdist",
        ),
        (
            "acme_tool-1.0.tar.gz",
            _tar({"acme_tool-1.0/PKG-INFO": b"Name: acme-tool\nVersion: 2.0\n"}),
            None,
            400,
            "it says version 2.0",
        ),
    ]
    for filename, data, form, status, says in cases:
        refusal = _refusal(tmp_path, filename, data, form)
        assert (refusal.status, says in refusal.reason, filename) == (status, True, filename), (
            refusal.reason
        )


def test_a_damaged_member_fails_its_crc(tmp_path: Path) -> None:
    wheel = build_wheel("acme-tool", "1.0", extra_files={"acme_tool/data.txt": b"z" * 5000})
    data = bytearray(wheel.data)
    at = data.find(b"acme_tool/data.txt") + 200  # inside that member's compressed bytes
    data[at] ^= 0xFF
    refusal = _refusal(tmp_path, wheel.filename, bytes(data))
    assert refusal.status == 400
    assert "damaged" in refusal.reason or "not a readable wheel" in refusal.reason


def _parse(text: str, source: Path) -> Config:
    return parse_config(tomllib.loads(text), source)


def _config(tmp_path: Path, hosted: str) -> str:
    return (
        f'[mirror]\ndirectory = "{tmp_path}"\n[packages]\ndependencies = false\n'
        f"requirements = []\n[hosted]\n{hosted}"
    )


@pytest.mark.parametrize(
    ("hosted", "key", "says"),
    [
        ('upload-path = "/up/"\n', "[hosted] upload-path", "needs [hosted] uploaders"),
        ('uploaders = "u"\nupload-path = "up"\n', "[hosted] upload-path", "must be a path"),
        ('uploaders = "u"\nupload-path = "/simple/up/"\n', "[hosted] upload-path", "own paths"),
        ('uploaders = "u"\nupload-path = "/a/../b/"\n', "[hosted] upload-path", "must be a path"),
        ('reserve = "acme-*"\n', "[hosted] reserve", "must be a list"),
        ('reserve = ["acme-*-x", "a b"]\n', "[hosted] reserve", "'acme-*-x', 'a b'"),
        ('allow-upstream = ["acme-*"]\n', "[hosted] allow-upstream", "project names only"),
        ('max-upload-size = "lots"\n', "[hosted] max-upload-size", ""),
        ('max-upload-size = "6G"\n', "[hosted] max-upload-size", "5G at most"),
        ("grants = 3\n", "[hosted] grants", "must be a table"),
        ('[hosted.grants]\n"__token__" = ["*"]\n', "[hosted.grants] '__token__'", "user name"),
        ('[hosted.grants]\nalice = "acme-*"\n', "[hosted.grants] alice", "must be a list"),
        ('colour = "red"\n', "[hosted] colour", ""),
    ],
)
def test_hosted_table_problems_name_their_key(
    tmp_path: Path, hosted: str, key: str, says: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        _parse(_config(tmp_path, hosted), tmp_path / "cellar.toml")
    text = str(raised.value)
    assert key in text
    assert says in text


def test_a_whole_hosted_table(tmp_path: Path) -> None:
    config = _parse(
        _config(
            tmp_path,
            'uploaders = "uploaders"\nreserve = ["acme-*"]\nallow-upstream = ["Shared.Lib"]\n'
            'max-upload-size = "10M"\nupload-path = "/pypi-upload"\n'
            '[hosted.grants]\nalice = ["acme-*", "*"]\n',
        ),
        tmp_path / "cellar.toml",
    )
    hosted = config.hosted
    assert hosted.upload_path == "/pypi-upload/"
    assert hosted.uploaders == tmp_path / "uploaders"
    assert hosted.max_upload_size == 10 << 20
    assert hosted.allow_upstream == {"shared-lib"}
    assert hosted.may_upload("alice", "anything")
    plain = _parse(_config(tmp_path, 'uploaders = "u"\n'), tmp_path / "c.toml").hosted
    assert plain.upload_path == "/upload/"


def test_the_lease_is_one_writer_at_a_time_and_a_dead_writers_is_broken(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    order: list[str] = []
    with lease(storage, "hosted/lock"):
        holder = storage.read("hosted/lock")
        assert holder is not None and b'"pid"' in holder

        def other() -> None:
            with lease(storage, "hosted/lock", wait=10):
                order.append("other")

        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.3)
        order.append("first")
        with pytest.raises(LeaseHeldError) as raised, lease(storage, "hosted/lock", wait=0.2):
            pass
        assert "pid" in str(raised.value)
    thread.join()
    assert order == ["first", "other"]
    assert storage.read("hosted/lock") is None
    # A lease left by a writer that died long ago is broken; garbage is only waited for.
    storage.put({"hosted/lock": json.dumps({"pid": 1, "host": "h", "since": 0}).encode()})
    with lease(storage, "hosted/lock", wait=1):
        pass
    storage.put({"hosted/lock": b"garbage"})
    with pytest.raises(LeaseHeldError) as raised, lease(storage, "hosted/lock", wait=0.2):
        pass
    assert "unknown" in str(raised.value)


def _overlay(**settings: object) -> HostedOverlay:
    record = HostedRecord(
        "shared",
        (
            _file(
                "shared-2.0-py3-none-any.whl",
                version="2.0",
                requires_dist=("lib>=1", "x; extra == 'y'"),
            ),
            _file("shared-2.0.tar.gz", version="2.0", build_requires=("setuptools>=61",)),
        ),
    )
    tree = HostedTree({NormalizedName("shared"): record})
    return HostedOverlay(tree, HostedSettings(**settings))  # type: ignore[arg-type]


def _upstream(filename: str) -> DistFile:
    return DistFile(filename, f"https://files.example/{filename}")


def test_the_overlay_answers_hosted_names_and_merges_only_when_allowed() -> None:
    overlay = _overlay(reserve=(NamePattern("acme-*"),))
    shared = NormalizedName("shared")
    assert overlay.is_local(shared) and not overlay.is_merged(shared)
    assert overlay.is_local(NormalizedName("acme-thing"))
    assert not overlay.is_local(NormalizedName("lib"))
    page = overlay.page(shared)
    assert page is not None
    assert all(file.url.startswith(HOSTED_URL) for file in page.files)
    metadata = overlay.metadata(shared, page.files[0])
    assert metadata is not None
    assert [str(r) for r in metadata.requires_dist] == ["lib>=1", 'x; extra == "y"']
    assert overlay.metadata(shared, _upstream("shared-2.0-py3-none-any.whl")) is None
    sets = overlay.requirement_sets()
    assert [s.requirements for s in sets] == [(Requirement("shared==2.0"),)]
    assert sets[0].source.startswith("hosted shared 2.0 (") and not sets[0].alone
    merged = _overlay(allow_upstream=frozenset({shared}))
    assert merged.is_merged(shared) and not merged.is_local(shared)
    upstream = ProjectPage(
        "shared",
        (_upstream("shared-1.0-py3-none-any.whl"), _upstream("shared-2.0-py3-none-any.whl")),
    )
    found = merged.merge(shared, upstream)
    assert found is not None
    assert [(f.filename, f.url.startswith(HOSTED_URL)) for f in found.files] == [
        ("shared-1.0-py3-none-any.whl", False),
        ("shared-2.0-py3-none-any.whl", True),
        ("shared-2.0.tar.gz", True),
    ]


def test_uv_is_never_told_a_hosted_or_reserved_name() -> None:
    overlay = _overlay(reserve=(NamePattern("acme-*"),))
    uv = UvSettings(Path("uv"), "http://upstream/simple/", Path("cache"))
    wanted = [
        ("together", (Requirement("lib"), Requirement("shared"), Requirement("acme-x"))),
        ("acme-x", (Requirement("acme-x>1"),)),
    ]
    told, kept = _hidden_from_uv(uv, wanted, overlay)
    assert told is not None
    assert told.hidden == ("acme-x", "shared")
    assert kept == [("together", (Requirement("lib"),))]
    assert _hidden_from_uv(None, wanted, overlay) == (None, wanted)
    assert _hidden_from_uv(uv, wanted, None) == (uv, wanted)


def test_nginx_sends_the_upload_path_to_cellar_serve(tmp_path: Path) -> None:
    config = _parse(
        _config(tmp_path, 'uploaders = "u"\nmax-upload-size = "50M"\n')
        + '[serve]\nhost = "127.0.0.1"\nport = 8081\nurl = "https://pypi.example.org/"\n',
        tmp_path / "cellar.toml",
    )
    site = site_from_config(config, tls=False)
    text = render_nginx_config(site)
    assert '    location ~ "^/upload/?$" {' in text
    assert "        proxy_pass http://127.0.0.1:8081;" in text
    assert f"        client_max_body_size {(50 << 20) + (16 << 20)};" in text
    assert 'if ($cellar_request !~ "^(?:(?:GET|HEAD) |POST /upload/?$)") {' in text
    other = render_nginx_config(
        site_from_config(config, tls=False, upload_backend="http://[::1]:9")
    )
    assert "proxy_pass http://[::1]:9;" in other
    with pytest.raises(NginxConfigError):
        site_from_config(config, tls=False, upload_backend="http://x/;evil")
    without = _parse(_config(tmp_path, ""), tmp_path / "cellar.toml")
    plain = render_nginx_config(site_from_config(without))
    assert "proxy_pass" not in plain
    assert '$request_method !~ "^(?:GET|HEAD)$"' in plain
    assert dataclasses.replace(site, upload_path=None).upload_path is None
