"""Bundles across an air gap: an outer mirror from the local upstream, three rounds of changes
exported and imported into an inner mirror that has no upstream at all; the inner tree equals the
outer byte for byte after each, and pip installs from it. Every refusal leaves the inner mirror
as it was."""

from __future__ import annotations

import base64
import io
import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cellar.bundle.keys import read_private
from cellar.bundle.manifest import bundle_id, parse_manifest, render_manifest
from cellar.cli import main
from cellar.config.load import load_config
from cellar.state.summary import read_summary
from cellar.sync.engine import run_mirror
from tests.support.installers import imported_version, make_venv, pip_install, uv_install, uv_venv
from tests.support.mirror import (
    EVERY_VERSION,
    assert_consistent,
    cellar_serve,
    listed_files,
    run_cli,
    write_config,
)
from tests.support.packages import build_wheel
from tests.support.s3 import S3Server, copy_bucket, storage_table
from tests.support.upstream import LocalIndex

pytestmark = pytest.mark.slow

#: What the inner side's configuration names as its upstream: nothing listens there.
NO_UPSTREAM = "http://127.0.0.1:9/simple/"


@dataclass(frozen=True)
class Sides:
    root: Path
    outer: Path
    inner: Path
    index: LocalIndex

    @property
    def outer_web(self) -> Path:
        return self.outer.parent / "mirror" / "web"

    @property
    def inner_web(self) -> Path:
        return self.inner.parent / "mirror" / "web"

    def export(self, name: str, *extra: str) -> Path:
        bundle = self.root / "bundles" / name
        result = run_cli("export", "-c", str(self.outer), "--output", str(bundle), *extra)
        assert result.returncode == 0, result.stdout + result.stderr
        return bundle

    def import_(self, bundle: Path, config: Path | None = None) -> tuple[int, str]:
        result = run_cli("import", "-c", str(config or self.inner), str(bundle))
        return result.returncode, result.stdout + result.stderr


def tree(web: Path) -> dict[str, bytes]:
    return {
        path.relative_to(web).as_posix(): path.read_bytes()
        for path in sorted(web.rglob("*"))
        if path.is_file()
    }


def inner_config(directory: Path, keys: Path, trusted: str = "outer.pub") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    config = write_config(directory, NO_UPSTREAM, ["alpha"], extra_packages=EVERY_VERSION)
    with config.open("a", encoding="utf-8") as stream:
        stream.write(f'[bundle]\ntrusted-keys = ["{keys / trusted}"]\n')
    return config


@pytest.fixture
def sides(tmp_path: Path) -> Iterator[Sides]:
    keys = tmp_path / "keys"
    assert main(["keygen", "-o", str(keys), "--name", "outer"]) == 0
    assert main(["keygen", "-o", str(keys), "--name", "stranger"]) == 0
    with LocalIndex() as index:
        index.add(build_wheel("alpha", "1.0"))
        index.add(build_wheel("beta", "1.0", requires_dist=["alpha"]))
        (tmp_path / "outer").mkdir()
        outer = write_config(
            tmp_path / "outer",
            index.url,
            ["alpha", "beta"],
            extra_mirror="prune = true",
            extra_packages=EVERY_VERSION,
        )
        with outer.open("a", encoding="utf-8") as stream:
            stream.write(f'[bundle]\nsigning-key = "{keys / "outer.key"}"\n')
        yield Sides(tmp_path, outer, inner_config(tmp_path / "inner", keys), index)


def test_three_rounds_keep_the_inner_tree_equal_to_the_outer(
    sides: Sides, tmp_path: Path, installer_env: dict[str, str]
) -> None:
    assert main(["mirror", "-c", str(sides.outer)]) == 0
    first = sides.export("b1")
    assert sides.import_(first)[0] == 0
    assert tree(sides.inner_web) == tree(sides.outer_web)
    # Round two: a new release, a yank, and a project no longer selected (pruned outside).
    sides.index.add(build_wheel("alpha", "2.0"))
    sides.index.set_yanked("alpha", "alpha-1.0-py3-none-any.whl", "broken build")
    text = sides.outer.read_text(encoding="utf-8")
    sides.outer.write_text(text.replace('"alpha", "beta"', '"alpha"'), encoding="utf-8")
    assert main(["mirror", "-c", str(sides.outer)]) == 0
    second = sides.export("b2")
    manifest = parse_manifest((second / "manifest.json").read_bytes())
    assert manifest.follows is not None and not manifest.full
    assert any(key.endswith("beta-1.0-py3-none-any.whl") for key in manifest.removed)
    assert not any("alpha-1.0" in o.key for o in manifest.objects)  # unchanged: not carried
    assert "simple/alpha/index.v1_json" in {o.key for o in manifest.objects}  # the yank
    code, said = sides.import_(second)
    assert code == 0, said
    assert tree(sides.inner_web) == tree(sides.outer_web)
    assert b"broken build" in (sides.inner_web / "simple" / "alpha" / "index.v1_json").read_bytes()
    # Round three: a new project with a dependency.
    sides.index.add(build_wheel("gamma", "1.0", requires_dist=["alpha>=2"]))
    sides.outer.write_text(
        sides.outer.read_text(encoding="utf-8").replace('["alpha"]', '["alpha", "gamma"]'),
        encoding="utf-8",
    )
    assert main(["mirror", "-c", str(sides.outer)]) == 0
    third = sides.export("b3")
    assert sides.import_(third)[0] == 0
    assert tree(sides.inner_web) == tree(sides.outer_web)
    # The inner mirror is an ordinary one.
    assert run_cli("status", "-c", str(sides.inner)).returncode == 0
    verified = run_cli("verify", "-c", str(sides.inner))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    with cellar_serve(sides.inner) as base:
        with urllib.request.urlopen(base, timeout=10) as answer:  # noqa: S310 - loopback
            home = answer.read().decode()
        assert "<span>last bundle, number 3</span>" in home
        assert "fed by bundles carried across an air gap" in home
        python = make_venv(tmp_path / "venv", sys.executable)
        result = pip_install(python, f"{base}simple/", "gamma", env=installer_env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert imported_version(python, "alpha") == "2.0"
        uv_python = uv_venv(tmp_path / "uv", sys.executable, env=installer_env)
        result = uv_install(uv_python, f"{base}simple/", "gamma", env=installer_env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert imported_version(uv_python, "gamma") == "1.0"
    # Imported again: nothing changes, and it says so.
    before = tree(sides.inner_web)
    code, said = sides.import_(third)
    assert (code, tree(sides.inner_web)) == (0, before)
    assert "applied before: nothing changed" in said
    # A new inner mirror is rebuilt from the chain, and refuses a bundle out of sequence.
    rebuilt = inner_config(tmp_path / "rebuilt", tmp_path / "keys")
    assert sides.import_(first, rebuilt)[0] == 0
    code, said = sides.import_(third, rebuilt)
    assert code == 1
    assert "import the bundles in between first" in said
    assert sides.import_(second, rebuilt)[0] == 0
    assert sides.import_(third, rebuilt)[0] == 0
    assert tree(rebuilt.parent / "mirror" / "web") == tree(sides.outer_web)
    # An inner mirror left at the first bundle catches up with one bundle --since it.
    behind = inner_config(tmp_path / "behind", tmp_path / "keys")
    assert sides.import_(first, behind)[0] == 0
    catch_up = sides.export("since-b1", "--since", str(first))
    follows = parse_manifest((catch_up / "manifest.json").read_bytes()).follows
    assert follows == bundle_id((first / "manifest.json").read_bytes())
    assert sides.import_(catch_up, behind)[0] == 0
    assert tree(behind.parent / "mirror" / "web") == tree(sides.outer_web)


def test_a_dry_run_says_what_would_go_and_writes_nothing(sides: Sides) -> None:
    assert main(["mirror", "-c", str(sides.outer)]) == 0
    result = run_cli("export", "-c", str(sides.outer), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "bundle 1 (full) would carry" in result.stdout
    assert not (sides.root / "bundles").exists()


def sign_again(bundle: Path, key_file: Path, change: dict[str, object]) -> None:
    """Rewrite the bundle's manifest with ``change`` and sign it with ``key_file``."""
    document = json.loads((bundle / "manifest.json").read_bytes())
    document.update(change)
    data = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    key = read_private(key_file)
    signature = {"key": key.public().key_id, "name": key.name}
    signature["signature"] = base64.b64encode(key.sign(data)).decode()
    (bundle / "manifest.json").write_bytes(data)
    (bundle / "manifest.sig").write_text(json.dumps(signature), encoding="utf-8")


REFUSALS = {
    "a flipped byte": "is not what was signed",
    "a truncated volume": "cut short or altered",
    "a missing volume": "is missing",
    "no signature": "the bundle is not signed",
    "an untrusted key": "by none of the trusted keys",
    "a path outside the tree": "not a key of a mirror's tree",
    "an altered manifest": "by none of the trusted keys",
}


@pytest.mark.parametrize("damage", sorted(REFUSALS))
def test_a_damaged_bundle_is_refused_whole(sides: Sides, damage: str) -> None:
    assert main(["mirror", "-c", str(sides.outer)]) == 0
    bundle = sides.export("b1")
    volume = bundle / "volume-0001.tar"
    keys = sides.root / "keys"
    if damage == "a flipped byte":
        data = bytearray(volume.read_bytes())
        data[700] ^= 1
        volume.write_bytes(bytes(data))
    elif damage == "a truncated volume":
        volume.write_bytes(volume.read_bytes()[:-1000])
    elif damage == "a missing volume":
        volume.unlink()
    elif damage == "no signature":
        (bundle / "manifest.sig").unlink()
    elif damage == "an untrusted key":
        sign_again(bundle, keys / "stranger.key", {})
    elif damage == "a path outside the tree":
        manifest = json.loads((bundle / "manifest.json").read_bytes())
        manifest["objects"][0][0] = "../../outside.txt"
        sign_again(bundle, keys / "outer.key", {"objects": manifest["objects"]})
    else:
        manifest = (bundle / "manifest.json").read_bytes()
        (bundle / "manifest.json").write_bytes(manifest.replace(b'"sequence":1', b'"sequence":2'))
    code, said = sides.import_(bundle)
    assert code == 1, said
    assert REFUSALS[damage] in said
    assert "nothing was applied" in said or "trusted" in said or "signed" in said
    assert not sides.inner_web.exists() or not any(sides.inner_web.rglob("*.whl"))
    assert not (sides.root / "outside.txt").exists()


def test_a_manifest_reads_back_through_the_real_export(sides: Sides) -> None:
    assert main(["mirror", "-c", str(sides.outer)]) == 0
    bundle = sides.export("b1", "--volume-size", "4K")
    data = (bundle / "manifest.json").read_bytes()
    manifest = parse_manifest(data)
    assert render_manifest(manifest) == data
    assert len(manifest.volumes) > 1  # 4 KiB volumes: the objects spread over several
    assert sides.import_(bundle)[0] == 0
    assert tree(sides.inner_web) == tree(sides.outer_web)
    shutil.rmtree(bundle)


def test_killed_during_an_import_the_mirror_stays_servable_and_the_next_import_finishes(
    sides: Sides,
) -> None:
    for number in range(40):
        sides.index.add(build_wheel(f"many{number}", "1.0", extra_files={"d.bin": bytes(30_000)}))
    names = ", ".join(f'"many{number}"' for number in range(40))
    sides.outer.write_text(
        sides.outer.read_text(encoding="utf-8").replace('"alpha", "beta"', f'"alpha", {names}'),
        encoding="utf-8",
    )
    assert main(["mirror", "-c", str(sides.outer)]) == 0
    bundle = sides.export("b1")
    for delay in (0.4, 0.7, 1.0, 1.3):
        process = subprocess.Popen(
            [sys.executable, "-m", "cellar", "import", "-c", str(sides.inner), str(bundle)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        if (sides.inner_web / "simple").exists():
            assert_consistent(sides.inner_web, root_complete=False)  # nothing listed is missing
    code, said = sides.import_(bundle)
    assert code == 0, said
    assert tree(sides.inner_web) == tree(sides.outer_web)
    assert_consistent(sides.inner_web)


def test_an_inner_mirror_in_s3(sides: Sides, s3: S3Server, tmp_path: Path) -> None:
    assert main(["mirror", "-c", str(sides.outer)]) == 0
    bucket = s3.new_bucket()
    inner = inner_config(tmp_path / "inner-s3", tmp_path / "keys")
    inner.write_text(
        inner.read_text(encoding="utf-8") + storage_table(s3, bucket, prefix="inner"), "utf-8"
    )
    assert sides.import_(sides.export("b1"), inner)[0] == 0
    copied = copy_bucket(s3, bucket, "inner/", tmp_path / "copy")
    carried = tree(copied)
    # The summary for servers of the bucket elsewhere, with the last bundle applied.
    summary = read_summary(carried.pop("cellar-state.json"))
    assert summary is not None and summary.bundle is not None
    assert summary.bundle.sequence == 1
    assert carried == tree(sides.outer_web)


def test_an_outer_mirror_in_s3_exports_and_the_inner_tree_equals_its_bucket(
    sides: Sides, s3: S3Server, tmp_path: Path
) -> None:
    """Export reads the outer tree through the same ``Storage`` calls from a bucket: two
    rounds (a full bundle, then a change and a removal), each applied to a local inner
    mirror that ends equal to the bucket's tree."""
    bucket = s3.new_bucket()
    sides.outer.write_text(
        sides.outer.read_text(encoding="utf-8") + storage_table(s3, bucket, prefix="outer"),
        "utf-8",
    )
    assert main(["mirror", "-c", str(sides.outer)]) == 0

    def outer_tree(name: str) -> dict[str, bytes]:
        found = tree(copy_bucket(s3, bucket, "outer/", tmp_path / name))
        found.pop("cellar-state.json")  # the bucket's summary for its servers: never carried
        return found

    assert sides.import_(sides.export("b1"))[0] == 0
    assert tree(sides.inner_web) == outer_tree("copy1")
    sides.index.add(build_wheel("alpha", "2.0"))
    sides.index.add(build_wheel("beta", "2.0", requires_dist=["alpha"]))
    sides.index.remove("beta", "beta-1.0-py3-none-any.whl")
    assert main(["mirror", "-c", str(sides.outer)]) == 0
    assert sides.import_(sides.export("b2"))[0] == 0
    inner = tree(sides.inner_web)
    assert inner == outer_tree("copy2")
    assert any(key.endswith("alpha-2.0-py3-none-any.whl") for key in inner)
    assert not any("beta-1.0" in key for key in inner)


@dataclass
class Recorder:
    """A ``BundleProgress`` that keeps what it was told."""

    stages: list[tuple[str, int]] = field(default_factory=list)
    done: list[int] = field(default_factory=list)

    def stage(self, text: str, items: int) -> None:
        self.stages.append((text, items))

    def advance(self, size: int) -> None:
        self.done.append(size)


def test_export_and_import_tell_their_progress_and_a_terminal_shows_a_bar(sides: Sides) -> None:
    from rich.console import Console  # noqa: PLC0415

    from cellar.bundle.run import export_bundle, import_bundle  # noqa: PLC0415
    from cellar.cli.progress import BundleBar  # noqa: PLC0415
    from cellar.config.load import load_config  # noqa: PLC0415

    assert main(["mirror", "-c", str(sides.outer)]) == 0
    bundle = sides.root / "bundles" / "b1"
    told = Recorder()
    export_bundle(load_config(sides.outer), bundle, progress=told)
    objects = parse_manifest((bundle / "manifest.json").read_bytes()).objects
    total = sum(o.size for o in objects)
    assert [text for text, _ in told.stages] == [
        "comparing the tree with the last bundle",
        "writing volumes",
    ]
    assert told.stages[1][1] == len(objects)
    assert sum(told.done) == 2 * total  # every object compared (hashed), then written
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    with BundleBar(console) as bar:
        imported = import_bundle(load_config(sides.inner), bundle, bar)
    assert imported.written == len(objects)
    # The bar ends at every volume checked and every object applied.
    assert f"{1 + len(objects)}/{1 + len(objects)}" in screen.getvalue()


def test_the_policy_is_applied_on_the_outer_side_at_its_time_and_carried_in(sides: Sides) -> None:
    """A release held for its age on the outer side is not in the bundle; the inner side,
    whose own clock and configuration have no say, gets it in the bundle after the one that
    admits it. A release withdrawn outside is removed inside."""
    # Mirrored before the policy: alpha 1.0 and beta, with no upload time, count as seen
    # when they were placed. The runs below happen ten days later (time injected).
    assert main(["mirror", "-c", str(sides.outer)]) == 0
    now = datetime.now(UTC) + timedelta(days=10)
    sides.index.add(build_wheel("alpha", "2.0"), upload_time=now - timedelta(days=1))
    osv = sides.root / "osv"
    osv.mkdir()
    with sides.outer.open("a", encoding="utf-8") as stream:
        stream.write(f'[policy]\nmin-release-age = "3d"\nosv = "{osv}"\n')

    def mirror(at: datetime) -> None:
        assert run_mirror(load_config(sides.outer), now=at.timestamp()).ok

    def inner_alpha() -> set[str]:
        return set(listed_files(sides.inner_web, "alpha"))

    mirror(now)
    assert sides.import_(sides.export("b1"))[0] == 0
    assert inner_alpha() == {"alpha-1.0-py3-none-any.whl"}
    mirror(now + timedelta(days=2, hours=1))
    assert sides.import_(sides.export("b2"))[0] == 0
    assert inner_alpha() == {"alpha-1.0-py3-none-any.whl", "alpha-2.0-py3-none-any.whl"}
    (osv / "MAL-2026-8.json").write_text(
        json.dumps(
            {
                "id": "MAL-2026-8",
                "affected": [
                    {"package": {"ecosystem": "PyPI", "name": "alpha"}, "versions": ["2.0"]}
                ],
            }
        ),
        encoding="utf-8",
    )
    mirror(now + timedelta(days=3))
    assert sides.import_(sides.export("b3"))[0] == 0
    assert inner_alpha() == {"alpha-1.0-py3-none-any.whl"}
    assert not list(sides.inner_web.rglob("alpha-2.0*"))  # removed inside, not kept aside
    assert tree(sides.inner_web) == {
        key: body for key, body in tree(sides.outer_web).items() if not key.startswith("withdrawn/")
    }
