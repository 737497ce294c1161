"""Benchmark: serving one mirror with Cellar's server, with nginx, and with pypiserver.

Builds a mirror of PROJECTS small projects plus ``app``, which depends on all of them, from the
local test index, then in the same run:

- loads a project page (PEP 691 JSON and HTML) and a file from each server with wrk (many
  concurrent connections on loopback) and prints requests per second and latency, with the
  ratio to nginx serving the same tree (the baseline);
- times a real ``pip install app`` (PROJECTS + 1 distributions) through Cellar's server and
  through nginx, each into a fresh virtual environment with no cache.

The servers: ``cellar serve`` with ``[serve] workers`` = the CPU count (and with one worker),
nginx with the configuration ``cellar nginx-config`` prints (one worker per CPU), and
pypiserver (waitress, its recommended server) over the same ``packages/`` directory;
pypiserver has no PEP 691 JSON, so its JSON row is empty. The load generator shares the
machine's cores with the server it measures: compare the ratios, not the absolute numbers. Both
cellar serve and nginx write an access log to a file, as in production.

Run: ``python benchmarks/serve.py [--projects 60] [--duration 5] [--connections 64]``.
Needs wrk and nginx (Debian packages; ``scripts/test.sh`` installs them) and pypiserver with waitress
(``pip install --group bench``). No network beyond 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.installers import clean_env, make_venv, pip_install
from tests.support.mirror import run_cli, write_config
from tests.support.nginx import NGINX, free_port, write_nginx_conf
from tests.support.packages import build_wheel
from tests.support.upstream import LocalIndex

JSON = "application/vnd.pypi.simple.v1+json"
HTML = "text/html"


@dataclass(frozen=True, slots=True)
class Load:
    """What wrk measured for one URL."""

    requests_per_second: float
    latency_p50_ms: float
    latency_p99_ms: float
    errors: int


def wait_for(url: str, deadline: float = 30.0) -> None:
    stop = time.monotonic() + deadline
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback only
                return
        except OSError:
            if time.monotonic() > stop:
                raise SystemExit(
                    f"server at {url} did not answer within {deadline:.0f} s"
                ) from None
            time.sleep(0.1)


@contextmanager
def process(command: list[str], url: str, log: Path) -> Iterator[None]:
    """Run a server ``command`` until the block ends; wait until ``url`` answers."""
    with log.open("w+", encoding="utf-8") as output:
        proc = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            try:
                wait_for(url)
            except SystemExit:
                output.seek(0)
                raise SystemExit(f"{command[0]}: {url} did not answer:\n{output.read()}") from None
            yield
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def cellar_server(config: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "cellar", "serve", "-c", str(config), "--port", str(port)]


def nginx_server(config: Path, port: int, prefix: Path) -> list[str]:
    """Put ``cellar nginx-config``'s output in a whole nginx.conf (one worker per CPU, as
    ``worker_processes auto`` in Debian's own); return the command that runs it."""
    result = run_cli("nginx-config", "-c", str(config), "--listen", f"127.0.0.1:{port}")
    if result.returncode != 0:
        raise SystemExit(f"cellar nginx-config failed: {result.stderr}")
    prefix.mkdir(parents=True, exist_ok=True)
    conf = write_nginx_conf(prefix, result.stdout)
    text = conf.read_text(encoding="utf-8")
    text = text.replace("worker_processes 1;", "worker_processes auto;")
    # Both servers keep an access log in a file, as in production.
    text = text.replace("access_log off;", f"access_log {prefix / 'access.log'};")
    conf.write_text(text, "utf-8")
    globals_ = f"daemon off; pid {prefix / 'nginx.pid'}; error_log stderr;"
    return [NGINX, "-p", str(prefix), "-c", str(conf), "-g", globals_]


def pypiserver(packages: Path, port: int) -> list[str]:
    executable = shutil.which("pypi-server") or str(Path(sys.executable).parent / "pypi-server")
    if not Path(executable).exists():
        raise SystemExit("pypiserver is not installed: pip install --group bench")
    return [
        executable,
        "run",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--server",
        "auto",  # bottle's choice: waitress when installed, as the bench group does
        *("--authenticate", ".", "--passwords", "."),
        "--disable-fallback",
        str(packages),
    ]


_LATENCY = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, accept: str, *, duration: int, connections: int) -> Load:
    command = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "-H",
        f"Accept: {accept}",
        url,
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = {p: float(v) * _UNITS[u] for p, v, u in _LATENCY.findall(out)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    count = int(errors.group(1)) if errors else 0
    if socket_errors:
        count += sum(int(n) for n in socket_errors.groups())
    return Load(rps, latency.get("50", float("nan")), latency.get("99", float("nan")), count)


def timed_install(index_url: str, scratch: Path, label: str) -> float:
    python = make_venv(scratch / f"venv-{label}", sys.executable)
    env = clean_env(scratch / f"env-{label}")
    started = time.perf_counter()
    result = pip_install(python, index_url, "app", env=env)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"pip install through {label} failed:\n{result.stdout}{result.stderr}")
    return seconds


def build_mirror(root: Path, projects: int) -> tuple[Path, str, str]:
    """Mirror ``projects`` libraries and ``app`` into ``root``; return the config, a project
    name and the path of one of its files below the web root."""
    names = [f"lib-{i:03d}" for i in range(projects)]
    with LocalIndex() as index:
        for name in names:
            for version in ("1.0", "1.1"):
                index.add(build_wheel(name, version, extra_files={"data.bin": os.urandom(20_000)}))
        index.add(build_wheel("app", "1.0", requires_dist=names))
        config = write_config(root, index.url, ["app"], extra_packages="versions = 0")
        result = run_cli("mirror", "-c", str(config), timeout=3600)
        if result.returncode != 0:
            raise SystemExit(result.stderr[-2000:])
    web = root / "mirror" / "web"
    wheel = next((web / "packages").rglob("lib_000-1.1-*.whl"))
    return config, "lib-000", wheel.relative_to(web).as_posix()


def load_arguments() -> argparse.Namespace:
    """The size of the mirror and of the load (shared by the serving benchmarks)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=60)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    return parser.parse_args()


def main() -> None:
    """Run the benchmark and print the tables."""
    args = load_arguments()
    for program in ("wrk", "nginx"):
        if shutil.which(program) is None:
            raise SystemExit(f"{program} is not installed (Debian package {program})")
    cpus = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        config, project, file_path = build_mirror(scratch, args.projects)
        web = config.parent / "mirror" / "web"
        # Both servers keep an access log in a file, as in production.
        text = config.read_text(encoding="utf-8")
        single = config.parent / "single.toml"
        single.write_text(f'{text}\n[serve]\naccess-log = "access-1.log"\n', encoding="utf-8")
        multi = config.parent / "multi.toml"
        multi.write_text(
            f'{text}\n[serve]\nworkers = {cpus}\naccess-log = "access-{cpus}.log"\n',
            encoding="utf-8",
        )
        servers = {
            f"cellar serve, {cpus} workers": lambda port: cellar_server(multi, port),
            "cellar serve, 1 worker": lambda port: cellar_server(single, port),
            "nginx (baseline)": lambda port: nginx_server(config, port, scratch / "nginx"),
            "pypiserver (waitress)": lambda port: pypiserver(web / "packages", port),
        }
        loads: dict[str, dict[str, Load | None]] = {}
        installs: dict[str, float] = {}
        for label, command_for in servers.items():
            port = free_port()
            base = f"http://127.0.0.1:{port}/"
            log = scratch / f"{label.split()[0]}-{port}.log"
            with process(command_for(port), f"{base}simple/", log):
                page = f"{base}simple/{project}/"
                file_url = f"{base}{file_path}"
                if label.startswith("pypiserver"):
                    file_url = f"{base}packages/{Path(file_path).name}"
                row: dict[str, Load | None] = {}
                row["page (JSON)"] = (
                    None
                    if label.startswith("pypiserver")
                    else wrk(page, JSON, duration=args.duration, connections=args.connections)
                )
                row["page (HTML)"] = wrk(
                    page, HTML, duration=args.duration, connections=args.connections
                )
                row["file (40 kB)"] = wrk(
                    file_url, "*/*", duration=args.duration, connections=args.connections
                )
                loads[label] = row
                if label.startswith(("cellar serve, " + str(cpus), "nginx")):
                    installs[label] = timed_install(f"{base}simple/", scratch, label.split()[0])
        report(loads, installs, args, cpus)


def report(
    loads: dict[str, dict[str, Load | None]],
    installs: dict[str, float],
    args: argparse.Namespace,
    cpus: int,
) -> None:
    baseline = loads["nginx (baseline)"]
    print(
        f"{args.projects + 1} projects; wrk: 2 threads, {args.connections} connections, "
        f"{args.duration} s per URL; {cpus} CPUs shared by server and load generator"
    )
    print(
        f"{'server':28}{'URL':14}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'vs nginx':>10}"
    )
    for label, row in loads.items():
        for what, load in row.items():
            if load is None:
                print(f"{label:28}{what:14}{'(no PEP 691 JSON)':>46}")
                continue
            base = baseline[what]
            ratio = load.requests_per_second / base.requests_per_second if base else float("nan")
            print(
                f"{label:28}{what:14}{load.requests_per_second:10.0f}{load.latency_p50_ms:9.2f}"
                f"{load.latency_p99_ms:9.2f}{load.errors:8d}{ratio:10.2f}"
            )
    print()
    print(f"pip install app ({args.projects + 1} distributions), fresh venv, no cache:")
    nginx_seconds = next(v for k, v in installs.items() if k.startswith("nginx"))
    for label, seconds in installs.items():
        print(f"  {label:28}{seconds:7.2f} s  {seconds / nginx_seconds:5.2f}x nginx")


if __name__ == "__main__":
    main()
