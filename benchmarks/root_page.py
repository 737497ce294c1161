"""Rebuild a mirror's root page from its state, as ``cellar mirror`` does: time it alone.

``python benchmarks/root_page.py CONFIG`` rebuilds the root page of that mirror (what
``benchmarks/mirror.py`` runs); ``python benchmarks/root_page.py --names 700000`` renders the
root page of that many generated names (PyPI has about 700k) into a scratch directory, and
prints the time and the peak memory of the process. Goal (issue 11): 700k names in <= 10 s
and <= 300 MB.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from cellar.sync.pages import root_pages
from cellar.tree.atomic import atomic_write_all


def main() -> None:
    """Render the root pages and write them in place; print what it took."""
    parser = argparse.ArgumentParser()
    parser.add_argument("config", nargs="?", type=Path)
    parser.add_argument("--names", type=int, help="generated names instead of a mirror's")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.names:
        names = [f"Project-{number:07d}" for number in range(args.names)]
        with tempfile.TemporaryDirectory() as scratch:
            written = _write(Path(scratch), names)
    elif args.config:
        from cellar.config.load import load_config  # noqa: PLC0415 - only this mode needs it
        from cellar.state import MirrorState  # noqa: PLC0415

        config = load_config(args.config)
        with MirrorState.open(config.mirror.directory, create=False) as state:
            names = list(state.project_names().values())
        written = _write(config.mirror.web_root / "simple", names)
    else:
        parser.error("give a configuration or --names")
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{len(names)} names: {written} bytes in 3 files, {seconds:.2f} s, peak {peak:.0f} MB")
    sys.stdout.flush()


def _write(directory: Path, names: list[str]) -> int:
    pages = root_pages(names)
    atomic_write_all({directory / name: body for name, body in pages.items()})
    return sum(map(len, pages.values()))


if __name__ == "__main__":
    main()
