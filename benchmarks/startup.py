"""Benchmark: how long `cellar` takes to answer before it does any work.

Runs each command ROUNDS times as a fresh process and prints the median wall time, with the
ratio to baselines measured in the same run: the bare interpreter (``python -c pass``, the floor
no Python command can beat), ``pip --version`` (a command-line tool people run every day), and
``bandersnatch --version`` and ``--help``, the tool Cellar replaces, when one is given with
``--bandersnatch`` or found on PATH (install it in a venv of its own: its dependencies are not
Cellar's). The goal (issue 10): ``cellar --version`` and ``cellar --help`` well under 0.3 s.

Commands that read a configuration are run against a tiny one whose mirror directory does not
exist, so each stops right after loading what it needs (``status``: exit 2, no mirror yet).

Run: ``python benchmarks/startup.py [--rounds 20]`` (no network).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL = 0.3


def median_seconds(command: list[str], rounds: int) -> float:
    """Return the median wall time of ``rounds`` runs of ``command`` (output discarded)."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--bandersnatch", help="its executable (default: on PATH)")
    args = parser.parse_args()
    bandersnatch = args.bandersnatch or shutil.which("bandersnatch")
    python = sys.executable
    cellar = [python, "-m", "cellar"]
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "cellar.toml"
        config.write_text('[mirror]\ndirectory = "none"\nupstream = "http://127.0.0.1:9/"\n')
        baselines = {
            "python -c pass": [python, "-c", "pass"],
            "pip --version": [python, "-m", "pip", "--version"],
        }
        if bandersnatch:
            baselines["bandersnatch --version"] = [bandersnatch, "--version"]
            baselines["bandersnatch --help"] = [bandersnatch, "--help"]
        commands = {
            "cellar --version": [*cellar, "--version"],
            "cellar --help": [*cellar, "--help"],
            "cellar mirror --help": [*cellar, "mirror", "--help"],
            "cellar status (no mirror)": [*cellar, "status", "-c", str(config)],
            "cellar client-config --shell sh": [
                *cellar,
                *("client-config", "--url", "http://127.0.0.1/", "--shell", "sh"),
            ],
            "cellar nginx-config": [*cellar, "nginx-config", "-c", str(config)],
        }
        measured = {
            name: median_seconds(command, args.rounds)
            for name, command in {**baselines, **commands}.items()
        }
    floor, pip = measured["python -c pass"], measured["pip --version"]
    other = measured.get("bandersnatch --version")
    print(f"median of {args.rounds} runs each (seconds; ratios to the baselines)")
    print(f"{'command':36} {'seconds':>8} {'/python':>8} {'/pip':>6} {'/bandersnatch':>14}")
    for name, seconds in measured.items():
        versus = f"{seconds / other:14.2f}" if other else f"{'-':>14}"
        print(f"{name:36} {seconds:8.3f} {seconds / floor:8.1f} {seconds / pip:6.2f} {versus}")
    if not other:
        print("(no bandersnatch: give --bandersnatch PATH for the ratio to the tool replaced)")
    for name in ("cellar --version", "cellar --help"):
        verdict = "meets" if measured[name] < GOAL else "MISSES"
        print(f"{name}: {measured[name]:.3f} s {verdict} the goal of under {GOAL} s")


if __name__ == "__main__":
    main()
