"""`cellar mirror -c bandersnatch.conf` against a real local upstream: each filter plugin's effect
on what is mirrored, the dependency closure switched on, and the tree consistent throughout."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from textwrap import indent

import pytest

from cellar.cli import main
from tests.support.mirror import assert_consistent, listed_files
from tests.support.packages import build_sdist, build_wheel
from tests.support.upstream import LocalIndex

DATA = Path(__file__).parent / "data" / "bandersnatch"


def write_conf(
    tmp_path: Path, index: LocalIndex, plugins: str, sections: str = "", options: str = ""
) -> Path:
    """Write a bandersnatch.conf mirroring ``index`` and enabling ``plugins`` (one a line)."""
    conf = tmp_path / "bandersnatch.conf"
    conf.write_text(
        f"[mirror]\ndirectory = mirror\nmaster = {index.base}\nallow-non-https = true\n{options}\n"
        f"[plugins]\nenabled =\n{indent(plugins.strip(), '    ')}\n{sections}",
        encoding="utf-8",
    )
    return conf


def mirror(
    tmp_path: Path, index: LocalIndex, plugins: str, sections: str = "", options: str = ""
) -> tuple[int, Path]:
    """Run `cellar mirror` on a bandersnatch.conf (see ``write_conf``)."""
    conf = write_conf(tmp_path, index, plugins, sections, options)
    return main(["mirror", "-c", str(conf)]), tmp_path / "mirror" / "web"


def files(web: Path, project: str) -> list[str]:
    return sorted(listed_files(web, project))


def projects(web: Path) -> list[str]:
    simple = web / "simple"
    return sorted(p.name for p in simple.iterdir() if p.is_dir()) if simple.exists() else []


def populate(index: LocalIndex) -> None:
    """alpha has binaries for every platform, a pre-release and a yanked release."""
    index.add(build_wheel("alpha", "1.0"))
    index.add(build_sdist("alpha", "1.0"))
    index.add(build_wheel("alpha", "2.0", tag="cp312-cp312-win_amd64"))
    index.add(build_wheel("alpha", "2.0", tag="cp312-cp312-macosx_11_0_arm64"))
    index.add(build_wheel("alpha", "2.0", tag="cp312-cp312-manylinux_2_17_x86_64"))
    index.add(build_wheel("alpha", "2.0", tag="cp27-cp27mu-manylinux1_x86_64"))
    index.add(build_sdist("alpha", "2.0"))
    index.add(build_wheel("alpha", "2.1rc1"))
    index.add(build_wheel("alpha", "0.9"), yanked="broken")
    for version in ("0.1", "0.2", "1.0", "1.1"):
        index.add(build_wheel("beta", version))
    index.add(build_wheel("evil-thing", "1.0"))


ALPHA_ALL = [
    "alpha-0.9-py3-none-any.whl",
    "alpha-1.0-py3-none-any.whl",
    "alpha-1.0.tar.gz",
    "alpha-2.0-cp27-cp27mu-manylinux1_x86_64.whl",
    "alpha-2.0-cp312-cp312-macosx_11_0_arm64.whl",
    "alpha-2.0-cp312-cp312-manylinux_2_17_x86_64.whl",
    "alpha-2.0-cp312-cp312-win_amd64.whl",
    "alpha-2.0.tar.gz",
    "alpha-2.1rc1-py3-none-any.whl",
]


def test_allowlist_mirrors_every_file_of_named_projects_only(
    tmp_path: Path,
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    populate(local_index)
    code, web = mirror(
        tmp_path,
        local_index,
        "allowlist_project\nallowlist_release",
        "[allowlist]\npackages =\n    alpha\n    beta==0.2  # pinned\n",
    )
    assert code == 0, capsys.readouterr()
    assert projects(web) == ["alpha", "beta"]
    # No target filtering: every platform, the pre-release, the yanked release.
    assert files(web, "alpha") == ALPHA_ALL
    assert listed_files(web, "alpha")["alpha-0.9-py3-none-any.whl"]["yanked"] == "broken"
    assert files(web, "beta") == ["beta-0.2-py3-none-any.whl"]
    assert assert_consistent(web) == 10


def test_blocklists(tmp_path: Path, local_index: LocalIndex) -> None:
    populate(local_index)
    code, web = mirror(
        tmp_path,
        local_index,
        "allowlist_project\nblocklist_project\nblocklist_release",
        "[allowlist]\npackages =\n    alpha\n    beta\n    evil-thing\n"
        "[blocklist]\npackages =\n    Evil_Thing\n    beta>=1.0\n    alpha<2,!=1.0\n",
    )
    assert code == 0
    assert projects(web) == ["alpha", "beta"]
    assert files(web, "beta") == ["beta-0.1-py3-none-any.whl", "beta-0.2-py3-none-any.whl"]
    assert "alpha-0.9-py3-none-any.whl" not in files(web, "alpha")
    assert "alpha-1.0.tar.gz" in files(web, "alpha")
    assert_consistent(web)


def test_exclude_platform(tmp_path: Path, local_index: LocalIndex) -> None:
    populate(local_index)
    code, web = mirror(
        tmp_path,
        local_index,
        "allowlist_project\nexclude_platform",
        "[allowlist]\npackages = alpha\n[blocklist]\nplatforms =\n    windows\n    macos\n    py2.7\n",
    )
    assert code == 0
    assert files(web, "alpha") == [
        "alpha-0.9-py3-none-any.whl",
        "alpha-1.0-py3-none-any.whl",
        "alpha-1.0.tar.gz",
        "alpha-2.0-cp312-cp312-manylinux_2_17_x86_64.whl",
        "alpha-2.0.tar.gz",
        "alpha-2.1rc1-py3-none-any.whl",
    ]


def test_prereleases_regex_and_latest(tmp_path: Path, local_index: LocalIndex) -> None:
    populate(local_index)
    local_index.add(build_wheel("beta", "2.0.dev1"))
    code, web = mirror(
        tmp_path,
        local_index,
        "allowlist_project\nprerelease_release\nregex_release\nlatest_release",
        "[allowlist]\npackages =\n    alpha\n    beta\n"
        "[filter_prerelease]\npackages = alpha\n"
        "[filter_regex]\nreleases = ^1\\.1$\n"
        "[latest_release]\nkeep = 2\n",
    )
    assert code == 0
    # alpha: 2.1rc1 dropped as a pre-release, then the newest two of 0.9, 1.0, 2.0.
    assert not any(name.startswith(("alpha-0.9", "alpha-2.1")) for name in files(web, "alpha"))
    assert len(files(web, "alpha")) == 7
    # beta: pre-releases kept (only alpha's are filtered), 1.1 matches the regex.
    assert files(web, "beta") == ["beta-1.0-py3-none-any.whl", "beta-2.0.dev1-py3-none-any.whl"]
    assert_consistent(web)


def test_regex_project_and_warnings_on_stderr(
    tmp_path: Path,
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    populate(local_index)
    code, web = mirror(
        tmp_path,
        local_index,
        "allowlist_project\nregex_project",
        "[allowlist]\npackages =\n    beta\n    evil-thing\n[filter_regex]\npackages = .+-thing$\n",
        options="root_uri = https://127.0.0.1:8443/\nverifiers = 3\n",
    )
    assert code == 0
    assert projects(web) == ["beta"]
    err = capsys.readouterr().err
    assert (
        "[allowlist] packages: 'evil-thing' is not mirrored: its name matches the project pattern"
        in err
    )
    assert "[mirror] root_uri: 'https://127.0.0.1:8443/': ignored" in err
    assert "verifiers" not in err  # bandersnatch's default asks for nothing


def test_size_limit_leaves_large_projects_out_except_the_allowlisted(
    tmp_path: Path,
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    populate(local_index)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("alpha\nbeta\n", encoding="utf-8")
    code, web = mirror(
        tmp_path,
        local_index,
        "project_requirements\nsize_project_metadata",
        "[allowlist]\nrequirements_path = .\nrequirements = requirements.txt\npackages = beta\n"
        "[size_project_metadata]\nmax_package_size = 2K\n",
    )
    out = capsys.readouterr().out
    # alpha's files total more than 2 KiB: left out, which is not a failure.
    assert code == 0, out
    assert projects(web) == ["beta"]
    assert "no failures" in out


def test_requirements_files_with_pins_and_latest(tmp_path: Path, local_index: LocalIndex) -> None:
    populate(local_index)
    local_index.add(build_wheel("gamma", "0.5"))
    local_index.add(build_wheel("gamma", "1.0"))
    local_index.add(build_wheel("gamma", "1.5"))
    local_index.add(build_wheel("delta", "3.0"))
    local_index.add(build_wheel("delta", "4.0"))
    shutil.copytree(DATA, tmp_path / "data")
    conf = tmp_path / "data" / "requirements.conf"
    text = re.sub(r"(?m)^master = .*$", f"master = {local_index.base}", conf.read_text())
    conf.write_text(text, encoding="utf-8")
    assert main(["mirror", "-c", str(conf)]) == 0
    web = tmp_path / "data" / "mirror" / "web"
    # alpha==1.0 and gamma>=1.0 are pinned: latest_release does not apply to them.
    assert files(web, "alpha") == ["alpha-1.0-py3-none-any.whl", "alpha-1.0.tar.gz"]
    assert files(web, "gamma") == ["gamma-1.0-py3-none-any.whl", "gamma-1.5-py3-none-any.whl"]
    assert files(web, "beta") == ["beta-1.1-py3-none-any.whl"]
    assert files(web, "delta") == ["delta-4.0-py3-none-any.whl"]
    assert_consistent(web)


def test_the_closure_switched_on_for_a_bandersnatch_config(
    tmp_path: Path,
    local_index: LocalIndex,
) -> None:
    local_index.add(build_wheel("app", "1.0", requires_dist=["lib>=2"]))
    local_index.add(build_wheel("lib", "1.0"))
    local_index.add(build_wheel("lib", "2.0"))
    local_index.add(build_wheel("lib", "2.0", tag="cp312-cp312-win_amd64"))
    sections = "[allowlist]\npackages = app\n"
    code, web = mirror(tmp_path, local_index, "allowlist_project", sections)
    assert code == 0
    assert projects(web) == ["app"]  # bandersnatch mirrors what you name, no more

    code, web = mirror(
        tmp_path,
        local_index,
        "allowlist_project",
        sections
        + "[cellar]\ndependencies = true\npython = 3.12\nplatforms = manylinux_2_28_x86_64\n",
    )
    assert code == 0
    assert projects(web) == ["app", "lib"]
    assert files(web, "lib") == ["lib-2.0-py3-none-any.whl"]
    assert_consistent(web)


def test_plan_and_why_without_targets(
    tmp_path: Path,
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    populate(local_index)
    conf = write_conf(tmp_path, local_index, "allowlist_project", "[allowlist]\npackages = beta\n")
    assert main(["plan", "-c", str(conf)]) == 0
    assert "every target: 1 project, 4 files" in capsys.readouterr().out
    assert main(["why", "-c", str(conf), "beta"]) == 0
    assert capsys.readouterr().out == "every target:\n  beta\n"
    assert main(["why", "-c", str(conf), "alpha"]) == 1
