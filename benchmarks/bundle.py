"""Benchmark: ``cellar export --full`` and ``cellar import`` against ``tar`` plus ``sha256sum`` of
the same files, in the same run.

Builds a mirror of PROJECTS projects (two 200 kB wheels each) from the local test index, then
times:

- ``cellar export --full`` (lists and hashes every object, writes tar volumes, signs) against
  ``sha256sum`` of every file of the tree followed by ``tar cf`` of it (what an operator does by
  hand: a checksum list and an archive);
- ``cellar import`` into an empty inner mirror (checks the signature, every volume's sha256 and
  every member, then writes every object and records the pages) against ``tar xf`` followed by
  ``sha256sum -c`` of the list.

Run: ``python benchmarks/bundle.py [--projects 100]``. No network beyond 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.mirror import EVERY_VERSION, run_cli, write_config
from tests.support.packages import build_wheel
from tests.support.upstream import LocalIndex


def timed(command: list[str], cwd: Path | None = None) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{command[0]} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=100)
    args = parser.parse_args()
    cellar = [sys.executable, "-m", "cellar"]
    with tempfile.TemporaryDirectory() as scratch_name, LocalIndex() as index:
        scratch = Path(scratch_name)
        names = [f"proj-{i:03d}" for i in range(args.projects)]
        for name in names:
            for version in ("1.0", "2.0"):
                index.add(build_wheel(name, version, extra_files={"d.bin": os.urandom(200_000)}))
        keys = scratch / "keys"
        timed([*cellar, "keygen", "-o", str(keys), "--name", "outer"])
        (scratch / "outer").mkdir()
        outer = write_config(scratch / "outer", index.url, names, extra_packages=EVERY_VERSION)
        outer.write_text(
            outer.read_text("utf-8") + f'[bundle]\nsigning-key = "{keys / "outer.key"}"\n',
            "utf-8",
        )
        mirrored = run_cli("mirror", "-c", str(outer), timeout=3600)
        if mirrored.returncode != 0:
            raise SystemExit(mirrored.stderr[-2000:])
        web = scratch / "outer" / "mirror" / "web"
        files = [p.relative_to(web).as_posix() for p in sorted(web.rglob("*")) if p.is_file()]
        size = sum((web / f).stat().st_size for f in files)
        (scratch / "inner").mkdir()
        inner = write_config(scratch / "inner", "http://127.0.0.1:9/simple/", ["x"])
        inner.write_text(
            inner.read_text("utf-8") + f'[bundle]\ntrusted-keys = ["{keys / "outer.pub"}"]\n',
            "utf-8",
        )
        bundle = scratch / "bundle"
        export = timed([*cellar, "export", "-c", str(outer), "-o", str(bundle), "--full"])
        imported = timed([*cellar, "import", "-c", str(inner), str(bundle)])
        sums = scratch / "SHA256SUMS"
        started = time.perf_counter()
        with sums.open("w") as stream:
            subprocess.run(["sha256sum", *files], cwd=web, stdout=stream, check=True)
        timed(["tar", "cf", str(scratch / "by-hand.tar"), "-C", str(web), "."])
        by_hand_out = time.perf_counter() - started
        unpacked = scratch / "unpacked"
        unpacked.mkdir()
        started = time.perf_counter()
        timed(["tar", "xf", str(scratch / "by-hand.tar"), "-C", str(unpacked)])
        timed(["sha256sum", "--quiet", "-c", str(sums)], cwd=unpacked)
        by_hand_in = time.perf_counter() - started
    megabytes = size / 1e6
    print(f"{len(files)} files, {megabytes:.1f} MB; times in seconds (throughput MB/s)")
    print(f"{'':34}{'cellar':>14}{'tar+sha256sum':>16}{'ratio':>8}")
    for what, ours, theirs in (
        ("out: export --full / sum + tar cf", export, by_hand_out),
        ("in: import / tar xf + sum -c", imported, by_hand_in),
    ):
        print(
            f"{what:34}{ours:7.2f} ({megabytes / ours:4.0f}){theirs:9.2f} ({megabytes / theirs:4.0f})"
            f"{ours / theirs:8.2f}"
        )


if __name__ == "__main__":
    main()
