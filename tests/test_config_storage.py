"""The ``[storage]`` table: the local default, an S3 bucket, and every problem named."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellar.config.checks import ConfigError
from cellar.config.load import load_config
from cellar.tree.location import S3Settings, StorageSettings

BASE = '[mirror]\ndirectory = "m"\n[packages]\ndependencies = false\n'


def load(tmp_path: Path, storage: str) -> StorageSettings:
    path = tmp_path / "cellar.toml"
    path.write_text(f"{BASE}[storage]\n{storage}", encoding="utf-8")
    return load_config(path).mirror.storage


def test_the_tree_is_local_by_default(tmp_path: Path) -> None:
    path = tmp_path / "cellar.toml"
    path.write_text(BASE, encoding="utf-8")
    mirror = load_config(path).mirror
    assert mirror.storage == StorageSettings()
    assert mirror.tree.web_root == tmp_path / "m" / "web"
    assert mirror.tree.describe() == str(tmp_path / "m" / "web")
    assert load(tmp_path, 'backend = "local"\n') == StorageSettings()


def test_an_s3_bucket(tmp_path: Path) -> None:
    storage = load(
        tmp_path,
        'backend = "s3"\nbucket = "pypi.example-mirror"\nprefix = "/python/simple-tree/"\n'
        'endpoint-url = "https://minio.example:9000/"\nregion = "eu-west-1"\n'
        'addressing-style = "path"\nfiles = "redirect"\nredirect-seconds = 600\n'
        "cache-seconds = 2.5\n",
    )
    assert storage == StorageSettings(
        "s3",
        S3Settings(
            bucket="pypi.example-mirror",
            prefix="python/simple-tree",
            endpoint_url="https://minio.example:9000",
            region="eu-west-1",
            addressing_style="path",
            files="redirect",
            redirect_seconds=600,
            cache_seconds=2.5,
        ),
    )
    assert storage.s3 is not None
    assert storage.s3.url == "s3://pypi.example-mirror/python/simple-tree/"
    defaults = load(tmp_path, 'backend = "s3"\nbucket = "mirror"\n').s3
    assert defaults == S3Settings("mirror")


def test_every_problem_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(
            tmp_path,
            'backend = "s3"\nbucket = "Not_A_Bucket"\nprefix = "a/../b"\n'
            'endpoint-url = "ftp://store/x"\naddressing-style = "sideways"\nfiles = "mail"\n'
            "redirect-seconds = 0\ncache-seconds = 7200\naccess-key = 1\n",
        )
    text = str(caught.value)
    for expected in (
        "[storage] bucket: 'Not_A_Bucket' is not a bucket name",
        "[storage] prefix: 'a/../b': use folders of letters",
        "[storage] endpoint-url: must be an http:// or https:// URL with no path",
        "[storage] addressing-style: must be 'auto', 'path' or 'virtual', not 'sideways'",
        "[storage] files: must be 'stream' or 'redirect', not 'mail'",
        "[storage] redirect-seconds: must be 1 to 604800, not 0",
        "[storage] cache-seconds: must be 0 to 3600 seconds",
        "[storage] access-key: unknown key",
    ):
        assert expected in text


def test_s3_settings_need_the_s3_backend_and_a_bucket(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, 'bucket = "mirror"\n')
    assert "[storage] bucket: has no meaning with backend = 'local'" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, 'backend = "s3"\n')
    assert "[storage] bucket" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, 'backend = "ftp"\n')
    assert "[storage] backend: must be 'local' or 's3', not 'ftp'" in str(caught.value)
