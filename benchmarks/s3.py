"""Benchmark: a mirror in S3 against the same mirror on the local disk, in the same run.

Builds a local upstream of PROJECTS small projects plus ``app`` (which depends on all of them),
then:

- ``cellar mirror`` cold into a local directory and into a bucket, then a re-run of each that
  finds nothing to do; the times and the ratio S3 / local;
- ``cellar serve`` over each (``[serve] workers`` = the CPU count), loaded with wrk: a project
  page (PEP 691 JSON) and a 20 kB file; requests per second and the ratio S3 / local.

The S3 server is moto's server mode on 127.0.0.1 (``tests/support/s3.py``), in this process: a
Python server, far slower than AWS S3, MinIO or Ceph RGW, and sharing the machine's cores. So the
ratios bound what the S3 backend costs from above; what it costs against a real store depends on
that store's latency (a HEAD a second per hot object, a GET per cold one).

Run: ``python benchmarks/s3.py [--projects 60] [--duration 5] [--connections 64]``. Needs wrk
(Debian package) and the test dependency group (boto3, moto). No network beyond 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.serve import JSON, Load, cellar_server, load_arguments, process, wrk

from tests.support.mirror import run_cli, write_config
from tests.support.nginx import free_port
from tests.support.packages import build_wheel
from tests.support.s3 import S3_ENV, S3Server, s3_server, storage_table
from tests.support.upstream import LocalIndex


def timed_mirror(config: Path) -> float:
    started = time.perf_counter()
    result = run_cli("mirror", "-c", str(config), timeout=3600)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"cellar mirror failed:\n{result.stderr[-3000:]}")
    return seconds


def serve_load(
    config: Path, project: str, file_key: str, args: argparse.Namespace
) -> dict[str, Load]:
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    with process(cellar_server(config, port), f"{base}simple/", config.with_suffix(".log")):
        page = wrk(
            f"{base}simple/{project}/", JSON, duration=args.duration, connections=args.connections
        )
        file = wrk(f"{base}{file_key}", "*/*", duration=args.duration, connections=args.connections)
    return {"page (JSON)": page, "file (20 kB)": file}


def main() -> None:
    args = load_arguments()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian package wrk)")
    os.environ.update(S3_ENV)
    cpus = os.cpu_count() or 1
    names = [f"lib-{i:03d}" for i in range(args.projects)]
    with tempfile.TemporaryDirectory() as scratch_name, LocalIndex() as index, s3_server() as s3:
        scratch = Path(scratch_name)
        for name in names:
            for version in ("1.0", "1.1"):
                index.add(build_wheel(name, version, extra_files={"data.bin": os.urandom(20_000)}))
        index.add(build_wheel("app", "1.0", requires_dist=names))
        serve = f"\n[serve]\nworkers = {cpus}\n"
        local_root, s3_root = scratch / "local", scratch / "s3"
        local_root.mkdir()
        s3_root.mkdir()
        local = write_config(local_root, index.url, ["app"], extra_packages="versions = 0")
        local.write_text(local.read_text(encoding="utf-8") + serve, encoding="utf-8")
        bucket = s3.new_bucket()
        remote = write_config(s3_root, index.url, ["app"], extra_packages="versions = 0")
        remote.write_text(
            remote.read_text(encoding="utf-8") + serve + storage_table(s3, bucket), "utf-8"
        )
        times = {
            "local": (timed_mirror(local), timed_mirror(local)),
            "s3": (timed_mirror(remote), timed_mirror(remote)),
        }
        web = local_root / "mirror" / "web"
        wheel = next((web / "packages").rglob("lib_000-1.1-*.whl")).relative_to(web).as_posix()
        loads = {
            "local": serve_load(local, "lib-000", wheel, args),
            "s3": serve_load(remote, "lib-000", wheel, args),
        }
        report(s3, args, cpus, times, loads)


def report(
    s3: S3Server,
    args: argparse.Namespace,
    cpus: int,
    times: dict[str, tuple[float, float]],
    loads: dict[str, dict[str, Load]],
) -> None:
    print(
        f"{args.projects + 1} projects, {2 * args.projects + 1} files; S3: moto's server at "
        f"{s3.endpoint} (in this process); {cpus} CPUs"
    )
    print(f"{'':24}{'local':>10}{'S3':>10}{'S3/local':>10}")
    for index, what in enumerate(("cold sync (s)", "no-change re-run (s)")):
        here, there = times["local"][index], times["s3"][index]
        print(f"{what:24}{here:10.2f}{there:10.2f}{there / here:10.2f}")
    for what in ("page (JSON)", "file (20 kB)"):
        here, there = loads["local"][what], loads["s3"][what]
        ratio = there.requests_per_second / here.requests_per_second
        print(
            f"{what + ' req/s':24}{here.requests_per_second:10.0f}"
            f"{there.requests_per_second:10.0f}{ratio:10.2f}"
            f"   (errors: {here.errors} local, {there.errors} S3)"
        )


if __name__ == "__main__":
    main()
