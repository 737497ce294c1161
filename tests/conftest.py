"""Fixtures every test may use: a local upstream index, and an environment for real installers.

Nothing here reaches the network; the index listens on 127.0.0.1 only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.installers import clean_env
from tests.support.upstream import LocalIndex

if TYPE_CHECKING:
    from tests.support.s3 import S3Server

#: The tests' servers are all on loopback: never through a proxy the machine may set (the
#: proxy tests set their own variables).
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost,::1"


@pytest.fixture
def local_index() -> Iterator[LocalIndex]:
    """A started, empty :class:`LocalIndex`; stopped (every connection closed) after the test."""
    with LocalIndex() as index:
        yield index


@pytest.fixture
def installer_env(tmp_path: Path) -> dict[str, str]:
    """Environment variables for pip and uv that read no configuration from this machine."""
    return clean_env(tmp_path / "installer")


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """A real S3-protocol server on 127.0.0.1 (``tests/support/s3.py``), and the credentials
    to reach it in this process's environment (so processes the tests start have them too)."""
    from tests.support.s3 import S3_ENV, s3_server  # noqa: PLC0415 - moto only when needed

    saved = {name: os.environ.get(name) for name in S3_ENV}
    os.environ.update(S3_ENV)
    try:
        with s3_server() as server:
            yield server
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
