"""The functions that turn outside text into names and paths, for any string (hypothesis).

For every input the answer is either a refusal or a path inside the web root: property tests
over arbitrary text (including the characters attackers use: separators, dots, NUL, controls,
non-ASCII look-alikes), and literal cases for what each rule is about.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cellar.model import DistFile, frozen_mapping
from cellar.printable import printable
from cellar.sync.compat import json_api_paths, project_directory
from cellar.sync.errors import UnsafePathError
from cellar.sync.pages import page_folder, published_listing
from cellar.sync.paths import mirror_path
from cellar.tree.local import LocalStorage
from cellar.tree.paths import (
    OutsideTreeError,
    UnsafeNameError,
    is_project_name,
    project_key,
    read_within,
    resolves_within,
    within,
)
from cellar.upstream.hosts import HostPolicy

#: Text biased toward what escapes trees: separators, dots, NUL and controls, look-alikes.
HOSTILE = st.text(
    alphabet=st.sampled_from(list("/\\.-_ aZ09\x00\n\r\x1b\u212a\u2024\uff0e~%:"))
    | st.characters(),
    max_size=40,
)
SEGMENTS = st.lists(HOSTILE, min_size=1, max_size=6).map("/".join)
QUICK = settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])


def inside(root: Path, path: Path) -> bool:
    real_root = os.path.realpath(root)
    return os.path.realpath(path).startswith(real_root + os.sep)


@QUICK
@given(name=HOSTILE)
@example("/an/absolute/dir")
@example("../../x")
@example("")
@example("a\x00b")
@example("\u212ait")  # the Kelvin sign, which re.IGNORECASE alone takes for a k
def test_a_name_is_refused_or_a_directory_inside_the_web_root(tmp_path: Path, name: str) -> None:
    web_root = tmp_path / "web"
    try:
        key = project_key(name)
    except UnsafeNameError:
        assert not is_project_name(name)
        with pytest.raises(UnsafeNameError):
            page_folder(name)
        return
    assert is_project_name(name)
    for hash_index in (False, True):
        directory = LocalStorage(web_root).path(page_folder(name, hash_index=hash_index))
        assert inside(web_root / "simple", directory)
        assert directory.name == key
    for relative in json_api_paths(name):
        assert inside(web_root, within(web_root, relative))


@QUICK
@given(relative=SEGMENTS)
@example("../outside")
@example("/etc/passwd")
@example("simple/../../x")
@example("simple//x")
@example("packages\\..\\x")
def test_a_mirror_path_is_refused_or_inside(tmp_path: Path, relative: str) -> None:
    root = tmp_path / "web"
    try:
        path = within(root, relative)
    except OutsideTreeError:
        return
    assert inside(root, path)
    assert path.relative_to(root).as_posix() == relative


@QUICK
@given(filename=HOSTILE, url_path=SEGMENTS)
def test_a_file_from_any_page_lands_in_packages_or_is_refused(
    tmp_path: Path,
    filename: str,
    url_path: str,
) -> None:
    root = tmp_path / "web"
    file = DistFile(
        filename=filename,
        url=f"https://files.example/{url_path}",
        hashes=frozen_mapping({"sha256": "ab" * 32}),
    )
    try:
        relative = mirror_path("p", file, file.sha256)
    except UnsafePathError:
        return
    assert relative is not None
    path = within(root, relative)
    assert inside(root / "packages", path)
    assert path.name == filename


@QUICK
@given(text=st.text())
def test_printable_text_has_no_control_characters_and_keeps_the_rest(text: str) -> None:
    shown = printable(text)
    assert not [
        c for c in shown if unicodedata.category(c) in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
    ]
    assert "\n" not in shown and "\x1b" not in shown
    if text.isprintable():
        assert shown == text


def test_a_symlink_out_of_the_tree_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "web"
    (root / "simple").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "index.html").write_text("secret")
    (root / "simple" / "evil").symlink_to(outside, target_is_directory=True)
    (root / "simple" / "good").mkdir()
    (root / "simple" / "good" / "index.html").symlink_to(outside / "index.html")
    with pytest.raises(OutsideTreeError, match="symlink"):
        within(root, "simple/evil/index.html")
    storage = LocalStorage(root)
    with pytest.raises(OutsideTreeError):
        storage.read(f"{page_folder('evil')}/index.v1_json")
    # A reader looks in both layouts and reads neither through the link that leads out.
    (outside / "index.v1_json").write_text('{"name": "evil", "files": []}')
    assert published_listing(storage, "evil") is None
    assert not resolves_within(root, root / "simple" / "evil")
    assert read_within(root, "simple/good/index.html") is None
    assert read_within(root, PurePosixPath("simple/evil/index.html")) is None


@pytest.mark.parametrize(
    ("name", "key"),
    [("Foo_Bar.baz", "foo-bar-baz"), ("A", "a"), ("x" * 200, "x" * 200), ("numpy", "numpy")],
)
def test_valid_names_normalise(name: str, key: str) -> None:
    assert project_key(name) == key
    assert project_directory(name, hash_index=True) == PurePosixPath("simple", key[0], key)


@pytest.mark.parametrize(
    "name", ["", "-a", "a-", "a b", "a/b", "..", ".", "x" * 201, "\u212ait", "é", 42, None]
)
def test_invalid_names_are_refused(name: object) -> None:
    assert not is_project_name(name)
    with pytest.raises(UnsafeNameError):
        project_key(name)


HOSTS = HostPolicy("https://index.example/simple/", frozenset({"files.example"}))
ANY_HOST = HostPolicy("https://index.example/simple/")


@pytest.mark.parametrize(
    ("policy", "url", "came_from", "refused"),
    [
        (ANY_HOST, "https://anywhere.example/f.whl", None, False),
        (ANY_HOST, "http://anywhere.example/f.whl", None, False),
        (ANY_HOST, "http://anywhere.example/f.whl", "https://index.example/x", True),
        (ANY_HOST, "file:///etc/passwd", None, True),
        (ANY_HOST, "ftp://files.example/f", None, True),
        (HOSTS, "https://files.example/f.whl", None, False),
        (HOSTS, "https://FILES.example/f.whl", None, False),
        (HOSTS, "https://index.example/f.whl", None, False),
        (HOSTS, "https://evil.example/f.whl", None, True),
        (HOSTS, "https://files.example.evil/f.whl", None, True),
        (HOSTS, "https://files.example@evil.example/f.whl", None, True),
    ],
)
def test_the_host_policy(
    policy: HostPolicy,
    url: str,
    came_from: str | None,
    refused: bool,
) -> None:
    assert (policy.refusal(url, came_from=came_from) is not None) == refused
