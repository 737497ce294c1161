"""What pip will really use, worked out from its files and variables in pip's order (pure)."""

from __future__ import annotations

from cellar.clients.effective import pip_overrides, pip_settings

MIRROR = "https://pypi.example.org/simple/"
WRITTEN = "/venv/pip.conf"


def test_install_section_in_any_file_beats_global_in_every_file() -> None:
    files = [
        ("/etc/pip.conf", {"install": {"index-url": "http://old/simple/"}}),
        (WRITTEN, {"global": {"index-url": MIRROR}}),
    ]
    settings = pip_settings(files, {})
    assert settings["index-url"].value == "http://old/simple/"
    assert settings["index-url"].source == "/etc/pip.conf [install]"
    # Another command's section is not read for `pip install`.
    assert "index-url" not in pip_settings([("/f", {"download": {"index-url": "x"}})], {})


def test_later_files_win_and_variables_win_over_files() -> None:
    files = [
        ("/a", {"global": {"find-links": "/one"}}),
        ("/b", {"global": {"find-links": "/two /three"}}),
    ]
    assert pip_settings(files, {})["find-links"].value == "/two /three"  # replaced, not merged
    found = pip_settings(files, {"PIP_FIND_LINKS": "/env", "PIP_TIMEOUT": "5", "HOME": "/h"})
    assert found["find-links"].value == "/env"
    assert found["find-links"].source == "PIP_FIND_LINKS"
    assert set(found) == {"find-links"}


def test_overrides_name_what_defeats_the_mirror_and_where_it_comes_from() -> None:
    files = [
        ("/home/u/.config/pip/pip.conf", {"global": {"extra-index-url": "http://a/ http://b/"}}),
        (WRITTEN, {"global": {"index-url": MIRROR, "extra-index-url": "http://own/"}}),
    ]
    environ = {"PIP_NO_INDEX": "yes", "PIP_INDEX_URL": "https://u:secret@other/simple/"}
    warnings = pip_overrides(pip_settings(files, environ), MIRROR, written=WRITTEN)
    assert warnings == (
        "PIP_INDEX_URL sets index-url = https://u:***@other/simple, which wins over this file "
        "for `pip install`: pip will not use the mirror",
        "PIP_NO_INDEX sets no-index: pip uses no index at all",
    )
    # The written file's own extra-index-url is its merge's to report; the user file's is
    # replaced by it (a list option is never merged), so neither is named here.
    assert not any("http://a" in w or "http://own" in w for w in warnings)


def test_nothing_to_say_when_the_mirror_is_all_pip_uses() -> None:
    files = [(WRITTEN, {"global": {"index-url": MIRROR.rstrip("/")}})]
    assert pip_overrides(pip_settings(files, {"PIP_NO_INDEX": "0"}), MIRROR, written=WRITTEN) == ()


def test_no_index_url_anywhere_means_pypi() -> None:
    (warning,) = pip_overrides(pip_settings([], {}), MIRROR, written=WRITTEN)
    assert "it will use PyPI" in warning
