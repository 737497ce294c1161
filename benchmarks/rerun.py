"""Benchmark: a no-change re-run over a few hundred mirrored projects.

Mirrors PROJECTS projects (VERSIONS versions each) from the local test index, then measures in
the same run:

- the first, full mirror (the baseline every re-run is compared with),
- a re-run with nothing changed upstream, against an index that sends ETags (conditional
  requests: the upstream answers 304 for every page),
- the same re-run reading every project's serial from the root page first
  (``root-serials = "always"``, as ``auto`` does from 1,000 mirrored projects): one request,
- the same re-run against an index that sends no validators (every page is fetched again),

printing wall time, upstream requests and bytes of page bodies for each, and the ratios to
the first run. Run: ``python benchmarks/rerun.py [--projects 300] [--versions 3]`` (no network).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.mirror import EVERY_VERSION, run_cli, write_config
from tests.support.packages import build_wheel
from tests.support.upstream import LocalIndex


def timed_mirror(config: Path) -> float:
    """Run ``cellar mirror`` as a process and return its wall time."""
    started = time.perf_counter()
    result = run_cli("mirror", "-c", str(config), timeout=3600)
    if result.returncode != 0:
        raise SystemExit(result.stderr[-2000:])
    return time.perf_counter() - started


def measure(index: LocalIndex, config: Path) -> tuple[float, int]:
    """Return the time and request count of one mirror run against ``index``."""
    index.reset_log()
    seconds = timed_mirror(config)
    return seconds, len(index.requests)


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=300)
    parser.add_argument("--versions", type=int, default=3)
    args = parser.parse_args()
    names = [f"project-{i:04d}" for i in range(args.projects)]
    dists = [
        build_wheel(name, f"{version}.0")
        for name in names
        for version in range(1, args.versions + 1)
    ]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for validators in (True, False):
            with LocalIndex(validators=validators) as index:
                for dist in dists:
                    index.add(dist)
                root = Path(scratch) / f"validators-{validators}"
                root.mkdir()
                config = write_config(root, index.url, names, extra_packages=EVERY_VERSION)
                first = measure(index, config)
                again = measure(index, config)
                if validators:
                    rows.append(("first mirror (baseline)", *first))
                    rows.append(("no-change re-run, ETag/304", *again))
                    serials = write_config(
                        root,
                        index.url,
                        names,
                        extra_mirror='root-serials = "always"',
                        extra_packages=EVERY_VERSION,
                    )
                    rows.append(("no-change re-run, serials", *measure(index, serials)))
                else:
                    rows.append(("no-change re-run, no ETags", *again))
    base_seconds, base_requests = rows[0][1], rows[0][2]
    print(f"{args.projects} projects x {args.versions} versions ({len(dists)} files)")
    print(f"{'':30}{'seconds':>9}{'requests':>10}{'time ratio':>12}{'request ratio':>15}")
    for label, seconds, requests in rows:
        print(
            f"{label:30}{seconds:9.2f}{requests:10d}"
            f"{seconds / base_seconds:12.2f}{requests / base_requests:15.2f}"
        )


if __name__ == "__main__":
    main()
