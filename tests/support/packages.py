"""Real, installable distributions (pure wheels and sdists) built in memory, byte for byte stable.

Every archive member gets a fixed timestamp and mode, so the same arguments always give the same
bytes and the same sha256: tests can compare hashes across runs and across indexes.
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import json
import re
import tarfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from packaging.tags import parse_tag
from packaging.utils import canonicalize_name
from packaging.version import Version

#: 1980 is the earliest date a zip can hold; any fixed date keeps hashes stable.
_ZIP_DATE = (2020, 2, 2, 0, 0, 0)
_TAR_MTIME = 1_580_601_600  # the same instant as _ZIP_DATE, in seconds since the epoch
_GENERATOR = "cellar-tests (1.0)"
_EXTRA = re.compile(r"""\bextra\s*==\s*['"]([^'"]+)['"]""")


@dataclass(frozen=True, slots=True)
class Dist:
    """A distribution file: its name, its bytes, and its core metadata (what PEP 658 serves)."""

    filename: str
    data: bytes
    metadata: bytes

    @property
    def sha256(self) -> str:
        """The hex sha256 of the file's bytes."""
        return hashlib.sha256(self.data).hexdigest()

    @property
    def metadata_sha256(self) -> str:
        """The hex sha256 of the core metadata, as an index states it for a ``.metadata`` file."""
        return hashlib.sha256(self.metadata).hexdigest()


def escaped_name(name: str) -> str:
    """Return ``name`` as wheel and sdist filenames spell it: normalised, ``-`` -> ``_``."""
    return canonicalize_name(name).replace("-", "_")


def import_name(name: str) -> str:
    """Return the name of the top-level module the built distributions of ``name`` contain."""
    return escaped_name(name)


def core_metadata(
    name: str,
    version: str,
    *,
    requires_python: str | None = None,
    requires_dist: Iterable[str] = (),
    licence: str | None = None,
    classifiers: Iterable[str] = (),
) -> bytes:
    """Return a Metadata-Version 2.1 document (the text of METADATA and PKG-INFO); 2.4 with
    ``licence`` (a PEP 639 ``License-Expression``).

    Each extra a ``requires_dist`` marker names (``extra == "fast"``) gets its Provides-Extra.
    """
    lines = ["Metadata-Version: 2.4" if licence else "Metadata-Version: 2.1"]
    lines += [f"Name: {name}", f"Version: {version}"]
    if licence is not None:
        lines.append(f"License-Expression: {licence}")
    lines.extend(f"Classifier: {classifier}" for classifier in classifiers)
    if requires_python is not None:
        lines.append(f"Requires-Python: {requires_python}")
    requires_dist = list(requires_dist)
    extras = dict.fromkeys(m[1] for r in requires_dist for m in _EXTRA.finditer(r))
    lines.extend(f"Provides-Extra: {extra}" for extra in extras)
    lines.extend(f"Requires-Dist: {requirement}" for requirement in requires_dist)
    return ("\n".join(lines) + "\n\n").encode()


def build_wheel(
    name: str,
    version: str,
    *,
    tag: str = "py3-none-any",
    requires_python: str | None = None,
    requires_dist: Iterable[str] = (),
    extra_files: Mapping[str, bytes] | None = None,
    licence: str | None = None,
    classifiers: Iterable[str] = (),
) -> Dist:
    """Return a pure wheel of ``name`` that real pip and uv install (``licence`` and
    ``classifiers`` into its metadata, see ``core_metadata``).

    ``tag`` may be compressed (``py2.py3-none-any``); it goes into the filename as given and into
    ``WHEEL`` as one ``Tag`` line per expanded tag. ``extra_files`` maps paths inside the wheel
    to their contents. The version is written in its normal form (``1.0-RC1`` -> ``1.0rc1``).
    Raises ``packaging.version.InvalidVersion`` and ``packaging.tags``' errors for bad input.
    """
    version = _normal_version(version)
    stem = f"{escaped_name(name)}-{version}"
    dist_info = f"{stem}.dist-info"
    metadata = core_metadata(
        name,
        version,
        requires_python=requires_python,
        requires_dist=requires_dist,
        licence=licence,
        classifiers=classifiers,
    )
    wheel_lines = ["Wheel-Version: 1.0", f"Generator: {_GENERATOR}", "Root-Is-Purelib: true"]
    wheel_lines.extend(f"Tag: {expanded}" for expanded in sorted(map(str, parse_tag(tag))))
    members: dict[str, bytes] = {f"{import_name(name)}/__init__.py": _module_source(version)}
    members.update(extra_files or {})
    members[f"{dist_info}/METADATA"] = metadata
    members[f"{dist_info}/WHEEL"] = ("\n".join(wheel_lines) + "\n\n").encode()
    members[f"{dist_info}/RECORD"] = _record(members, f"{dist_info}/RECORD")

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, content in members.items():
            info = zipfile.ZipInfo(path, date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return Dist(filename=f"{stem}-{tag}.whl", data=buffer.getvalue(), metadata=metadata)


def build_sdist(
    name: str,
    version: str,
    *,
    requires_python: str | None = None,
    requires_dist: Iterable[str] = (),
    build_requires: Iterable[str] = ("setuptools",),
    build_backend: str = "setuptools.build_meta",
) -> Dist:
    """Return a source distribution of ``name`` (``.tar.gz``) that its build backend can build.

    The archive holds ``PKG-INFO``, a ``pyproject.toml`` declaring the same metadata and the
    build system, and the module. The version is written in its normal form, as for
    :func:`build_wheel`. With ``build_requires=["tinybackend"]`` and
    ``build_backend="tinybackend"`` it builds offline with :func:`build_backend_wheel`'s backend.
    """
    version = _normal_version(version)
    stem = f"{escaped_name(name)}-{version}"
    metadata = core_metadata(
        name, version, requires_python=requires_python, requires_dist=requires_dist
    )
    project = [f"name = {json.dumps(name)}", f"version = {json.dumps(version)}"]
    if requires_python is not None:
        project.append(f"requires-python = {json.dumps(requires_python)}")
    project.append(f"dependencies = {json.dumps(list(requires_dist))}")
    pyproject = "\n".join(
        [
            "[build-system]",
            f"requires = {json.dumps(list(build_requires))}",
            f"build-backend = {json.dumps(build_backend)}",
            "",
            "[project]",
            *project,
            "",
        ]
    )
    members = {
        f"{stem}/PKG-INFO": metadata,
        f"{stem}/pyproject.toml": pyproject.encode(),
        f"{stem}/{import_name(name)}/__init__.py": _module_source(version),
    }

    buffer = io.BytesIO()
    # gzip writes the current time into its header unless told otherwise.
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for path, content in members.items():
            info = tarfile.TarInfo(path)
            info.size = len(content)
            info.mtime = _TAR_MTIME
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(content))
    return Dist(filename=f"{stem}.tar.gz", data=buffer.getvalue(), metadata=metadata)


_BACKEND_SOURCE = '''"""A PEP 517 build backend small enough for tests: wheels a pure module from its sdist."""

import base64
import hashlib
import io
import os
import zipfile


def _metadata():
    with open("PKG-INFO", "rb") as stream:
        text = stream.read()
    fields = dict(
        line.split(": ", 1) for line in text.decode().splitlines() if ": " in line
    )
    return fields["Name"], fields["Version"], text


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name, version, metadata = _metadata()
    stem = name.lower().replace("-", "_").replace(".", "_") + "-" + version
    members = {}
    module = name.lower().replace("-", "_").replace(".", "_")
    for root, _, files in os.walk(module):
        for file in files:
            path = os.path.join(root, file)
            with open(path, "rb") as stream:
                members[path.replace(os.sep, "/")] = stream.read()
    members[stem + ".dist-info/METADATA"] = metadata
    members[stem + ".dist-info/WHEEL"] = (
        b"Wheel-Version: 1.0\\nGenerator: tinybackend\\nRoot-Is-Purelib: true\\n"
        b"Tag: py3-none-any\\n\\n"
    )
    record = []
    for path, data in members.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(stem + ".dist-info/RECORD,,")
    members[stem + ".dist-info/RECORD"] = ("\\n".join(record) + "\\n").encode()
    filename = stem + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as archive:
        for path, data in members.items():
            archive.writestr(path, data)
    return filename
'''


def build_backend_wheel(name: str = "tinybackend", version: str = "1.0") -> Dist:
    """Return a wheel of a tiny PEP 517 build backend (module ``name``), for offline sdist builds.

    Its backend wheels a pure module from an sdist made by :func:`build_sdist`; pip and uv can
    install it from a mirror into an isolated build environment, so an sdist-only project
    installs with nothing but the mirror.
    """
    return build_wheel(
        name, version, extra_files={f"{import_name(name)}/__init__.py": _BACKEND_SOURCE.encode()}
    )


def _normal_version(version: str) -> str:
    return str(Version(version))


def _module_source(version: str) -> bytes:
    return f'"""Built by Cellar\'s tests."""\n\n__version__ = "{version}"\n'.encode()


def _record(members: Mapping[str, bytes], record_path: str) -> bytes:
    """Return RECORD for ``members``: a hash and size per file, and an empty row for itself."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for path, content in members.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=")
        writer.writerow([path, f"sha256={digest.decode()}", len(content)])
    writer.writerow([record_path, "", ""])
    return out.getvalue().encode()
