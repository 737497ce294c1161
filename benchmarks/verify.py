"""Benchmark: ``cellar verify`` over a few thousand files, against ``sha256sum`` in the same run.

Builds a mirror directly (much faster than downloading thousands of files from the local
index, and the same result): FILES distribution files of random bytes with sizes drawn from a
log-normal distribution around MEDIAN kB (capped at 16 MB), a ``.metadata`` file beside every
other one, spread over PROJECTS projects whose pages are written by Cellar's own renderer
(``cellar.sync.pages.write_project``) with every file recorded in the state, as ``cellar
mirror`` leaves them. Then it measures, REPEAT times each, with a warm page cache:

- ``find web/packages -type f | xargs -P2 sha256sum`` (the baseline of a full verify:
  coreutils, 2 processes),
- ``cellar verify`` (every file hashed, on a thread per core),
- ``find web -type f -printf '%s %T@'`` (the baseline of ``--fast``: the walk and ``stat`` of
  every file that any check of sizes and mtimes must make, and no more),
- ``cellar verify --fast`` (size and mtime against the state's record, pages by their marks),

and prints the median wall time of each (whole processes, Python's start-up included), the
peak memory of Cellar's runs, the throughput, and the ratios to the baselines. Run:
``python benchmarks/verify.py [--files 3000]``. A large mirror takes long to build (a million
files: over an hour here): ``--directory DIR`` builds it there once and reuses it on later
runs. The first ``--fast`` run over a mirror built so marks its pages; the runs that count are
the ones after it (as a mirror made by ``cellar mirror``, whose pages are marked as written).
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

from cellar.model import DistFile, ProjectListing, PublishedFile, frozen_mapping
from cellar.state import FileRecord, MirrorState
from cellar.sync.pages import publish_root, write_project
from cellar.sync.paths import content_path, metadata_path
from cellar.tree.local import LocalStorage
from tests.support.mirror import write_config

UPSTREAM = "http://127.0.0.1:9/simple/"  # never contacted: nothing is repaired


def build_mirror(root: Path, files: int, projects: int, median_kb: int, seed: int = 11) -> int:
    """Write the mirror under ``root/mirror``; return the bytes of all files written."""
    rng = random.Random(seed)
    web = root / "mirror" / "web"
    storage = LocalStorage(web)
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
            write_project(storage, state, ProjectListing(name, tuple(published), versions))
        publish_root(storage, state)
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


def stat_all(web: Path) -> float:
    """Walk the tree and ``stat`` every file with find(1); return seconds."""
    started = time.perf_counter()
    subprocess.run(
        ["find", str(web), "-type", "f", "-printf", "%s %T@\n"],
        stdout=subprocess.DEVNULL,
        check=True,
    )
    return time.perf_counter() - started


#: GNU time runs the command in a fresh process: the peak memory it reports is the command's.
GNU_TIME = Path("/usr/bin/time")


def cellar_verify(config: Path, *options: str, expect: int) -> tuple[float, float, float]:
    """Run ``cellar verify``; return wall seconds, the seconds it reports for itself, and its
    peak memory in MB (0 without GNU time)."""
    command = [sys.executable, "-m", "cellar", "verify", "-c", str(config), "-q", *options]
    with tempfile.NamedTemporaryFile("r") as peak:
        if GNU_TIME.exists():
            command = [str(GNU_TIME), "-f", "%M", "-o", peak.name, *command]
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        peak_mb = int(peak.read().split()[-1]) / 1024 if GNU_TIME.exists() else 0.0
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"checked {expect};" in result.stdout, result.stdout
    inside = re.search(r"hashed in ([\d.]+) s", result.stdout)
    assert inside is not None
    return wall, float(inside.group(1)), peak_mb


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
    parser.add_argument("--directory", type=Path, help="build the mirror here once, and reuse it")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cellar-bench-verify-") as temp:
        root = args.directory or Path(temp)
        measure(root, args)


def measure(root: Path, args: argparse.Namespace) -> None:
    """Build (or reuse) the mirror under ``root``, then measure and print the table."""
    web = root / "mirror" / "web"
    started = time.perf_counter()
    if (root / "mirror" / ".cellar").is_dir():
        print(f"reusing the mirror in {root} (--files, --projects and --median-kb ignored)")
    else:
        build_mirror(root, args.files, args.projects, args.median_kb)
    config = write_config(root, UPSTREAM, ["bench-0000"])
    count = sum(len(names) for _, _, names in os.walk(web / "packages"))
    size = sum(p.stat().st_size for p in (web / "packages").rglob("*") if p.is_file())
    projects = sum(1 for _ in (web / "simple").iterdir()) - 3  # less the root's page files
    print(
        f"mirror: {projects} projects, {count} files (distributions and their metadata "
        f"files), {size / 1e6:.0f} MB, ready in {time.perf_counter() - started:.1f} s; "
        f"{os.cpu_count()} cores"
    )
    sha256sum_all(web)  # warm the page cache: every measurement reads from memory
    cellar_verify(config, "--fast", expect=count)  # marks the pages a built mirror lacks

    runs: dict[str, list[float]] = {"sha256sum": [], "verify": [], "find": [], "fast": []}
    inside: dict[str, list[float]] = {"verify": [], "fast": []}
    peaks: dict[str, list[float]] = {"verify": [], "fast": []}
    for _ in range(args.repeat):
        # The walks first, then the reads of every file: right after those, a walk of a
        # million files took 2.4 times as long here, find's as much as Cellar's (the kernel's
        # caches); measured so, neither walk would be compared with the other fairly.
        runs["find"].append(stat_all(web))
        wall, own, peak = cellar_verify(config, "--fast", expect=count)
        runs["fast"].append(wall)
        inside["fast"].append(own)
        peaks["fast"].append(peak)
        runs["sha256sum"].append(sha256sum_all(web))
        wall, own, peak = cellar_verify(config, expect=count)
        runs["verify"].append(wall)
        inside["verify"].append(own)
        peaks["verify"].append(peak)
    startup = statistics.median(python_startup() for _ in range(args.repeat))

    print(f"\nmedian of {args.repeat} runs (warm page cache)")
    header = f"{'command':<34} {'wall s':>8} {'own s':>7} {'peak MB':>8} {'MB/s':>8}"
    print(f"{header} {'vs baseline':>12}")
    rows = [
        ("find | xargs -P2 sha256sum", "sha256sum", "sha256sum"),
        ("cellar verify", "verify", "sha256sum"),
        ("find -printf '%s %T@' (walk, stat)", "find", "find"),
        ("cellar verify --fast", "fast", "find"),
    ]
    for label, key, baseline in rows:
        wall = statistics.median(runs[key])
        own = f"{statistics.median(inside[key]):7.2f}" if key in inside else f"{'':>7}"
        peak = f"{statistics.median(peaks[key]):8.0f}" if key in peaks else f"{'':>8}"
        ratio = wall / statistics.median(runs[baseline])
        print(f"{label:<34} {wall:8.2f} {own} {peak} {size / 1e6 / wall:8.0f} {ratio:11.2f}x")
    print(f"(python -m cellar --version alone: {startup:.2f} s of every cellar wall time)")


if __name__ == "__main__":
    main()
