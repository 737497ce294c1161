"""The server's TLS context from ``[serve] tls-certificate`` and ``tls-key``, checked at start.

Both files are PEM. The certificate file may hold the chain (the server's certificate first,
then intermediates); the key must not be encrypted (the server starts unattended). Each
problem is reported against the file that has it: unreadable, not a PEM certificate, not a
PEM private key, encrypted, or a key that does not belong to the certificate.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Final

from cellar.serve.errors import TlsError

_CERTIFICATE_KEY: Final = "tls-certificate"
_KEY_KEY: Final = "tls-key"


class _EncryptedKeyError(Exception):
    """Raised by the password callback: the key wants a passphrase we do not have."""


def _no_password() -> bytes:
    raise _EncryptedKeyError


def server_ssl_context(certificate: Path, key: Path) -> ssl.SSLContext:
    """Return a server-side TLS context (TLS 1.2 or later, HTTP/1.1) for the pair.

    Raises ``TlsError`` naming the file at fault (see the module docstring).
    """
    certificate_pem = _read(_CERTIFICATE_KEY, certificate)
    _read(_KEY_KEY, key)
    _check_certificate(certificate, certificate_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(certificate, key, password=_no_password)
    except _EncryptedKeyError:
        raise TlsError(
            _KEY_KEY,
            key,
            "is encrypted with a passphrase, which an unattended server cannot type; "
            f"write it unencrypted with `openssl pkey -in {key} -out NEW` and keep NEW "
            "readable by the server's user only",
        ) from None
    except ssl.SSLError as error:
        if error.reason == "KEY_VALUES_MISMATCH":
            raise TlsError(
                _KEY_KEY,
                key,
                f"is not the private key of the certificate {certificate}; "
                "configure the key that was made with that certificate",
            ) from error
        # The certificate was read above, so what OpenSSL could not load is the key.
        raise TlsError(
            _KEY_KEY, key, f"is not a PEM private key ({error.reason or error})"
        ) from error
    return context


def _read(config_key: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise TlsError(config_key, path, f"cannot be read: {error.strerror or error}") from error


def _check_certificate(path: Path, data: bytes) -> None:
    problem = "is not a PEM certificate (a file with -----BEGIN CERTIFICATE-----)"
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise TlsError(
            _CERTIFICATE_KEY,
            path,
            f"{problem}; if it is DER, convert it with "
            f"`openssl x509 -inform der -in {path} -out NEW.pem`",
        ) from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise TlsError(_CERTIFICATE_KEY, path, problem)
    try:
        ssl.create_default_context().load_verify_locations(cadata=text)
    except ssl.SSLError as error:
        raise TlsError(
            _CERTIFICATE_KEY, path, f"holds a certificate OpenSSL cannot read ({error.reason})"
        ) from error
