"""Keys for signing bundles: ``cellar keygen``'s files, signatures checked against trusted keys,
and key files that are not keys refused with the file named."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cellar.bundle.keys import (
    KeyFileError,
    SignatureError,
    check_signature,
    generate,
    read_private,
    read_public,
    write_key_pair,
)
from cellar.cli import main


def test_keygen_writes_a_private_key_only_its_owner_reads_and_a_public_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keygen", "--output", str(tmp_path / "keys"), "--name", "outer-2026"]) == 0
    private, public = tmp_path / "keys" / "outer-2026.key", tmp_path / "keys" / "outer-2026.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    key, pub = read_private(private), read_public(public)
    assert key.public() == pub
    assert pub.name == "outer-2026"
    assert pub.key_id in capsys.readouterr().out
    # Never replaced: a lost private key cannot be made again.
    assert main(["keygen", "--output", str(tmp_path / "keys"), "--name", "outer-2026"]) == 2
    assert read_private(private) == key


def test_a_signature_is_accepted_from_a_trusted_key_only(tmp_path: Path) -> None:
    outer, other = generate("outer"), generate("other")
    data = b'{"sequence": 3, "objects": []}'
    signature = outer.sign(data)
    assert check_signature(data, signature, [other.public(), outer.public()]) == outer.public()
    with pytest.raises(SignatureError, match=r"by none of the trusted keys \(other \("):
        check_signature(data, signature, [other.public()])
    with pytest.raises(SignatureError, match="by none of the trusted keys"):
        check_signature(data + b" ", signature, [outer.public()])  # one byte more
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    with pytest.raises(SignatureError):
        check_signature(data, flipped, [outer.public()])
    with pytest.raises(SignatureError, match="no key is trusted"):
        check_signature(data, signature, [])


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "not a cellar-ed25519 key file"),
        ("ssh-ed25519 AAAA name\n", "not a cellar-ed25519 key file"),
        ("cellar-ed25519 !!! name\n", "not base64"),
        ("cellar-ed25519 AAAA name\n", "32 bytes, this one 3"),
        ("cellar-ed25519-private AAAA name\n", "not a cellar-ed25519 key file"),
    ],
)
def test_a_file_that_is_not_a_public_key_is_named(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "trusted.pub"
    path.write_text(text, encoding="ascii")
    with pytest.raises(KeyFileError, match=reason) as caught:
        read_public(path)
    assert caught.value.path == path
    with pytest.raises(KeyFileError, match="cannot read it"):
        read_public(tmp_path / "missing.pub")


def test_key_names_are_one_word(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="a key name is"):
        generate("two words")
    assert main(["keygen", "--output", str(tmp_path), "--name", "two words"]) == 2
    key = generate("ok")
    private, public = write_key_pair(key, tmp_path / "new")
    assert (private.name, public.name) == ("ok.key", "ok.pub")
