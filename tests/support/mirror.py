"""Helpers for tests of a Cellar mirror: write its config, check it is consistent, serve it."""

from __future__ import annotations

import hashlib
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

PAGE_FILES = ("index.html", "index.v1_html", "index.v1_json")

#: ``[packages]`` lines that mirror every version a requirement allows, sdists too, and no
#: dependencies: what the tests of mirroring mechanics (not of the closure) want.
EVERY_VERSION = 'versions = 0\nsdists = "all"\ndependencies = false'


def write_config(
    directory: Path,
    upstream: str,
    requirements: Sequence[str],
    *,
    extra_mirror: str = "",
    extra_packages: str = "",
) -> Path:
    """Write a ``cellar.toml`` into ``directory`` mirroring into ``directory/mirror``; return it."""
    reqs = ", ".join(json.dumps(r) for r in requirements)
    path = directory / "cellar.toml"
    path.write_text(
        f'[mirror]\ndirectory = "mirror"\nupstream = "{upstream}"\nretries = 2\n{extra_mirror}\n'
        f"[packages]\nrequirements = [{reqs}]\n{extra_packages}\n",
        encoding="utf-8",
    )
    return path


def listed_files(
    web_root: Path, project: str, *, hash_index: bool = False
) -> dict[str, dict[str, object]]:
    """Return the JSON page's files of ``project`` by file name (empty if it has no page)."""
    directory = web_root / "simple" / project[0] if hash_index else web_root / "simple"
    page = directory / project / "index.v1_json"
    if not page.exists():
        return {}
    return {f["filename"]: f for f in json.loads(page.read_bytes())["files"]}


def assert_consistent(
    web_root: Path, *, root_complete: bool = True, hash_index: bool = False
) -> int:
    """Assert that every file every page lists is on disk with the stated size and sha256.

    Checks the JSON and both HTML pages of every project, that the three agree, and that the
    root pages list only projects that have pages (exactly those with ``root_complete``; a
    run killed with SIGKILL may leave the root a step behind). With ``hash_index`` the project
    pages are in ``simple/<first letter>/<name>/``. Returns how many files were checked.
    """
    simple = web_root / "simple"
    parents = [simple] if not hash_index else sorted(p for p in simple.iterdir() if p.is_dir())
    directories = {
        p.name: p
        for parent in parents
        if parent.exists()
        for p in parent.iterdir()
        if p.is_dir() and any((p / name).is_file() for name in PAGE_FILES)
    }
    projects = sorted(directories)
    listed: list[str] = []
    if projects:
        root = json.loads((simple / "index.v1_json").read_bytes())
        listed = sorted(_normal(p["name"]) for p in root["projects"])
        assert set(listed) <= set(projects)
        if root_complete:
            assert listed == projects
        root_html = (simple / "index.html").read_text()
        for project in listed:
            assert f'href="{project}/"' in root_html
    checked = 0
    for project in projects:
        present = [name for name in PAGE_FILES if (directories[project] / name).is_file()]
        if project not in listed and len(present) < len(PAGE_FILES):
            # A kill between the pages of a project no root lists yet: no client is led to
            # it, and the pages there must still list only what is on disk.
            checked += _check_partial(web_root, directories[project], present)
            continue
        for name in PAGE_FILES:
            assert (directories[project] / name).is_file(), f"{project}/{name} missing"
        page_url = f"http://mirror.test/simple/{project}/"
        html = (directories[project] / "index.html").read_text()
        assert html == (directories[project] / "index.v1_html").read_text()
        hrefs = dict(
            (m.group(2), m.group(1))
            for m in re.finditer(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', html)
        )
        entries = listed_files(web_root, project, hash_index=hash_index)
        for filename, entry in entries.items():
            url = urljoin(page_url, str(entry["url"]))
            assert hrefs[filename].split("#")[0] == entry["url"], filename
            local = web_root / unquote(urlsplit(url).path).lstrip("/")
            assert local.resolve().is_relative_to(web_root.resolve())
            data = local.read_bytes()
            assert len(data) == entry["size"], filename
            assert hashlib.sha256(data).hexdigest() == entry["hashes"]["sha256"], filename  # type: ignore[index]
            metadata = entry.get("core-metadata")
            if metadata:
                meta = Path(str(local) + ".metadata").read_bytes()
                assert hashlib.sha256(meta).hexdigest() == metadata["sha256"]  # type: ignore[index]
            checked += 1
        assert len(hrefs) == len(entries)
    return checked


def _check_partial(web_root: Path, directory: Path, present: Sequence[str]) -> int:
    """Check that the pages ``present`` of a project with only some pages link only files on
    disk; return how many links were checked."""
    checked = 0
    page_url = f"http://mirror.test/{directory.relative_to(web_root).as_posix()}/"
    for name in present:
        text = (directory / name).read_text()
        if name == "index.v1_json":
            urls = [str(f["url"]) for f in json.loads(text)["files"]]
        else:
            urls = re.findall(r'<a href="([^"]+)"', text)
        for url in urls:
            local = web_root / unquote(urlsplit(urljoin(page_url, url)).path).lstrip("/")
            assert local.is_file(), f"{directory.name}/{name} lists {url}, not on disk"
            checked += 1
    return checked


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m cellar *args`` as a real process and return it (never raises on exit code)."""
    return subprocess.run(
        [sys.executable, "-m", "cellar", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


#: ``python -m cellar``, with Ctrl-C's default handling: a shell that starts the test run in
#: the background (``pytest &``) starts it with SIGINT ignored, and every child inherits that,
#: while a terminal's Ctrl-C reaches a process that has the default.
INTERRUPTIBLE_CELLAR = (
    "-c",
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from cellar.cli import main; sys.exit(main())",
)


def interruptible_cellar(*args: str) -> list[str]:
    """Return the command line of ``python -m cellar *args`` that SIGINT interrupts."""
    return [sys.executable, *INTERRUPTIBLE_CELLAR, *args]


@contextmanager
def cellar_serve(config: Path, *, context: ssl.SSLContext | None = None) -> Iterator[str]:
    """Run ``cellar serve`` on a free loopback port as a real process; yield its base URL.

    ``context`` is the TLS context that trusts a server configured for HTTPS.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "cellar", "serve", "-c", str(config), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert process.stderr is not None
    try:
        base = None
        deadline = time.monotonic() + 30
        lines = []
        while base is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            lines.append(line)
            match = re.search(r"at (https?://127\.0\.0\.1:\d+/)", line)
            if match:
                base = match.group(1)
        assert base is not None, f"cellar serve did not start: {''.join(lines)}"
        # Keep reading its log so a full pipe never stalls the server.
        drain = threading.Thread(target=lines.extend, args=(process.stderr,), daemon=True)
        drain.start()
        with urllib.request.urlopen(base + "health", timeout=10, context=context) as response:  # noqa: S310
            assert response.status == 200
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        finally:
            process.stdout.close()  # type: ignore[union-attr]
            process.stderr.close()
