"""Benchmark: what ``[policy]`` costs, in the same run.

1. Reading an OSV database the size of PyPI's export (``--advisories``, 20,000 by default, of
   the shapes PyPI's has: PYSEC with ranges, GHSA with CVSS vectors and aliases, MAL): Cellar's
   ``load_database`` (bounded reads, parsing, ranges, aliases merged, severities) against the
   floor, ``zipfile`` and ``json.loads`` of every document and nothing else.
2. ``cellar mirror`` of PROJECTS projects from the local index, cold and re-run unchanged,
   without a policy and with one (that database, a minimum age, a licence deny list).

Run: ``python benchmarks/policy.py [--advisories 20000] [--projects 200]``. No network beyond
127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cellar.policy.osv import load_database
from tests.support.mirror import run_cli
from tests.support.packages import build_wheel
from tests.support.upstream import LocalIndex


def advisories(count: int, projects: list[str]) -> list[dict[str, object]]:
    rng = random.Random(7)
    found: list[dict[str, object]] = []
    for number in range(count):
        project = rng.choice(projects) if rng.random() < 0.02 else f"other-{number % 9000}"
        kind = rng.choice(["PYSEC", "GHSA", "GHSA", "MAL"]) if project in projects else "PYSEC"
        ident = f"{kind}-2026-{number}"
        document: dict[str, object] = {
            "schema_version": "1.6.0",
            "id": ident,
            "modified": "2026-11-30T00:00:00Z",
            "summary": f"issue {number} in {project}",
            "details": "x" * rng.randint(200, 3000),
            "aliases": [f"CVE-2026-{number}"],
            "affected": [
                {
                    "package": {"ecosystem": "PyPI", "name": project},
                    "ranges": [
                        {
                            "type": "ECOSYSTEM",
                            "events": [{"introduced": "0"}, {"fixed": f"0.{rng.randint(1, 9)}"}],
                        }
                    ],
                    "versions": [f"0.0.{v}" for v in range(rng.randint(0, 30))],
                }
            ],
        }
        if kind == "GHSA":
            document["severity"] = [
                {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}
            ]
            document["database_specific"] = {"severity": "HIGH"}
        found.append(document)
    return found


def floor(path: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            json.loads(archive.read(info))


def best(function: object, *args: object, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function(*args)  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def mirror_seconds(config: Path) -> float:
    started = time.perf_counter()
    result = run_cli("mirror", "-c", str(config), timeout=1800)
    if result.returncode != 0:
        raise SystemExit(f"cellar mirror failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--advisories", type=int, default=20_000)
    parser.add_argument("--projects", type=int, default=200)
    args = parser.parse_args()
    names = [f"proj-{i:03d}" for i in range(args.projects)]
    with tempfile.TemporaryDirectory() as scratch_name, LocalIndex() as index:
        scratch = Path(scratch_name)
        database = scratch / "PyPI.zip"
        with zipfile.ZipFile(database, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for document in advisories(args.advisories, names):
                archive.writestr(f"{document['id']}.json", json.dumps(document))
        size = database.stat().st_size
        ours, bare = best(load_database, database), best(floor, database)
        print(f"OSV database: {args.advisories} advisories, {size / 1e6:.1f} MB zipped")
        print(f"  cellar load_database  {ours:7.2f} s")
        print(f"  zipfile + json.loads  {bare:7.2f} s   ratio {ours / bare:.2f}")

        old = datetime.now(UTC) - timedelta(days=60)
        for name in names:
            index.add(build_wheel(name, "0.5"), upload_time=old)
            index.add(build_wheel(name, "1.0", licence="MIT"), upload_time=old)
        requirements = ", ".join(f'"{name}"' for name in names)
        policy = (
            f'[policy]\nosv = "{database}"\nmin-release-age = "7d"\n'
            'refuse-severity = "high"\nlicences-deny = ["AGPL-3.0-only"]\n'
        )
        results = {}
        for label, extra in (("no policy", ""), ("policy", policy)):
            directory = scratch / label.replace(" ", "-")
            directory.mkdir()
            config = directory / "cellar.toml"
            config.write_text(
                f'[mirror]\ndirectory = "mirror"\nupstream = "{index.url}"\n'
                f"[packages]\nrequirements = [{requirements}]\n"
                '[targets]\npython = ["3.11"]\nplatforms = ["linux"]\n' + extra,
                encoding="utf-8",
            )
            results[label] = (mirror_seconds(config), mirror_seconds(config))
        print(f"cellar mirror of {args.projects} projects (cold / re-run unchanged):")
        for label, (cold, rerun) in results.items():
            print(f"  {label:9}  {cold:6.2f} s / {rerun:6.2f} s")
        (cold0, rerun0), (cold1, rerun1) = results["no policy"], results["policy"]
        print(f"  ratio policy / none: cold {cold1 / cold0:.2f}, re-run {rerun1 / rerun0:.2f}")


if __name__ == "__main__":
    main()
