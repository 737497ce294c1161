"""A bundle's manifest: it reads back as written, its id is its bytes', and a hostile one is
refused whole with the entry named. Literal data, no I/O."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cellar.bundle.manifest import (
    BundleObject,
    Manifest,
    ManifestError,
    Volume,
    apply_order,
    bundle_id,
    is_tree_key,
    parse_manifest,
    plan_volumes,
    render_manifest,
    volume_names,
)

SHA = "ab" * 32
MANIFEST = Manifest(
    sequence=2,
    follows="cd" * 32,
    created="2026-12-07T05:00:00+00:00",
    objects=(
        BundleObject("packages/ab/cd/ef/alpha-1.0-py3-none-any.whl", 905, SHA, "volume-0001.tar"),
        BundleObject("simple/alpha/index.v1_json", 300, SHA, "volume-0001.tar"),
        BundleObject("simple/index.html", 90, SHA, "volume-0002.tar"),
    ),
    removed=("packages/00/11/22/old-0.1.tar.gz",),
    volumes=(Volume("volume-0001.tar", 4096, SHA), Volume("volume-0002.tar", 2048, SHA)),
)


def document(**changes: Any) -> bytes:
    data = json.loads(render_manifest(MANIFEST))
    data.update(changes)
    return json.dumps(data).encode()


def test_a_manifest_reads_back_as_written_and_its_id_is_its_bytes() -> None:
    data = render_manifest(MANIFEST)
    assert parse_manifest(data) == MANIFEST
    assert render_manifest(parse_manifest(data)) == data  # canonical
    assert bundle_id(data) == bundle_id(render_manifest(MANIFEST))
    assert bundle_id(data) != bundle_id(document(sequence=3))
    assert not MANIFEST.full
    assert parse_manifest(document(follows=None)).full


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"format": 2}, "format"),
        ({"sequence": 0}, "sequence"),
        ({"sequence": True}, "sequence"),
        ({"follows": "../x"}, "follows"),
        (
            {"objects": [["../../etc/passwd", 1, SHA, "volume-0001.tar"]]},
            "object '../../etc/passwd'",
        ),
        ({"objects": [["/etc/passwd", 1, SHA, "volume-0001.tar"]]}, "object '/etc/passwd'"),
        (
            {"objects": [["packages/.hidden", 1, SHA, "volume-0001.tar"]]},
            "object 'packages/.hidden'",
        ),
        ({"objects": [["elsewhere/x", 1, SHA, "volume-0001.tar"]]}, "object 'elsewhere/x'"),
        ({"objects": [["packages/a\\b", 1, SHA, "volume-0001.tar"]]}, "object 'packages/a\\\\b'"),
        ({"objects": [["packages/x", -1, SHA, "volume-0001.tar"]]}, "object 'packages/x'"),
        ({"objects": [["packages/x", 1, "AB" * 32, "volume-0001.tar"]]}, "object 'packages/x'"),
        ({"objects": [["packages/x", 1, SHA, "volume-0009.tar"]]}, "object 'packages/x'"),
        ({"objects": [["packages/x", 1, SHA, "volume-0001.tar"]] * 2}, "object 'packages/x'"),
        ({"objects": [["packages/x", 1, SHA]]}, "object 1"),
        ({"volumes": [["../volume-0001.tar", 1, SHA]]}, "volume 1"),
        ({"volumes": [["volume-0001.tar", 1, SHA]] * 2}, "volumes"),
        ({"removed": ["simple/../../x"]}, "removed 'simple/../../x'"),
        ({"removed": ["simple/index.html"]}, "removed 'simple/index.html'"),
        ({"objects": "all"}, "objects"),
    ],
)
def test_a_hostile_manifest_is_refused_naming_the_entry(
    changes: dict[str, Any], where: str
) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(document(**changes))
    assert caught.value.where == where
    assert str(caught.value).endswith("nothing was applied")


@pytest.mark.parametrize("data", [b"", b"[]", b"{", b"[" * 100_000, "é".encode("latin-1")])
def test_what_is_not_a_manifest_is_refused(data: bytes) -> None:
    with pytest.raises(ManifestError):
        parse_manifest(data)


@given(st.text(max_size=80))
def test_a_key_is_refused_or_stays_in_the_tree(key: str) -> None:
    if is_tree_key(key):
        parts = key.split("/")
        assert all(part and not part.startswith(".") for part in parts)  # "..", hidden
        assert not key.startswith("/") and "\\" not in key and "\x00" not in key
        assert parts[0] in {"packages", "simple", "json", "pypi"} or key in {
            "last-modified",
            "cellar-state.json",
        }


def test_objects_apply_files_first_then_pages_then_the_root_then_run_records() -> None:
    keys = [
        "last-modified",
        "simple/index.html",
        "simple/alpha/index.html",
        "pypi/alpha/json",
        "packages/aa/x.whl.metadata",
        "packages/aa/x.whl",
    ]
    assert apply_order(keys) == [
        "packages/aa/x.whl",
        "packages/aa/x.whl.metadata",
        "pypi/alpha/json",
        "simple/alpha/index.html",
        "simple/index.html",
        "last-modified",
    ]


def test_volumes_hold_at_most_their_size_and_keep_the_order() -> None:
    sizes = {f"packages/{i:02d}.whl": 3000 for i in range(10)} | {"simple/index.html": 100}
    volumes = plan_volumes(sizes, 10_240)
    assert [key for volume in volumes for key in volume] == apply_order(sizes)
    for volume in volumes:
        used = 1024 + sum(512 + -(-sizes[key] // 512) * 512 for key in volume)
        assert used <= 10_240 or len(volume) == 1
    assert plan_volumes({"packages/big": 50_000}, 10_240) == [["packages/big"]]
    assert plan_volumes({}, 10_240) == []
    assert volume_names(2) == ["volume-0001.tar", "volume-0002.tar"]
