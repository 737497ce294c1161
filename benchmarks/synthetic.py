"""A synthetic upstream of any size, generated on disk and served by nginx on 127.0.0.1.

What a PEP 691 mirror client and bandersnatch both need from PyPI, as static files:

- ``simple/index.json``: the root page with every project's ``_last-serial`` (PEP 691 1.1);
- ``simple/<name>/index.json``: each project page (JSON, with sha256, size, upload time);
- ``pypi/<name>/json``: PyPI's JSON API document, which bandersnatch reads, served with the
  ``X-PyPI-Last-Serial`` header it checks (from an nginx map the generator writes);
- ``packages/<aa>/<bb>/<hash>/<file>``: the files, small and random (nobody installs them:
  the benchmarks mirror them, and neither tool reads their contents).

nginx gives every static file an ETag and Last-Modified and answers conditional requests with
304, as PyPI's CDN does. ``SyntheticIndex.change`` adds a release to some projects (new file,
new serial, pages rewritten, nginx reloaded), as an hour of PyPI activity would.
"""

from __future__ import annotations

import hashlib
import json
import random
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.nginx import NGINX, free_port, write_nginx_conf

UPLOAD_TIME = "2024-01-02T03:04:05.000000Z"


@dataclass
class _Project:
    name: str
    serial: int
    files: list[dict[str, object]] = field(default_factory=list)


@dataclass
class SyntheticIndex:
    """``projects`` projects of ``files`` files of ``size`` bytes each under ``root``."""

    root: Path
    projects: int
    files: int
    size: int = 1024
    port: int = 0
    _serial: int = 0
    _projects: dict[str, _Project] = field(default_factory=dict)
    _nginx: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simple/"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def names(self) -> list[str]:
        return list(self._projects)

    def generate(self) -> None:
        """Write every project with its files, then the root page and the serial map."""
        self.port = self.port or free_port()
        rng = random.Random(0)
        for number in range(self.projects):
            name = f"p{number:06d}"
            project = self._projects[name] = _Project(name, 0)
            for version in range(1, self.files + 1):
                self._add_file(project, f"{version}.0", rng)
            self._write_project(project)
        self._write_root()

    def change(self, names: Iterable[str]) -> int:
        """Add a release to each of ``names`` (a new file, a new serial); return how many."""
        rng = random.Random(self._serial)
        changed = 0
        for name in names:
            project = self._projects[name]
            self._add_file(project, f"{len(project.files) + 1}.0", rng)
            self._write_project(project)
            changed += 1
        self._write_root()
        if self._nginx is not None:
            self._nginx.send_signal(signal.SIGHUP)  # the serial map changed
            time.sleep(1.0)
        return changed

    def _add_file(self, project: _Project, version: str, rng: random.Random) -> None:
        self._serial += 1
        project.serial = self._serial
        filename = f"{project.name}-{version}-py3-none-any.whl"
        body = rng.randbytes(self.size)
        sha256 = hashlib.sha256(body).hexdigest()
        relative = f"packages/{sha256[:2]}/{sha256[2:4]}/{sha256[4:]}/{filename}"
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        project.files.append(
            {
                "filename": filename,
                "version": version,
                "relative": relative,
                "sha256": sha256,
                "md5": hashlib.md5(body).hexdigest(),  # noqa: S324 - PyPI's JSON has it
                "size": len(body),
            }
        )

    def _write_project(self, project: _Project) -> None:
        simple = {
            "meta": {"api-version": "1.1", "_last-serial": project.serial},
            "name": project.name,
            "versions": [f["version"] for f in project.files],
            "files": [
                {
                    "filename": f["filename"],
                    "url": f"../../{f['relative']}",
                    "hashes": {"sha256": f["sha256"]},
                    "size": f["size"],
                    "upload-time": UPLOAD_TIME,
                    "requires-python": ">=3.8",
                }
                for f in project.files
            ],
        }
        page = self.root / "simple" / project.name / "index.json"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(json.dumps(simple))
        releases = {
            str(f["version"]): [
                {
                    "filename": f["filename"],
                    "url": f"{self.base}/{f['relative']}",
                    "digests": {"sha256": f["sha256"], "md5": f["md5"]},
                    "size": f["size"],
                    "packagetype": "bdist_wheel",
                    "python_version": "py3",
                    "requires_python": ">=3.8",
                    "yanked": False,
                    "yanked_reason": None,
                    "upload_time": UPLOAD_TIME[:19],
                    "upload_time_iso_8601": UPLOAD_TIME,
                }
            ]
            for f in project.files
        }
        document = {
            "info": {"name": project.name, "version": project.files[-1]["version"]},
            "last_serial": project.serial,
            "releases": releases,
            "urls": releases[str(project.files[-1]["version"])],
        }
        api = self.root / "pypi" / project.name / "json"
        api.parent.mkdir(parents=True, exist_ok=True)
        api.write_text(json.dumps(document))

    def _write_root(self) -> None:
        root = {
            "meta": {"api-version": "1.1", "_last-serial": self._serial},
            "projects": [
                {"name": p.name, "_last-serial": p.serial} for p in self._projects.values()
            ],
        }
        (self.root / "simple").mkdir(parents=True, exist_ok=True)
        temp = self.root / "simple" / ".index.json.tmp"
        temp.write_text(json.dumps(root))
        temp.replace(self.root / "simple" / "index.json")
        lines = "".join(f"/pypi/{p.name}/json {p.serial};\n" for p in self._projects.values())
        (self.root / "serials.map").write_text(lines)

    def start(self, prefix: Path) -> None:
        """Serve the tree with nginx (one worker per CPU) on the port ``generate`` chose."""
        prefix.mkdir(parents=True, exist_ok=True)
        site = f"""
map_hash_max_size 4194304;
map_hash_bucket_size 128;
map $uri $pypi_serial {{
    default "";
    include {self.root / "serials.map"};
}}
server {{
    listen 127.0.0.1:{self.port};
    root {self.root};
    location = /simple/ {{
        default_type application/vnd.pypi.simple.v1+json;
        try_files /simple/index.json =404;
    }}
    location ~ ^/simple/([^/]+)/$ {{
        default_type application/vnd.pypi.simple.v1+json;
        try_files /simple/$1/index.json =404;
    }}
    location /pypi/ {{
        default_type application/json;
        add_header X-PyPI-Last-Serial $pypi_serial always;
    }}
    location /packages/ {{
    }}
}}
"""
        conf = write_nginx_conf(prefix, site)
        text = conf.read_text().replace("worker_processes 1;", "worker_processes auto;")
        text = text.replace("worker_connections 256;", "worker_connections 4096;")
        conf.write_text(text)
        globals_ = f"daemon off; pid {prefix / 'nginx.pid'}; error_log stderr;"
        self._nginx = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(conf), "-g", globals_])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url, timeout=5):  # noqa: S310 - 127.0.0.1
                    return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("the synthetic upstream's nginx did not start")

    def stop(self) -> None:
        if self._nginx is not None:
            self._nginx.terminate()
            self._nginx.wait(timeout=30)
            self._nginx = None
