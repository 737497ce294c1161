"""Benchmark: uploads with twine to Cellar's server and to pypiserver, in the same run.

pypiserver is what teams run for a private index with uploads (devpi is the other). Both get
the same files from the same twine, each into an empty tree:

- SMALL small wheels of as many projects, in one ``twine upload``;
- LARGE wheels of SIZE MiB each (incompressible), in one ``twine upload``;
- WRITERS ``twine upload`` processes at once, each with its own share of SMALL more wheels of
  one project (so they all write the same project, as parallel CI jobs do);

then checks that every file is listed by its project page. Cellar checks each upload (archive,
metadata, digests), writes it, its ``.metadata``, the record, three pages and the root; pypiserver
writes the file. pypiserver runs without authentication (its htpasswd support needs passlib,
which does not work with the bcrypt of today); Cellar checks bcrypt once per login header, so
the difference is one check per run.

Prints seconds per step and the ratio Cellar / pypiserver (below 1: Cellar is faster).

Run: ``python benchmarks/upload.py [--small 200] [--large 4] [--size 30] [--writers 4]``.
Needs pypiserver with waitress and twine (``pip install --group bench --group test``). No
network beyond 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.serve import process, pypiserver

from tests.support.nginx import free_port
from tests.support.packages import build_wheel
from tests.support.uploads import htpasswd_line, twine

USER, PASSWORD = "bench", "bench-password"


def wheels(directory: Path, args: argparse.Namespace) -> dict[str, list[Path]]:
    """Write the files every server gets, by step."""
    directory.mkdir(parents=True)

    def saved(name: str, version: str, extra: dict[str, bytes] | None = None) -> Path:
        dist = build_wheel(name, version, extra_files=extra)
        path = directory / dist.filename
        path.write_bytes(dist.data)
        return path

    large = {"bench_large/blob.bin": os.urandom(args.size << 20)}
    return {
        "small": [saved(f"bench-small-{n}", "1.0") for n in range(args.small)],
        "large": [saved(f"bench-large-{n}", "1.0", large) for n in range(args.large)],
        "writers": [saved("bench-shared", f"1.{n}") for n in range(args.small)],
    }


def upload(url: str, files: Sequence[Path]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWINE_", "PIP_"))}
    env.update({"TWINE_USERNAME": USER, "TWINE_PASSWORD": PASSWORD})
    command = [
        twine(),
        "upload",
        "--disable-progress-bar",
        "--repository-url",
        url,
        *map(str, files),
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise SystemExit(f"twine upload to {url} failed:\n{result.stdout}{result.stderr}")


def timed(step: Callable[[], None]) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def steps(url: str, files: dict[str, list[Path]], writers: int) -> dict[str, float]:
    shares = [files["writers"][n::writers] for n in range(writers)]

    def together() -> None:
        with ThreadPoolExecutor(writers) as pool:
            list(pool.map(lambda share: upload(url, share), shares))

    return {
        f"{len(files['small'])} small wheels, one twine": timed(
            lambda: upload(url, files["small"])
        ),
        f"{len(files['large'])} large wheels, one twine": timed(
            lambda: upload(url, files["large"])
        ),
        f"{writers} twines at once, one project": timed(together),
    }


def listed(index: str, files: dict[str, list[Path]]) -> None:
    """Check that each project page lists the files uploaded to it."""
    by_project: dict[str, list[str]] = {}
    for path in [path for group in files.values() for path in group]:
        project = path.name.split("-")[0].replace("_", "-")
        by_project.setdefault(project, []).append(path.name)
    for project, names in by_project.items():
        with urllib.request.urlopen(f"{index}{project}/", timeout=30) as response:  # noqa: S310
            page = response.read().decode()
        missing = [name for name in names if name not in page]
        if missing:
            raise SystemExit(f"{index}{project}/ does not list {missing[:3]}")


def cellar(root: Path, port: int) -> tuple[list[str], str, str]:
    root.mkdir(parents=True)
    (root / "uploaders").write_text(htpasswd_line(USER, PASSWORD), encoding="utf-8")
    (root / "mirror" / "web" / "simple").mkdir(parents=True)
    config = root / "cellar.toml"
    config.write_text(
        '[mirror]\ndirectory = "mirror"\n[packages]\nrequirements = []\n'
        '[hosted]\nuploaders = "uploaders"\nmax-upload-size = "1G"\n'
        f'[hosted.grants]\n{USER} = ["*"]\n',
        encoding="utf-8",
    )
    command = [sys.executable, "-m", "cellar", "serve", "-c", str(config), "--port", str(port)]
    base = f"http://127.0.0.1:{port}/"
    return command, f"{base}upload/", f"{base}simple/"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large", type=int, default=4)
    parser.add_argument("--size", type=int, default=30, help="MiB per large wheel")
    parser.add_argument("--writers", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cellar-upload-bench-") as scratch:
        root = Path(scratch)
        files = wheels(root / "dist", args)
        results: dict[str, dict[str, float]] = {}
        port = free_port()
        command, url, index = cellar(root / "cellar", port)
        with process(command, f"http://127.0.0.1:{port}/health", root / "cellar.log"):
            results["cellar serve"] = steps(url, files, args.writers)
            listed(index, files)
        port = free_port()
        packages = root / "pypiserver"
        packages.mkdir()
        with process(pypiserver(packages, port), f"http://127.0.0.1:{port}/", root / "pypi.log"):
            base = f"http://127.0.0.1:{port}/"
            results["pypiserver"] = steps(base, files, args.writers)
            listed(f"{base}simple/", files)
    report(results)


def report(results: dict[str, dict[str, float]]) -> None:
    ours, theirs = results["cellar serve"], results["pypiserver"]
    width = max(map(len, ours)) + 2
    print(f"{'step':{width}} {'cellar serve':>13} {'pypiserver':>11} {'ratio':>6}")
    for step, seconds in ours.items():
        print(
            f"{step:{width}} {seconds:12.2f}s {theirs[step]:10.2f}s {seconds / theirs[step]:6.2f}"
        )
    print("ratio: cellar serve / pypiserver, same files, same twine, same run (below 1: faster)")


if __name__ == "__main__":
    main()
