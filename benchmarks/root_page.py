"""Rebuild a mirror's root page from its state, as ``cellar mirror`` does: time it alone.

Run: ``python benchmarks/root_page.py CONFIG`` (``benchmarks/mirror.py`` runs it).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from cellar.config import load_config
from cellar.keep.pages import root_pages
from cellar.state import MirrorState
from cellar.storage import atomic_write_all


def main() -> None:
    """Render the root pages of every project the state knows and write them in place."""
    config = load_config(Path(sys.argv[1]))
    started = time.perf_counter()
    with MirrorState.open(config.mirror.directory, create=False) as state:
        names = state.project_names().values()
        pages = root_pages(names)
    simple = config.mirror.web_root / "simple"
    atomic_write_all({simple / name: body for name, body in pages.items()})
    print(f"{len(pages)} root page files, {sum(map(len, pages.values()))} bytes, "
          f"in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
