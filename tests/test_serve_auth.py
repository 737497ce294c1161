"""Private means private: HTTP basic auth from an htpasswd file of bcrypt entries.

The parser is tested on literal files; the server runs for real on 127.0.0.1 with an htpasswd
file that tests rewrite while it serves; ``cellar serve`` is run as a real process to see it
refuse files it cannot use.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from cellar.config.serve import ServeSettings
from cellar.serve.auth import (
    REALM,
    BasicAuth,
    basic_credentials,
    parse_htpasswd,
    read_htpasswd,
)
from cellar.serve.errors import HtpasswdError
from tests.support.accept import PIP
from tests.support.mirror import run_cli, write_config
from tests.support.server import (
    WHEEL,
    WHEEL_BYTES,
    Served,
    ask,
    basic,
    bcrypt_hash,
    make_web_root,
    serving,
)

ALICE = ("alice", "wonderland")
BOB = ("bob", "s3cret:with:colons")
CHALLENGE = 'Basic realm="cellar"'


def write_htpasswd(path: Path, users: dict[str, str], prefix: str = "$2y$") -> Path:
    path.write_text("".join(f"{user}:{bcrypt_hash(pw, prefix)}\n" for user, pw in users.items()))
    return path


@pytest.fixture
def htpasswd(tmp_path: Path) -> Path:
    path = tmp_path / "htpasswd"
    path.write_text(
        "# mirror users\n\n"
        f"{ALICE[0]}:{bcrypt_hash(ALICE[1], '$2y$')}\n"
        f"{BOB[0]}:{bcrypt_hash(BOB[1], '$2b$')}\n"
    )
    return path


@pytest.fixture
def web_root(tmp_path: Path) -> Path:
    return make_web_root(tmp_path / "mirror" / "web")


@pytest.fixture
def served(web_root: Path, htpasswd: Path) -> Iterator[Served]:
    settings = ServeSettings(host="127.0.0.1", port=0, htpasswd=htpasswd)
    with serving(web_root, settings) as server:
        yield server


@pytest.fixture
def auth_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Records of ``cellar.serve.auth``, whatever propagation the CLI left configured."""
    logger = logging.getLogger("cellar.serve.auth")
    logger.addHandler(caplog.handler)
    old_level, old_propagate = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False  # each record once, not again through the root logger
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate


PATHS = ["/simple/", "/simple/foo-bar/", "/simple/Foo_Bar/", f"/{WHEEL}", "/nothing", "/"]


# --- the server ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_every_request_needs_credentials(served: Served, path: str, method: str) -> None:
    reply = ask(served, path, method, {"Accept": PIP})
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"] == CHALLENGE == f'Basic realm="{REALM}"'
    assert WHEEL_BYTES[:100] not in reply.body
    assert b"foo-bar" not in reply.body


@pytest.mark.parametrize("path", PATHS)
def test_valid_credentials_let_in(served: Served, path: str) -> None:
    for credentials in (ALICE, BOB):
        reply = ask(served, path, headers={"Accept": PIP}, auth=credentials)
        assert reply.status != 401
        assert reply.headers["WWW-Authenticate"] is None
    wheel = ask(served, f"/{WHEEL}", auth=ALICE)
    assert (wheel.status, wheel.body) == (200, WHEEL_BYTES)
    head = ask(served, "/simple/foo-bar/", "HEAD", {"Accept": PIP}, auth=BOB)
    assert (head.status, head.body) == (200, b"")


@pytest.mark.parametrize(
    "authorization",
    [
        basic("alice", "Wonderland"),
        basic("alice", ""),
        basic("carol", "wonderland"),
        basic("", "wonderland"),
        basic("bob", "s3cret"),
        "Basic " + base64.b64encode(b"alice").decode(),  # no colon
        "Basic " + base64.b64encode(b"\xffalice:wonderland").decode(),  # not UTF-8
        "Basic not base64!",
        "Basic",
        "Bearer " + base64.b64encode(b"alice:wonderland").decode(),
        "alice:wonderland",
    ],
)
def test_wrong_or_malformed_credentials_are_refused(served: Served, authorization: str) -> None:
    reply = ask(served, "/simple/", headers={"Authorization": authorization})
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"] == CHALLENGE


def test_scheme_case_and_spacing_do_not_matter(served: Served) -> None:
    token = base64.b64encode(b"alice:wonderland").decode()
    for authorization in (f"basic {token}", f"BASIC  {token} "):
        assert ask(served, "/simple/", headers={"Authorization": authorization}).status == 200


def test_methods_are_checked_after_credentials(served: Served) -> None:
    assert ask(served, "/simple/", "POST").status == 401
    reply = ask(served, "/simple/", "POST", auth=ALICE)
    assert (reply.status, reply.headers["Allow"]) == (405, "GET,HEAD")


def test_health_is_open_by_default(served: Served) -> None:
    reply = ask(served, "/health")
    assert (reply.status, reply.body) == (200, b"ok\n")
    assert ask(served, "/health", "HEAD").status == 200
    # Only the route itself: other spellings are other paths, and need credentials.
    for path in ("/health/", "//health", "/health/../simple/", "/Health"):
        assert ask(served, path).status == 401, path


def test_health_can_need_credentials_too(web_root: Path, htpasswd: Path) -> None:
    settings = ServeSettings(host="127.0.0.1", port=0, htpasswd=htpasswd, health_without_auth=False)
    with serving(web_root, settings) as served:
        assert ask(served, "/health").status == 401
        assert ask(served, "/health", auth=ALICE).status == 200


def test_passwords_longer_than_bcrypt_reads(web_root: Path, tmp_path: Path) -> None:
    # Apache's htpasswd -B hashes the first 72 bytes; the server checks the same bytes.
    password = "é" * 50  # 100 bytes in UTF-8
    path = tmp_path / "long"
    path.write_text(f"long:{bcrypt_hash(password.encode()[:72])}\n")
    settings = ServeSettings(host="127.0.0.1", port=0, htpasswd=path)
    with serving(web_root, settings) as served:
        assert ask(served, "/simple/", auth=("long", password)).status == 200
        assert ask(served, "/simple/", auth=("long", "é" * 36)).status == 200
        assert ask(served, "/simple/", auth=("long", "é" * 35)).status == 401


def test_the_file_is_reloaded_when_it_changes(
    served: Served, htpasswd: Path, auth_log: pytest.LogCaptureFixture
) -> None:
    assert ask(served, "/simple/", auth=ALICE).status == 200
    write_htpasswd(htpasswd, {"alice": "new password", "carol": "carol's"})
    assert ask(served, "/simple/", auth=ALICE).status == 401  # remembered, but forgotten now
    assert ask(served, "/simple/", auth=("alice", "new password")).status == 200
    assert ask(served, "/simple/", auth=BOB).status == 401  # removed
    assert ask(served, "/simple/", auth=("carol", "carol's")).status == 200
    assert "reloaded" in auth_log.text


def test_an_unusable_file_fails_closed(
    served: Served, htpasswd: Path, auth_log: pytest.LogCaptureFixture
) -> None:
    assert ask(served, "/simple/", auth=ALICE).status == 200
    text = htpasswd.read_text()
    htpasswd.write_text(text + "mallory:$apr1$abc$defghijklmnopqrstuvwx\n")
    reply = ask(served, "/simple/", auth=ALICE)
    assert reply.status == 500
    assert b"password file" in reply.body
    assert ask(served, "/simple/").status == 500
    assert ask(served, "/health").status == 200  # open, and says the server is up
    [error] = [r for r in auth_log.records if r.levelno == logging.ERROR]
    assert f"{htpasswd}, line 5" in error.getMessage()
    assert "mallory" in error.getMessage()
    assert ask(served, "/simple/", auth=ALICE).status == 500
    assert len([r for r in auth_log.records if r.levelno == logging.ERROR]) == 1  # once a change
    htpasswd.write_text(text)
    assert ask(served, "/simple/", auth=ALICE).status == 200
    htpasswd.unlink()
    assert ask(served, "/simple/", auth=ALICE).status == 500
    write_htpasswd(htpasswd, {"alice": "wonderland"})
    assert ask(served, "/simple/", auth=ALICE).status == 200


# --- remembered checks --------------------------------------------------------------------


def test_a_good_header_is_checked_once_and_remembered(htpasswd: Path) -> None:
    async def scenario() -> None:
        auth = BasicAuth.load(htpasswd)
        try:
            header = basic(*ALICE)
            # Many requests with the same new header at once (as uv sends them): one check.
            results = await asyncio.gather(*(auth.allows(header) for _ in range(20)))
            assert all(results)
            assert (auth.checks, auth.remembered) == (1, 1)
            assert await auth.allows(header)
            assert auth.checks == 1
            # Failures are checked every time and never remembered.
            assert not await auth.allows(basic("alice", "wrong"))
            assert not await auth.allows(basic("alice", "wrong"))
            assert (auth.checks, auth.remembered) == (3, 1)
            # An unknown user costs a check like a known one (its time must not tell);
            # malformed headers and none at all cost no check.
            assert not await auth.allows(basic("nobody", "x"))
            assert auth.checks == 4
            assert not await auth.allows("Basic ???")
            assert not await auth.allows(None)
            assert auth.checks == 4
            assert await auth.allows(basic(*BOB))
            assert auth.remembered == 2
        finally:
            auth.close()

    asyncio.run(scenario())


def test_remembered_headers_are_bounded(htpasswd: Path) -> None:
    async def scenario() -> None:
        auth = BasicAuth.load(htpasswd, max_remembered=3)
        try:
            token = base64.b64encode(b"alice:wonderland").decode()
            # Five spellings of the same credentials: five distinct headers.
            headers = [f"Basic {token}", f"basic {token}", f"BASIC {token}", f"Basic  {token}"]
            headers.append(f"bAsic {token}")
            for header in headers:
                assert await auth.allows(header)
            assert auth.remembered == 3
            assert await auth.allows(headers[0])  # forgotten (the oldest), so checked again
            assert auth.checks == 6
        finally:
            auth.close()

    asyncio.run(scenario())


def test_a_changed_file_forgets_what_was_remembered(htpasswd: Path) -> None:
    async def scenario() -> None:
        auth = BasicAuth.load(htpasswd)
        try:
            assert await auth.allows(basic(*ALICE))
            assert auth.remembered == 1
            write_htpasswd(htpasswd, {"alice": "other"})
            assert not await auth.allows(basic(*ALICE))
            assert auth.remembered == 0
        finally:
            auth.close()

    asyncio.run(scenario())


# --- the file format ----------------------------------------------------------------------


def test_parse_htpasswd(tmp_path: Path) -> None:
    alice, bob = bcrypt_hash("a", "$2y$"), bcrypt_hash("b", "$2b$")
    legacy = bcrypt_hash("c", "$2a$")
    text = f"# comment\n\nalice:{alice}\r\nbob:{bob}  \ncarol:{legacy}\n"
    parsed = parse_htpasswd(text, tmp_path / "h")
    assert dict(parsed.hashes) == {
        "alice": alice.encode(),
        "bob": bob.encode(),
        "carol": legacy.encode(),
    }


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("mallory:$apr1$xyz$abcdefghijklmnopqrstuv", "Apache's MD5 ($apr1$, `htpasswd -m`)"),
        ("mallory:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "SHA-1 ({SHA}, `htpasswd -s`)"),
        ("mallory:$1$salt$hash", "MD5-crypt ($1$)"),
        ("mallory:$6$salt$hash", "SHA-512-crypt ($6$)"),
        ("mallory:plaintext", "crypt() or plain text"),
        ("mallory:$2y$05$tooshort", "a malformed bcrypt hash"),
        ("mallory:$2y$99$" + "a" * 53, "a malformed bcrypt hash"),
        ("mallory:$2x$05$" + "a" * 53, "a malformed bcrypt hash"),
    ],
)
def test_other_schemes_are_refused_with_the_line(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "htpasswd"
    text = f"alice:{bcrypt_hash('a')}\n\n{line}\n"
    with pytest.raises(HtpasswdError) as caught:
        parse_htpasswd(text, path)
    assert caught.value.line == 3
    assert caught.value.path == path
    message = str(caught.value)
    assert message.startswith(f"[serve] htpasswd {path}, line 3: the password of 'mallory'")
    assert problem in message
    assert f"htpasswd -B {path} mallory" in message


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("alice\n", 1, "is not `user:hash`"),
        (":$2y$05$" + "a" * 53 + "\n", 1, "is not `user:hash`"),
        ("alice:\n", 1, "is not `user:hash`"),
        ("alice:{h}\n# x\nalice:{h}\n", 3, "user 'alice' is already on line 1"),
        ("", None, "has no users"),
        ("# only a comment\n\n", None, "has no users"),
    ],
)
def test_malformed_files_are_refused(
    tmp_path: Path, text: str, line: int | None, problem: str
) -> None:
    path = tmp_path / "htpasswd"
    with pytest.raises(HtpasswdError) as caught:
        parse_htpasswd(text.replace("{h}", bcrypt_hash("x")), path)
    assert caught.value.line == line
    assert problem in str(caught.value)
    assert str(path) in str(caught.value)


def test_unreadable_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(HtpasswdError, match="cannot be read: No such file"):
        read_htpasswd(tmp_path / "missing")
    with pytest.raises(HtpasswdError, match="cannot be read: Is a directory"):
        read_htpasswd(tmp_path)
    binary = tmp_path / "binary"
    binary.write_bytes(b"alice:x\n\xff\xfe\n")
    with pytest.raises(HtpasswdError, match=r"binary, line 2: is not UTF-8 text"):
        read_htpasswd(binary)


def test_basic_credentials() -> None:
    assert basic_credentials(basic("a", "b:c")) == ("a", b"b:c")
    assert basic_credentials(basic("ünï", "pw")) == ("ünï", b"pw")
    assert basic_credentials("Digest abc") is None


# --- cellar serve refuses to start --------------------------------------------------------


def serve_config(tmp_path: Path, serve_table: str) -> Path:
    (tmp_path / "mirror" / "web" / "simple").mkdir(parents=True, exist_ok=True)
    config = write_config(tmp_path, "http://127.0.0.1:9/simple/", ["anything"])
    with config.open("a", encoding="utf-8") as file:
        file.write(f"\n[serve]\nport = 0\n{serve_table}\n")
    return config


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "htpasswd: cannot be read: No such file or directory"),
        ("alice:$apr1$xyz$abcdefghijklmnopqrstuv\n", "htpasswd, line 1: the password of 'alice'"),
        ("alice\n", "htpasswd, line 1: is not `user:hash`"),
    ],
)
def test_cellar_serve_refuses_an_unusable_htpasswd(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    path = tmp_path / "htpasswd"
    if content is not None:
        path.write_text(content)
    config = serve_config(tmp_path, 'htpasswd = "htpasswd"')
    result = run_cli("serve", "-c", str(config), timeout=60)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, result.stderr
    assert f"[serve] htpasswd {path}" in errors[0]
    assert expected in errors[0]
    assert "Traceback" not in result.stderr


def test_cellar_serve_with_workers_refuses_before_any_worker_starts(tmp_path: Path) -> None:
    (tmp_path / "htpasswd").write_text("alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n")
    config = serve_config(tmp_path, 'htpasswd = "htpasswd"\nworkers = 2')
    result = run_cli("serve", "-c", str(config), timeout=60)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, result.stderr
    assert (
        f"[serve] htpasswd {tmp_path / 'htpasswd'}, line 1: the password of 'alice'" in (errors[0])
    )
