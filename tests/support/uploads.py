"""Uploading to ``cellar serve`` as real clients do: twine, uv publish, and a raw form post.

twine and uv are run as processes with nothing from this machine's configuration (no
``.pypirc``, no keyring, no ``UV_*``); the raw post builds the multipart body by hand, so a
test can send what no well-behaved client would.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import bcrypt

from tests.support.installers import clean_env, find_uv

UPLOAD_TIMEOUT = 120.0


def htpasswd_line(user: str, password: str) -> str:
    """A bcrypt line for ``user``, at a low cost: each check stays cheap in tests."""
    digest = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    return f"{user}:{digest}\n"


def twine() -> str:
    """The twine of this environment (the test group installs it)."""
    found = shutil.which("twine", path=str(Path(sys.executable).parent))
    assert found is not None, "twine is not installed here (pip install --group test)"
    return found


def twine_upload(
    url: str,
    files: Sequence[Path],
    user: str,
    password: str,
    *,
    tmp: Path,
    ca: Path | None = None,
    extra: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run ``twine upload`` of ``files`` to ``url``; return the finished process."""
    env = clean_env(tmp)
    env.update({"TWINE_USERNAME": user, "TWINE_PASSWORD": password, "TWINE_NON_INTERACTIVE": "1"})
    env.pop("TWINE_REPOSITORY_URL", None)
    command = [twine(), "upload", "--disable-progress-bar", "--repository-url", url]
    if ca is not None:
        command += ["--cert", str(ca)]
        # requests lets these override --cert (its issue 3829): the machine's own bundle.
        env.pop("REQUESTS_CA_BUNDLE", None)
        env.pop("CURL_CA_BUNDLE", None)
    command += [*extra, *map(str, files)]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=UPLOAD_TIMEOUT, check=False
    )


def uv_publish(
    url: str,
    files: Sequence[Path],
    user: str,
    password: str,
    *,
    tmp: Path,
    ca: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``uv publish`` of ``files`` to ``url``; return the finished process."""
    env = clean_env(tmp)
    if ca is not None:
        env["SSL_CERT_FILE"] = str(ca)
    command = [
        str(find_uv()),
        *("publish", "--no-config", "--publish-url", url),
        *("--username", user, "--password", password, "--trusted-publishing", "never"),
        *map(str, files),
    ]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=UPLOAD_TIMEOUT, check=False
    )


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    body: str


def post_form(
    url: str,
    fields: Mapping[str, str],
    file: tuple[str, bytes] | None = None,
    *,
    auth: tuple[str, str] | None = None,
    context: ssl.SSLContext | None = None,
    digests: bool = True,
) -> Answer:
    """POST the upload API's form (``content`` last, as twine sends it); with ``digests``
    the file's sha256 and blake2_256 are stated unless ``fields`` state them."""
    boundary = secrets.token_hex(16)
    parts: list[bytes] = []
    values = dict(fields)
    if file is not None and digests:
        values.setdefault("sha256_digest", hashlib.sha256(file[1]).hexdigest())
        values.setdefault("blake2_256_digest", hashlib.blake2b(file[1], digest_size=32).hexdigest())
    for name, value in values.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    if file is not None:
        filename, body = file
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="content"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
            + body
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    request = urllib.request.Request(  # noqa: S310 - the tests' own server
        url,
        data=b"".join(parts),
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:  # noqa: S310
            return Answer(response.status, response.reason, response.read().decode())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.reason, error.read().decode())


def upload_fields(name: str, version: str) -> dict[str, str]:
    """The fields twine sends before the file (those Cellar reads, and a few it ignores)."""
    return {
        ":action": "file_upload",
        "protocol_version": "1",
        "metadata_version": "2.1",
        "name": name,
        "version": version,
        "filetype": "bdist_wheel",
        "pyversion": "py3",
        "summary": "a test package",
    }
