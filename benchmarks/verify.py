"""Benchmark: ``cellar verify`` over a few thousand files, against ``sha256sum`` in the same run.

Builds a mirror directly (much faster than downloading thousands of files from the local
index, and the same result): FILES distribution files of random bytes with sizes drawn from a
log-normal distribution around MEDIAN kB (capped at 16 MB), a ``.metadata`` file beside every
other one, spread over PROJECTS projects whose pages are written by Cellar's own renderer
(``cellar.keep.pages.write_project``) with every file recorded in the state, as ``cellar
mirror`` leaves them. Then it measures, REPEAT times each, with a warm page cache:

- ``find web/packages -type f | xargs -P2 sha256sum`` (the baseline: coreutils, 2 processes),
- ``cellar verify`` (every file hashed, on a thread per core),
- ``cellar verify --fast`` (size and mtime against the state's record),

and prints the median wall time of each (whole processes, Python's start-up included), the
throughput, and the ratios to the baseline. Run: ``python benchmarks/verify.py [--files 3000]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path, PurePosixPath

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cellar.keep.pages import write_project, write_root
from cellar.simple_api import DistFile, frozen_mapping
from cellar.state import FileRecord, MirrorState
from cellar.sync.paths import content_path, metadata_path
from cellar.sync.render import ProjectListing, PublishedFile
from tests.support.mirror import write_config

UPSTREAM = "http://127.0.0.1:9/simple/"  # never contacted: nothing is repaired


def build_mirror(root: Path, files: int, projects: int, median_kb: int, seed: int = 11) -> int:
    """Write the mirror under ``root/mirror``; return the bytes of all files written."""
    rng = random.Random(seed)
    web = root / "mirror" / "web"
    total = 0
    with MirrorState.open(root / "mirror") as state:
        for number in range(projects):
            name = f"bench-{number:04d}"
            published = []
            for index in range(number, files, projects):
                size = min(int(rng.lognormvariate(0, 1.2) * median_kb * 1000), 16_000_000)
                data = rng.randbytes(max(size, 100))
                sha256 = hashlib.sha256(data).hexdigest()
                filename = f"bench_{number:04d}-{index}.0-py3-none-any.whl"
                url = f"http://127.0.0.1:9/files/{filename}"
                path = content_path(sha256, filename)
                total += _place(web, state, name, path, data=data, url=url)
                metadata_sha256 = None
                if index % 2 == 0:
                    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {index}.0\n\n"
                    metadata_sha256 = hashlib.sha256(metadata.encode()).hexdigest()
                    meta = metadata_path(path)
                    total += _place(
                        web, state, name, meta, data=metadata.encode(), url=f"{url}.metadata"
                    )
                entry = DistFile(filename, url, frozen_mapping({"sha256": sha256}), size=len(data))
                published.append(
                    PublishedFile(entry, str(path), sha256, len(data), metadata_sha256)
                )
            versions = tuple(f"{index}.0" for index in range(number, files, projects))
            write_project(web, state, ProjectListing(name, tuple(published), versions))
        write_root(web, state)
    return total


def _place(
    web: Path, state: MirrorState, project: str, path: PurePosixPath, *, data: bytes, url: str
) -> int:
    local = web / str(path)
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(data)
    sha256 = hashlib.sha256(data).hexdigest()
    mtime = local.stat().st_mtime_ns
    state.record_file(FileRecord(str(path), project, sha256, len(data), mtime, url))
    return len(data)


def sha256sum_all(web: Path) -> float:
    """Hash every file under web/packages with coreutils, two processes; return seconds."""
    started = time.perf_counter()
    find = subprocess.Popen(
        ["find", str(web / "packages"), "-type", "f", "-print0"], stdout=subprocess.PIPE
    )
    subprocess.run(
        ["xargs", "-0", "-P2", "-n", "256", "sha256sum"],
        stdin=find.stdout,
        stdout=subprocess.DEVNULL,
        check=True,
    )
    assert find.stdout is not None
    find.stdout.close()
    assert find.wait() == 0
    return time.perf_counter() - started


def cellar_verify(config: Path, *options: str, expect: int) -> tuple[float, float]:
    """Run ``cellar verify``; return wall seconds and the seconds it reports for itself."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "cellar", "verify", "-c", str(config), "-q", *options],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"checked {expect};" in result.stdout, result.stdout
    inside = re.search(r"hashed in ([\d.]+) s", result.stdout)
    assert inside is not None
    return wall, float(inside.group(1))


def python_startup() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cellar", "--version"], check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--projects", type=int, default=300)
    parser.add_argument("--median-kb", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cellar-bench-verify-") as temp:
        root = Path(temp)
        started = time.perf_counter()
        size = build_mirror(root, args.files, args.projects, args.median_kb)
        web = root / "mirror" / "web"
        count = sum(len(names) for _, _, names in os.walk(web / "packages"))
        print(
            f"mirror: {args.projects} projects, {count} files ({args.files} distributions and "
            f"their metadata files), {size / 1e6:.0f} MB, built in "
            f"{time.perf_counter() - started:.1f} s; {os.cpu_count()} cores"
        )
        config = write_config(root, UPSTREAM, ["bench-0000"])
        sha256sum_all(web)  # warm the page cache: every measurement reads from memory

        runs: dict[str, list[float]] = {"sha256sum": [], "verify": [], "fast": []}
        inside: dict[str, list[float]] = {"verify": [], "fast": []}
        for _ in range(args.repeat):
            runs["sha256sum"].append(sha256sum_all(web))
            for key, options in (("verify", ()), ("fast", ("--fast",))):
                wall, own = cellar_verify(config, *options, expect=count)
                runs[key].append(wall)
                inside[key].append(own)
        startup = statistics.median(python_startup() for _ in range(args.repeat))

    base = statistics.median(runs["sha256sum"])
    print(f"\nmedian of {args.repeat} runs (warm page cache)")
    print(f"{'command':<34} {'wall s':>8} {'own s':>7} {'MB/s':>8} {'vs sha256sum':>13}")
    rows = [
        ("find | xargs -P2 sha256sum", "sha256sum"),
        ("cellar verify", "verify"),
        ("cellar verify --fast", "fast"),
    ]
    for label, key in rows:
        wall = statistics.median(runs[key])
        own = f"{statistics.median(inside[key]):7.2f}" if key in inside else f"{'':>7}"
        print(f"{label:<34} {wall:8.2f} {own} {size / 1e6 / wall:8.0f} {wall / base:12.2f}x")
    print(f"(python -m cellar --version alone: {startup:.2f} s of every cellar wall time)")


if __name__ == "__main__":
    main()
