"""A private mirror's secrets for tests: a throwaway CA and a certificate for 127.0.0.1 and
localhost (trustme), a bcrypt htpasswd file, and the [serve] table that uses them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import bcrypt
import trustme


@dataclass(frozen=True, slots=True)
class Secrets:
    """Where the files are: the CA clients trust, the server's certificate and key, htpasswd."""

    ca: Path
    certificate: Path
    key: Path
    htpasswd: Path


def make_secrets(directory: Path, user: str, password: str) -> Secrets:
    """Write a CA, a server certificate and key, and an htpasswd for ``user`` into ``directory``."""
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    secrets = Secrets(
        directory / "ca.pem", directory / "cert.pem", directory / "key.pem", directory / "htpasswd"
    )
    issued.cert_chain_pems[0].write_to_path(secrets.certificate)
    issued.private_key_pem.write_to_path(secrets.key)
    ca.cert_pem.write_to_path(secrets.ca)
    # bcrypt, as `htpasswd -B` writes it; a low cost keeps each request's check cheap.
    digest = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    secrets.htpasswd.write_text(f"{user}:{digest}\n", encoding="utf-8")
    return secrets


def private_config(config: Path, secrets: Secrets, name: str = "private.toml") -> Path:
    """Write, beside ``config``, the same configuration asking for a login over HTTPS."""
    private = config.with_name(name)
    private.write_text(
        config.read_text(encoding="utf-8").replace(
            "[packages]",
            f'[serve]\nhtpasswd = "{secrets.htpasswd}"\n'
            f'tls-certificate = "{secrets.certificate}"\ntls-key = "{secrets.key}"\n\n[packages]',
        ),
        encoding="utf-8",
    )
    return private
