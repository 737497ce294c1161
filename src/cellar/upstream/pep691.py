"""PEP 691 JSON pages, checked against the fields the Simple API specifies (pure).

pypi-simple reads these too. Importing it also loads its HTML parser (Beautiful Soup) and an
HTTP client, which is a fifth of a second of start-up on every run that reads a page. Most pages
are JSON (PyPI and other Cellars serve it), so JSON is read here with pydantic models of PEP 691's
fields and of the fields added since: PEP 700 (``versions``, ``size``, ``upload-time``), PEP 714
(``core-metadata``), PEP 740 (``provenance``) and PEP 792 (``project-status``).
``cellar.upstream.parse`` still reads HTML pages with pypi-simple.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal

from packaging.version import Version
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StrictBool, field_validator

from cellar.upstream.errors import UnsupportedAPIVersionError

logger = logging.getLogger("cellar.upstream")

#: The newest API version whose fields are read; a newer minor version is read, and logged.
READ_VERSION = Version("1.4")


def _kebab(name: str) -> str:
    return name.replace("_", "-")


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=_kebab, populate_by_name=True)


class JsonMeta(_Model):
    """``meta``: the API version (PEP 629) and PyPI's ``_last-serial``."""

    api_version: str
    last_serial: str | None = Field(None, alias="_last-serial")

    @field_validator("last_serial", mode="before")
    @classmethod
    def _serial_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class JsonStatus(_Model):
    """PEP 792's ``project-status``."""

    status: Literal["active", "archived", "quarantined", "deprecated"] | None = None
    reason: str | None = None


class JsonFile(_Model):
    """One entry of ``files``."""

    filename: str
    url: str
    hashes: dict[str, str]
    requires_python: str | None = None
    core_metadata: StrictBool | dict[str, str] | None = None
    gpg_sig: StrictBool | None = None
    yanked: StrictBool | str = False
    size: int | None = None
    upload_time: datetime | None = None
    provenance: HttpUrl | None = None


class JsonProject(_Model):
    """A project page."""

    name: str
    files: list[JsonFile]
    meta: JsonMeta
    project_status: JsonStatus = Field(default_factory=JsonStatus)
    versions: list[str] | None = None


class _Named(_Model):
    name: str


class JsonIndex(_Model):
    """The root page: the projects' names."""

    projects: list[_Named]
    meta: JsonMeta


def project_page(data: Any, url: str) -> JsonProject:
    """Return the project page ``data`` (decoded JSON) from ``url``, checked.

    Raises ``pydantic.ValidationError`` for the wrong shape, ``UnsupportedAPIVersionError``
    for a major API version above 1, ``ValueError`` for one that is not a version.
    """
    page = JsonProject.model_validate(data)
    check_api_version(page.meta.api_version, url)
    return page


def index_page(data: Any, url: str) -> JsonIndex:
    """Return the root page ``data`` (decoded JSON) from ``url``, checked as ``project_page``."""
    page = JsonIndex.model_validate(data)
    check_api_version(page.meta.api_version, url)
    return page


def check_api_version(declared: str, url: str) -> None:
    """Refuse a major API version above 1 (PEP 629: clients must); log a newer minor one."""
    version = Version(declared)
    if (version.epoch, version.major) > (READ_VERSION.epoch, READ_VERSION.major):
        raise UnsupportedAPIVersionError(url, declared)
    if version.major == READ_VERSION.major and version.minor > READ_VERSION.minor:
        logger.warning(
            "%s: API version %s is newer than %s; the fields Cellar knows are read",
            url,
            declared,
            READ_VERSION,
        )
