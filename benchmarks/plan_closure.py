"""Benchmark: planning the dependency closure of a sizeable graph, against uv in the same run.

Builds a deterministic graph on the local test index (PROJECTS projects, VERSIONS versions
each, dependencies with markers on Python version and platform, PEP 658 metadata on half of the
projects), then measures on the same machine, in the same run:

- ``cellar plan`` cold (empty state: every page and metadata file fetched),
- ``cellar plan`` again, nothing changed upstream (the last plan's report holds: pages only),
- ``cellar plan`` after one page changed (planned in full; metadata cached in the state),
- ``uv pip compile`` once per target (the baseline: uv resolving the same requirements),

and prints wall time and upstream requests for each, and the ratios cold/uv and warm/uv.
Run: ``python benchmarks/plan_closure.py [--projects 300] [--versions 5]`` (no network).
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.installers import find_uv
from tests.support.mirror import run_cli, write_config
from tests.support.packages import build_wheel
from tests.support.upstream import LocalIndex

PYTHONS = ["3.11", "3.12", "3.13"]
#: Cellar's platform tag -> uv's --python-platform; Cellar's targets are every (python, platform).
PLATFORMS = {
    "manylinux_2_28_x86_64": "x86_64-manylinux_2_28",
    "win_amd64": "x86_64-pc-windows-msvc",
    "macosx_14_0_arm64": "aarch64-apple-darwin",
}


def build_graph(index: LocalIndex, projects: int, versions: int, seed: int = 7) -> list[str]:
    """Publish a layered random graph; return the root requirements."""
    rng = random.Random(seed)
    names = [f"bench-{i:04d}" for i in range(projects)]
    for position, name in enumerate(names):
        later = names[position + 1 :]
        for version in range(1, versions + 1):
            deps = []
            for dep in rng.sample(later, k=min(len(later), rng.randint(0, 4))):
                marker = rng.choice(
                    [
                        "",
                        "; python_version < '3.12'",
                        "; sys_platform == 'win32'",
                        "; sys_platform != 'darwin'",
                    ]
                )
                deps.append(f"{dep}>=1{marker}")
            index.add(
                build_wheel(name, f"{version}.0", requires_dist=deps),
                metadata=position % 2 == 0,
            )
    return names[: max(3, projects // 20)]


def timed(command: list[str] | None = None, *, cli: tuple[str, ...] = ()) -> float:
    """Run a command (or the Cellar CLI) and return its wall time in seconds."""
    started = time.perf_counter()
    if cli:
        result = run_cli(*cli, timeout=3600)
    else:
        assert command is not None
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"failed: {command or cli}\n{result.stderr[-2000:]}")
    return elapsed


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=300)
    parser.add_argument("--versions", type=int, default=5)
    parser.add_argument("--resolvers", default="pip", help="pip or pip,uv ([packages] resolvers)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, LocalIndex() as index:
        root = Path(scratch)
        roots = build_graph(index, args.projects, args.versions)
        resolvers = ", ".join(f'"{r}"' for r in args.resolvers.split(","))
        config = write_config(root, index.url, roots, extra_packages=f"resolvers = [{resolvers}]\n")
        with config.open("a", encoding="utf-8") as stream:
            stream.write(
                f"[targets]\npython = {PYTHONS!r}\nplatforms = {sorted(PLATFORMS)!r}\n".replace(
                    "'", '"'
                )
            )
        targets = [(python, uv) for python in PYTHONS for uv in PLATFORMS.values()]

        index.reset_log()
        cold = timed(cli=("plan", "-c", str(config)))
        cold_requests = len(index.requests)
        index.reset_log()
        warm = timed(cli=("plan", "-c", str(config)))
        warm_requests = len(index.requests)
        # One page changes (a new release of the last project): planned again in full, with
        # every other release's metadata in the state.
        index.add(build_wheel(f"bench-{args.projects - 1:04d}", "99.0"))
        index.reset_log()
        changed = timed(cli=("plan", "-c", str(config)))
        changed_requests = len(index.requests)

        source = root / "requirements.in"
        source.write_text("\n".join(roots) + "\n")
        index.reset_log()
        uv = 0.0
        for python, uv_platform in targets:
            uv += timed(
                [
                    str(find_uv()),
                    "pip",
                    "compile",
                    "--no-config",
                    "--quiet",
                    "--no-cache",
                    "--python-version",
                    python,
                    "--python-platform",
                    uv_platform,
                    "--default-index",
                    index.url,
                    "--python",
                    sys.executable,
                    str(source),
                ]
            )
        uv_requests = len(index.requests)

    print(
        f"graph: {args.projects} projects x {args.versions} versions, {len(roots)} roots, {len(targets)} targets"
    )
    print(f"{'':28}{'seconds':>10}{'requests':>10}{'vs uv':>8}")
    print(f"{'cellar plan, cold':28}{cold:10.2f}{cold_requests:10d}{cold / uv:8.2f}")
    print(f"{'cellar plan, unchanged':28}{warm:10.2f}{warm_requests:10d}{warm / uv:8.2f}")
    print(
        f"{'cellar plan, 1 page changed':28}{changed:10.2f}{changed_requests:10d}{changed / uv:8.2f}"
    )
    print(f"{'uv pip compile x targets':28}{uv:10.2f}{uv_requests:10d}{1.0:8.2f}")
    print("note: cellar resolves all roots together and each root's kept version alone (read")
    print("      off the resolution together where that provably gives the same pins), per")
    print("      target; uv resolves all roots together once per target. Unchanged: the last")
    print("      plan's report holds (every page it read answered 304). 1 page changed: planned")
    print("      in full, metadata from the state.")


if __name__ == "__main__":
    main()
