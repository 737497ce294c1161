"""Ed25519 keys for signing bundles: made by ``cellar keygen``, read back, used to sign and to
check a signature against the keys a site trusts.

The crypto is ``cryptography``'s (OpenSSL's Ed25519), never Cellar's own. The files are text,
one line each, so an operator can read, copy and compare them:

    cellar-ed25519-private <base64 of the 32-byte seed> <name>      (mode 0600)
    cellar-ed25519 <base64 of the 32-byte public key> <name>

A key's id is the first 16 hex digits of the sha256 of its public bytes: what messages name.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from cellar.errors import CellarError
from cellar.tree.atomic import atomic_write

PRIVATE_TAG: Final = "cellar-ed25519-private"
PUBLIC_TAG: Final = "cellar-ed25519"
_NAME: Final = re.compile(r"[A-Za-z0-9._@-]{1,64}")


class KeyFileError(CellarError):
    """A key file that cannot be read or is not a Cellar key: ``path`` and why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class SignatureError(CellarError):
    """A signature that no trusted key made (``reason`` says which check failed)."""

    exit_code = 1

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A public key and the name it was made with."""

    raw: bytes
    name: str

    @property
    def key_id(self) -> str:
        """The first 16 hex digits of the sha256 of the key's bytes."""
        return hashlib.sha256(self.raw).hexdigest()[:16]

    def line(self) -> str:
        return f"{PUBLIC_TAG} {base64.b64encode(self.raw).decode()} {self.name}\n"


@dataclass(frozen=True, slots=True)
class PrivateKey:
    """A private key (its 32-byte seed) and its name."""

    seed: bytes
    name: str

    def public(self) -> PublicKey:
        key = Ed25519PrivateKey.from_private_bytes(self.seed).public_key()
        return PublicKey(key.public_bytes(Encoding.Raw, PublicFormat.Raw), self.name)

    def sign(self, data: bytes) -> bytes:
        """Return the Ed25519 signature of ``data`` (64 bytes)."""
        return Ed25519PrivateKey.from_private_bytes(self.seed).sign(data)


def generate(name: str) -> PrivateKey:
    """Return a new private key called ``name``. Raises ``ValueError`` for a name with spaces
    or odd characters (it goes into one-line files)."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"{name!r}: a key name is 1 to 64 letters, digits, '.', '_', '@', '-'")
    return PrivateKey(os.urandom(32), name)


def write_key_pair(key: PrivateKey, directory: Path) -> tuple[Path, Path]:
    """Write ``<name>.key`` (readable by its owner only) and ``<name>.pub`` into
    ``directory``; return their paths. Refuses to replace a key file that exists (raises
    ``KeyFileError``): a lost private key cannot be made again."""
    private = directory / f"{key.name}.key"
    public = directory / f"{key.name}.pub"
    for path in (private, public):
        if path.exists():
            raise KeyFileError(path, "exists already; choose another --name or move it away")
    directory.mkdir(parents=True, exist_ok=True)
    seed = base64.b64encode(key.seed).decode()
    descriptor = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as stream:
        stream.write(f"{PRIVATE_TAG} {seed} {key.name}\n")
        stream.flush()
        os.fsync(stream.fileno())
    atomic_write(public, key.public().line().encode())
    return private, public


def read_private(path: Path) -> PrivateKey:
    """Read a private key file. Raises ``KeyFileError`` naming the file."""
    raw, name = _read(path, PRIVATE_TAG)
    return PrivateKey(raw, name)


def read_public(path: Path) -> PublicKey:
    """Read a public key file. Raises ``KeyFileError`` naming the file."""
    raw, name = _read(path, PUBLIC_TAG)
    return PublicKey(raw, name)


def _read(path: Path, tag: str) -> tuple[bytes, str]:
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as error:
        raise KeyFileError(path, f"cannot read it: {error}") from None
    fields = text.split()
    if len(fields) != 3 or fields[0] != tag:
        raise KeyFileError(path, f"not a {tag} key file (one line: {tag} <base64> <name>)")
    try:
        raw = base64.b64decode(fields[1], validate=True)
    except binascii.Error:
        raise KeyFileError(path, "the key is not base64") from None
    if len(raw) != 32:
        raise KeyFileError(path, f"an Ed25519 key is 32 bytes, this one {len(raw)}")
    return raw, fields[2]


def check_signature(data: bytes, signature: bytes, trusted: list[PublicKey]) -> PublicKey:
    """Return the trusted key whose signature ``signature`` of ``data`` is. Raises
    ``SignatureError`` when none of ``trusted`` made it (or none is trusted)."""
    if not trusted:
        raise SignatureError("no key is trusted: list the sender's public keys in the config")
    for key in trusted:
        try:
            Ed25519PublicKey.from_public_bytes(key.raw).verify(signature, data)
        except InvalidSignature:
            continue
        return key
    ids = ", ".join(f"{key.name} ({key.key_id})" for key in trusted)
    raise SignatureError(f"the signature is by none of the trusted keys ({ids}), or was altered")
