"""PEP 740 provenance: the object an index serves for a file, checked for shape, and its
attestations verified offline (Sigstore's trust root as sigstore-python ships it) against
the file's sha256 and the publisher the object names (or the repository the configuration
pins), through pypi-attestations, the PyPA's library for them."""

from __future__ import annotations

import json
from typing import Any

from cellar.errors import CellarError

#: A provenance object larger than this is not one (PyPI's are a few kB).
MAX_PROVENANCE = 1 << 20


class ProvenanceUnavailableError(CellarError):
    """``require-provenance`` is set, and the library that verifies attestations is not
    installed."""

    def __init__(self) -> None:
        super().__init__(
            "[policy] require-provenance needs attestations verified, and pypi-attestations "
            "is not installed: pip install 'cellar[provenance]'"
        )


def verifier_available() -> bool:
    """Whether attestations can be verified here."""
    try:
        import pypi_attestations  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def check_shape(body: bytes) -> dict[str, Any]:
    """The provenance object in ``body``; raises ``ValueError`` if it is not one."""
    if len(body) > MAX_PROVENANCE:
        raise ValueError(f"larger than {MAX_PROVENANCE} bytes")
    document = json.loads(body)
    if not isinstance(document, dict) or document.get("version") != 1:
        raise ValueError("not a PEP 740 provenance object (version 1)")
    bundles = document.get("attestation_bundles")
    if not isinstance(bundles, list) or not bundles:
        raise ValueError("it holds no attestation bundles")
    return document


def verify_provenance(
    body: bytes, filename: str, sha256: str, *, repository: str | None = None
) -> str:
    """Verify every attestation in the provenance object ``body`` for the file ``filename``
    with ``sha256``; return the publisher it names (``kind:repository``). Raises
    ``ValueError`` saying what does not verify."""
    from pydantic import ValidationError  # noqa: PLC0415
    from pypi_attestations import (  # noqa: PLC0415 - an optional dependency
        Distribution,
        Provenance,
        VerificationError,
    )

    check_shape(body)
    try:
        provenance = Provenance.model_validate_json(body)
    except ValidationError as error:
        raise ValueError(f"not a provenance object: {error.error_count()} errors") from None
    dist = Distribution(name=filename, digest=sha256)
    named = []
    for bundle in provenance.attestation_bundles:
        publisher = bundle.publisher
        source = str(getattr(publisher, "repository", "") or "")
        named.append(f"{publisher.kind}:{source}")
        if repository is not None and source.lower() != repository.lower():
            raise ValueError(f"published from {source or publisher.kind}, not {repository}")
        if not bundle.attestations:
            raise ValueError("an attestation bundle holds no attestation")
        for attestation in bundle.attestations:
            try:
                attestation.verify(publisher, dist, offline=True)
            except VerificationError as error:
                raise ValueError(f"an attestation does not verify: {error}") from None
            except Exception as error:  # noqa: BLE001 - the library's other faults, named
                raise ValueError(f"an attestation cannot be verified: {error}") from None
    return ", ".join(named)
