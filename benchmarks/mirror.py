"""Benchmark: Cellar against bandersnatch, mirroring the same synthetic upstream in one run.

A synthetic upstream (``benchmarks/synthetic.py``: PROJECTS projects of FILES files each,
generated on disk and served by nginx, with PEP 691 pages, PyPI's JSON API and serials) is
mirrored in full by both tools, each into its own directory, with the same number of workers
and no dependency resolution (bandersnatch has none). Measured, each as a fresh process:

- cold sync, no-change re-run, and a re-run after CHANGED (default 1 %) of the projects got a
  new release: wall time, upstream requests (nginx's access log) and peak memory, with
  Cellar / bandersnatch ratios;
- Cellar alone: ``cellar verify --fast``, ``cellar status``, rebuilding the root page, and
  ``cellar serve`` answering the root page (JSON), with peak memory.

Goals (issue 11): cold <= 0.5x, no-change <= 0.1x bandersnatch; no-change <= 5 s and one
request with serials; 1 % changed <= 10 % of cold; verify --fast over 1M files <= 60 s; root
page for 700k names <= 10 s and 300 MB. For the scale run: ``--projects 100000 --files 10``.

bandersnatch 8.2 needs Python >= 3.12. It is taken from ``--bandersnatch``, else PATH (the
``bench`` dependency group installs it on Python 3.12+), else installed once into a virtual
environment of its own (``~/.cache/cellar-bench/bandersnatch``) made with a CPython >= 3.12
found on the machine (pyenv or PATH); that one step needs the package registry. With
``--no-bandersnatch``, or none to be had, only Cellar's rows print. Needs nginx. The runs
themselves use no network beyond 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.synthetic import SyntheticIndex

from tests.support.installers import find_interpreters
from tests.support.nginx import free_port


@dataclass(frozen=True)
class Measure:
    """One command's wall time, peak resident memory, requests to the upstream and exit code."""

    seconds: float
    peak_mb: float
    requests: int
    code: int
    #: CPU time, user and system.
    cpu: float = 0.0


#: GNU time: it execs the command in a fresh process, so the peak memory it reports is the
#: command's own. (``wait4``'s counts the benchmark's memory too: the child starts as a copy.)
GNU_TIME = Path("/usr/bin/time")


def run(command: list[str], *, cwd: Path | None = None, log: Path | None = None) -> Measure:
    """Run ``command`` and return its wall time, CPU time and peak memory."""
    started = time.perf_counter()
    with tempfile.NamedTemporaryFile("r") as peak, Path(log or os.devnull).open("ab") as out:
        wrapped = [str(GNU_TIME), "-f", "%M", "-o", peak.name, *command]
        timed = GNU_TIME.exists()
        process = subprocess.Popen(wrapped if timed else command, cwd=cwd, stdout=out, stderr=out)
        _, status, usage = os.wait4(process.pid, 0)
        peak_kb = int(peak.read().split()[-1]) if timed else usage.ru_maxrss
    seconds = time.perf_counter() - started
    cpu = usage.ru_utime + usage.ru_stime
    return Measure(seconds, peak_kb / 1024, 0, os.waitstatus_to_exitcode(status), cpu)


class AccessLog:
    """Counts the requests nginx logged since the last ``mark``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def since(self) -> int:
        if not self.path.exists():
            return 0
        with self.path.open("rb") as stream:
            stream.seek(self.offset)
            return sum(1 for _ in stream)


def counted(access: AccessLog, command: list[str], *, log: Path | None = None) -> Measure:
    """``run``, with the requests the upstream logged meanwhile."""
    access.mark()
    measure = run(command, log=log)
    return Measure(measure.seconds, measure.peak_mb, access.since(), measure.code, measure.cpu)


def cellar_config(root: Path, index: SyntheticIndex, workers: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "requirements.txt").write_text("\n".join(index.names) + "\n")
    config = root / "cellar.toml"
    config.write_text(
        f'[mirror]\ndirectory = "mirror"\nupstream = "{index.url}"\nworkers = {workers}\n'
        '[packages]\nrequirements-files = ["requirements.txt"]\n'
        'versions = 0\nsdists = "all"\ndependencies = false\n'
    )
    return config


def bandersnatch_config(root: Path, index: SyntheticIndex, workers: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    config = root / "bandersnatch.conf"
    config.write_text(
        f"[mirror]\ndirectory = {root / 'mirror'}\nmaster = {index.base}\n"
        f"allow-non-https = true\nworkers = {workers}\ntimeout = 30\nglobal-timeout = 36000\n"
        "stop-on-error = false\njson = false\nrelease-files = true\n"
        "hash-index = false\nsimple-format = ALL\n"
    )
    return config


def serve_root(config: Path, cellar: list[str], scratch: Path) -> tuple[float, float, float]:
    """Start ``cellar serve``, time GET /simple/ (JSON) cold and warm; return (first request
    seconds, median of ten more, peak memory of the server in MB)."""
    port = free_port()
    server = subprocess.Popen(
        [*cellar, "serve", "-c", str(config), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=(scratch / "serve.log").open("wb"),
    )
    url = f"http://127.0.0.1:{port}/simple/"
    request = urllib.request.Request(url, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("cellar serve did not start") from None
                time.sleep(0.1)
        times = []
        for _ in range(11):
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=120) as reply:  # noqa: S310
                reply.read()
            times.append(time.perf_counter() - started)
        peak = _peak_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return times[0], statistics.median(times[1:]), peak


def _peak_mb(pid: int) -> float:
    """The peak memory of process ``pid`` and its children (the server's workers), in MB."""
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for one in pids:
        for line in Path(f"/proc/{one}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) / 1024
    return total


def main() -> None:  # noqa: PLR0915 - one benchmark, step by step
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=150)
    parser.add_argument("--files", type=int, default=27, help="files per project")
    parser.add_argument("--size", type=int, default=1024, help="bytes per file")
    parser.add_argument("--changed", type=float, default=0.01, help="share of projects changed")
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--bandersnatch", help="its executable (default: see above)")
    parser.add_argument("--no-bandersnatch", action="store_true", help="measure Cellar alone")
    parser.add_argument("--keep", help="generate into this directory and keep it")
    args = parser.parse_args()
    bandersnatch = None if args.no_bandersnatch else args.bandersnatch or find_bandersnatch()
    cellar = [sys.executable, "-m", "cellar"]
    scratch = Path(args.keep or tempfile.mkdtemp(prefix="cellar-bench-"))
    try:
        index = SyntheticIndex(scratch / "upstream", args.projects, args.files, args.size)
        started = time.perf_counter()
        index.generate()
        print(
            f"upstream: {args.projects} projects x {args.files} files of {args.size} B "
            f"({args.projects * args.files} files), generated in {time.perf_counter() - started:.1f} s"
        )
        index.start(scratch / "nginx")
        access = AccessLog(scratch / "nginx" / "access.log")
        _log_requests(scratch / "nginx", access.path)
        config = cellar_config(scratch / "cellar", index, args.workers)
        tools: dict[str, list[str]] = {"cellar": [*cellar, "mirror", "-c", str(config)]}
        if bandersnatch:
            bconfig = bandersnatch_config(scratch / "bandersnatch", index, args.workers)
            tools["bandersnatch"] = [bandersnatch, "-c", str(bconfig), "mirror"]
        rows: dict[str, dict[str, Measure]] = {}
        changed = max(1, round(args.projects * args.changed))
        for label in ("cold sync", "no-change re-run", f"{changed} projects changed"):
            if label.endswith("changed"):
                index.change(random.Random(1).sample(index.names, changed))
            rows[label] = {}
            for tool, command in tools.items():
                log = scratch / f"{tool}.log"
                rows[label][tool] = measure = counted(access, command, log=log)
                if measure.code != 0:
                    print(f"{tool} exited {measure.code} on {label}: see {log}")
        # Cellar with the root page's serials forced (what `auto` chooses once it pays).
        serials = config.read_text().replace("workers", 'root-serials = "always"\nworkers')
        forced = config.with_name("serials.toml")
        forced.write_text(serials)
        rows["no-change re-run, root serials"] = {
            "cellar": counted(access, [*cellar, "mirror", "-c", str(forced)])
        }
        report(rows, has_bandersnatch=bool(bandersnatch))
        alone = {
            "verify --fast": run([*cellar, "verify", "-c", str(config), "--fast"]),
            "status": run([*cellar, "status", "-c", str(config)]),
            "root page rebuild": run(
                [sys.executable, str(Path(__file__).with_name("root_page.py")), str(config)]
            ),
        }
        first, warm, serve_peak = serve_root(config, cellar, scratch)
        print()
        print(f"{'Cellar alone':34}{'seconds':>9}{'peak MB':>9}")
        for label, measure in alone.items():
            flag = "" if measure.code in (0, 1) else f"  (exit {measure.code})"
            print(f"{label:34}{measure.seconds:9.2f}{measure.peak_mb:9.0f}{flag}")
        print(f"{'serve root page, first request':34}{first:9.3f}{serve_peak:9.0f}")
        print(f"{'serve root page, median of 10':34}{warm:9.3f}")
    finally:
        index.stop()
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


BANDERSNATCH = "bandersnatch>=8.2,<9"


def find_bandersnatch() -> str | None:
    """Return a bandersnatch 8.2 executable: on PATH, else installed into a cached venv."""
    found = shutil.which("bandersnatch")
    if found:
        return found
    venv = Path.home() / ".cache" / "cellar-bench" / "bandersnatch"
    executable = venv / "bin" / "bandersnatch"
    if executable.exists():
        return str(executable)
    python = next(iter(find_interpreters((3, 12))), None)
    if python is None:
        print("no bandersnatch: it needs a CPython >= 3.12, and none was found")
        return None
    print(f"installing {BANDERSNATCH} into {venv} with {python}")
    subprocess.run([str(python), "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", BANDERSNATCH]
    subprocess.run(pip, check=True)
    return str(executable)


def _log_requests(prefix: Path, log: Path) -> None:
    """Turn on nginx's access log (the request counter) and reload it."""
    site = prefix / "site.conf"
    site.write_text(site.read_text().replace("server {", f"server {{\n    access_log {log};", 1))
    pid = int((prefix / "nginx.pid").read_text())
    os.kill(pid, 1)  # SIGHUP: reload
    time.sleep(1.0)


def report(rows: dict[str, dict[str, Measure]], *, has_bandersnatch: bool) -> None:
    print()
    header = f"{'':34}{'Cellar s':>9}{'cpu s':>7}{'req':>7}{'MB':>5}"
    if has_bandersnatch:
        header += f"{'bander s':>10}{'cpu s':>7}{'req':>7}{'MB':>5}{'ratio':>7}"
    print(header)
    cold = rows["cold sync"]["cellar"].seconds
    for label, measures in rows.items():
        c = measures["cellar"]
        line = f"{label:34}{c.seconds:9.2f}{c.cpu:7.2f}{c.requests:7d}{c.peak_mb:5.0f}"
        b = measures.get("bandersnatch")
        if b is not None:
            line += f"{b.seconds:10.2f}{b.cpu:7.2f}{b.requests:7d}{b.peak_mb:5.0f}"
            line += f"{c.seconds / b.seconds:7.2f}"
        print(line)
    changed = next(label for label in rows if label.endswith("changed"))
    print(
        f"\nCellar: re-run after changes / cold sync = {rows[changed]['cellar'].seconds / cold:.3f}"
    )


if __name__ == "__main__":
    main()
