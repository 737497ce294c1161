"""Real nginx for tests: a server block inside a minimal nginx.conf, run in the foreground on 127.0.0.1.

Everything nginx writes (temporary files, pid) stays in a temporary prefix directory; the error
log goes to standard error, which is collected and shown when nginx fails. Run as root, nginx
would hand its workers to ``nobody``, who cannot read pytest's private temporary directories:
then the workers stay root (``user root;``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
_TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on at the moment."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_nginx_conf(prefix: Path, server_text: str) -> Path:
    """Write ``prefix/nginx.conf`` holding ``server_text`` in its http block; return its path."""
    for name in _TEMP_PATHS:
        (prefix / "temp" / name).mkdir(parents=True, exist_ok=True)
    (prefix / "site.conf").write_text(server_text, encoding="utf-8")
    temp = "\n".join(f"    {name}_temp_path {prefix / 'temp' / name};" for name in _TEMP_PATHS)
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\nevents {{\n    worker_connections 256;\n}}\n"
        f"http {{\n    access_log off;\n{temp}\n    default_type application/octet-stream;\n"
        f"    include {prefix / 'site.conf'};\n}}\n",
        encoding="utf-8",
    )
    return conf


def _globals(prefix: Path) -> str:
    return f"daemon off; pid {prefix / 'nginx.pid'}; error_log stderr;"


def nginx_test(prefix: Path, server_text: str) -> subprocess.CompletedProcess[str]:
    """Run ``nginx -t`` on ``server_text`` inside a minimal nginx.conf; return the process."""
    conf = write_nginx_conf(prefix, server_text)
    return subprocess.run(
        [NGINX, "-t", "-p", str(prefix), "-c", str(conf), "-g", _globals(prefix)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@contextmanager
def running_nginx(prefix: Path, server_text: str, port: int) -> Iterator[None]:
    """Run nginx with ``server_text`` until the block ends; ready once ``port`` accepts.

    Raises AssertionError with nginx's own messages when it does not start.
    """
    conf = write_nginx_conf(prefix, server_text)
    log = (prefix / "stderr.log").open("w+", encoding="utf-8")
    process = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-c", str(conf), "-g", _globals(prefix)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise AssertionError(f"nginx exited with {process.returncode}: {log.read()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("nginx did not start listening") from None
                time.sleep(0.05)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        finally:
            log.close()
