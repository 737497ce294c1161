"""A real S3-protocol server on 127.0.0.1 for the tests: moto's server mode (its own HTTP
server, in a thread of the test process), which Cellar reaches over HTTP with boto3 as it would
reach AWS S3, MinIO or Ceph RGW. No client is mocked.

What moto does not emulate (so these tests cannot show it): the real services' consistency and
timing under load, their request-rate limits, lifecycle rules, and checksums beyond ETag/MD5.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from moto.server import ThreadedMotoServer

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: What every process the tests start needs to reach the server: fixed credentials (moto takes
#: any), a region, and no shared files or instance metadata from the machine.
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "cellar-tests",
    "AWS_SECRET_ACCESS_KEY": "cellar-tests-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
_NAMES = count(1)


@dataclass(frozen=True)
class S3Server:
    """A running S3-protocol server: its endpoint URL, and one client of it (closed with the
    server)."""

    endpoint: str
    _client: S3Client

    def client(self) -> S3Client:
        return self._client

    def new_bucket(self) -> str:
        """Create a bucket of its own for one test; return its name."""
        name = f"cellar-test-{os.getpid()}-{next(_NAMES)}"
        self.client().create_bucket(Bucket=name)
        return name

    def objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        """Return every object below ``prefix`` (keys without it) and its bytes."""
        client = self.client()
        found: dict[str, bytes] = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                key = entry["Key"]
                body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
                found[key[len(prefix) :]] = body
        return found

    def upload_tree(self, root: Path, bucket: str, prefix: str = "") -> int:
        """Put every regular file below ``root`` into ``bucket`` under ``prefix``."""
        client = self.client()
        uploaded = 0
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink():
                key = prefix + path.relative_to(root).as_posix()
                client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
                uploaded += 1
        return uploaded


@contextmanager
def s3_server() -> Iterator[S3Server]:
    """Start moto's S3 server on a free port of 127.0.0.1; stop it at the end."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
    )
    try:
        yield S3Server(endpoint, client)
    finally:
        client.close()
        server.stop()


def storage_table(server: S3Server, bucket: str, *, prefix: str = "", extra: str = "") -> str:
    """The ``[storage]`` table of a configuration for ``bucket`` on ``server``."""
    return (
        f'[storage]\nbackend = "s3"\nbucket = "{bucket}"\nendpoint-url = "{server.endpoint}"\n'
        f'region = "us-east-1"\naddressing-style = "path"\n'
        + (f'prefix = "{prefix}"\n' if prefix else "")
        + extra
    )


def copy_bucket(server: S3Server, bucket: str, prefix: str, into: Path) -> Path:
    """Write every object below ``prefix`` as a file below ``into`` (the tree as a directory,
    for the local checks); return ``into``."""
    for key, body in server.objects(bucket, prefix).items():
        path = into / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return into


@dataclass
class SlowRelay:
    """A TCP relay in front of the S3 server that lets requests through slowly (``pause``
    after every ``chunk`` bytes from the client) and notes each PUT of a distribution file as
    it starts: a test can then kill a client in the middle of an upload."""

    target: tuple[str, int]
    chunk: int = 8192
    pause: float = 0.02
    puts: list[str] = field(default_factory=list)
    _listener: socket.socket | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> SlowRelay:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        assert self._listener is not None
        self._listener.close()

    @property
    def endpoint(self) -> str:
        assert self._listener is not None
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, upward: bool) -> None:
        seen = b""
        try:
            while data := source.recv(self.chunk if upward else 65536):
                if upward:
                    seen = (seen + data)[-4096:]
                    for match in _PUT.finditer(seen):
                        target = match.group(1).decode()
                        if target not in self.puts:
                            self.puts.append(target)
                sink.sendall(data)
                if upward:
                    time.sleep(self.pause)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()


_PUT = re.compile(rb"PUT (\S+/packages/\S+?)(?:\?\S*)? HTTP/1\.1")
