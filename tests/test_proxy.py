"""Reaching the upstream through a forwarding HTTP proxy: the environment's, or [mirror] proxy.

A real proxy (tests/support/proxy.py) on 127.0.0.1 forwards to the local index; each test
checks from both sides that the requests went through it (or, with NO_PROXY, did not).
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from cellar.cli import main
from tests.support.mirror import EVERY_VERSION, assert_consistent, listed_files, write_config
from tests.support.packages import build_wheel
from tests.support.proxy import ForwardProxy
from tests.support.upstream import LocalIndex


@pytest.fixture
def populated(local_index: LocalIndex) -> LocalIndex:
    local_index.add(build_wheel("alpha", "1.0"))
    local_index.add(build_wheel("beta", "1.0", requires_dist=["alpha"]))
    return local_index


def mirror(tmp_path: Path, index: LocalIndex, extra: str = "") -> int:
    config = write_config(
        tmp_path, index.url, ["alpha", "beta"], extra_mirror=extra, extra_packages=EVERY_VERSION
    )
    return main(["mirror", "-c", str(config)])


def test_http_proxy_from_the_environment(
    tmp_path: Path,
    populated: LocalIndex,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY")
        monkeypatch.delenv("no_proxy")
        assert mirror(tmp_path, populated) == 0
        through = proxy.forwarded()
    assert any(url.endswith("/simple/beta/") for url in through)
    assert any(url.endswith("alpha-1.0-py3-none-any.whl") for url in through)
    # Every request the index saw came through the proxy.
    assert len(populated.requests) == len(through)
    assert len(listed_files(tmp_path / "mirror/web", "alpha")) == 1
    assert_consistent(tmp_path / "mirror/web")


def test_no_proxy_is_honoured(
    tmp_path: Path,
    populated: LocalIndex,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        assert mirror(tmp_path, populated) == 0
        assert proxy.forwarded() == []


def test_the_config_proxy_with_credentials_wins(
    tmp_path: Path,
    populated: LocalIndex,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with ForwardProxy(credentials=("mirror", "p@ss:word")) as proxy, ForwardProxy() as other:
        monkeypatch.setenv("HTTP_PROXY", other.url)  # the config's proxy wins over this
        monkeypatch.delenv("NO_PROXY")
        monkeypatch.delenv("no_proxy")
        url = proxy.url.replace("http://", "http://mirror:p%40ss%3Aword@")
        assert mirror(tmp_path, populated, extra=f'proxy = "{url}"') == 0
        assert proxy.forwarded() and other.forwarded() == []
        capsys.readouterr()
        wrong = proxy.url.replace("http://", "http://mirror:wrong@")
        (tmp_path / "second").mkdir()
        assert mirror(tmp_path / "second", populated, extra=f'proxy = "{wrong}"') == 1
        out = capsys.readouterr().out
    assert "the proxy answered 407 Proxy Authentication Required" in out, out


def test_an_unreachable_proxy_is_named(
    tmp_path: Path,
    populated: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with ForwardProxy() as proxy:
        dead = proxy.url  # closed again once the block ends
    assert mirror(tmp_path, populated, extra=f'proxy = "{dead}"') == 1
    port = dead.rsplit(":", 1)[1]
    assert f"cannot connect to the proxy 127.0.0.1:{port}" in capsys.readouterr().out


def test_a_proxy_that_is_not_a_url_is_a_config_error(
    tmp_path: Path,
    populated: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert mirror(tmp_path, populated, extra='proxy = "socks5://u:secret@host:1080"') == 2
    err = capsys.readouterr().err
    assert "[mirror] proxy: must be http://[user:password@]host:port" in err
    assert "secret" not in err


def test_netrc_logins_reach_their_host_alone(
    tmp_path: Path,
    populated: LocalIndex,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # ~/.netrc, as pip and uv read it: the index's host gets its login on every request, the
    # proxy its own (read once per run, not once per request).
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login reader password s3cret\n", encoding="utf-8")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with ForwardProxy(credentials=("reader", "s3cret")) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY")
        monkeypatch.delenv("no_proxy")
        assert mirror(tmp_path, populated) == 0
        assert proxy.forwarded()
    expected = "Basic " + base64.b64encode(b"reader:s3cret").decode()
    assert populated.requests
    assert {r.headers["Authorization"] for r in populated.requests} == {expected}


def test_no_netrc_login_for_other_hosts(
    tmp_path: Path,
    populated: LocalIndex,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine elsewhere.invalid login reader password s3cret\n", encoding="utf-8")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert mirror(tmp_path, populated) == 0
    assert populated.requests
    assert all(r.headers["Authorization"] is None for r in populated.requests)


def test_a_netrc_login_does_not_follow_a_redirect_to_another_host(
    tmp_path: Path,
    populated: LocalIndex,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The index's login must not reach the host a file redirects to (here the same server
    # named localhost, which the netrc file does not name).
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login reader password s3cret\n", encoding="utf-8")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    path = populated.file_path("alpha-1.0-py3-none-any.whl")
    elsewhere = populated.base.replace("127.0.0.1", "localhost") + path
    populated.fault(path, redirect_to=elsewhere, times=1)
    assert mirror(tmp_path, populated) == 0
    by_host = {
        (r.headers["Host"].split(":")[0], r.path): r.headers["Authorization"]
        for r in populated.requests
    }
    assert by_host[("127.0.0.1", path)] is not None  # asked first, with the index's login
    assert by_host[("localhost", path)] is None  # then redirected: no login sent along
