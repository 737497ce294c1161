"""Parse upstream Simple API pages (PEP 691 JSON, PEP 503 HTML) into Cellar's value types.

Pure: bytes and headers in, ``cellar.model`` values out. JSON pages are read with
``cellar.upstream.pep691``'s models, HTML pages with ``pypi_simple``'s parser (loaded with the
first HTML page); this module picks one by Content-Type, turns their results into
``ProjectPage``/``DistFile``, and translates their failures into ``cellar.upstream.errors``
in one place. A minor API version above the one the reader knows is logged on the
``cellar.upstream`` logger rather than emitted as a Python warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urldefrag, urljoin

from packaging.utils import canonicalize_name
from pydantic import ValidationError

from cellar.errors import CellarError
from cellar.model import HTML_LEGACY, HTML_V1, JSON_V1, DistFile, ProjectPage, frozen_mapping
from cellar.tree.paths import is_project_name
from cellar.upstream import pep691
from cellar.upstream.errors import MalformedPageError, UnsupportedAPIVersionError

if TYPE_CHECKING:
    import pypi_simple

logger = logging.getLogger("cellar.upstream")

_HTML_TYPES = frozenset({HTML_V1, HTML_LEGACY})
#: PEP 714: the attribute and key PEP 658 first used, still served by older indexes.
_LEGACY_METADATA_ATTR = "data-dist-info-metadata"
_LEGACY_METADATA_KEY = "dist-info-metadata"
_HEX = re.compile(r"[0-9a-fA-F]+")


def parse_project_page(
    body: bytes,
    content_type: str | None,
    url: str,
    project: str,
    *,
    serial_header: str | None = None,
) -> ProjectPage:
    """Return the project page in ``body``, served from ``url`` with ``content_type``.

    Relative file URLs are resolved against ``url`` (pass the URL after redirects). HTML
    pages do not name their project, so ``project`` (the name asked for) is used as the name;
    a JSON page must name a spelling of it, which is kept as the display name. ``serial_header``
    (``X-PyPI-Last-Serial``) supplies ``last_serial`` when the page itself has none. A
    missing Content-Type is read as ``text/html``, as PEP 503 pages predate negotiation.

    Raises ``MalformedPageError`` for an unsupported Content-Type, a body that is not a
    valid page, or a page naming another project (or no valid name), and
    ``UnsupportedAPIVersionError`` for a major API version above 1.
    """
    kind, charset = _media_type(content_type)
    with _translated_errors(url):
        if kind == JSON_V1:
            found = pep691.project_page(_legacy_json_metadata(_json(body)), url)
            _check_name(found.name, project, url)
            return ProjectPage(
                name=found.name,
                files=tuple(_json_file(entry, url) for entry in found.files),
                status=found.project_status.status,
                status_reason=found.project_status.reason,
                last_serial=_serial(found.meta.last_serial, serial_header, url),
                api_version=found.meta.api_version,
            )
        if kind not in _HTML_TYPES:
            raise MalformedPageError(url, _unsupported(kind))
        page = _project_from_html(project, _html(body, charset, url), url)
        files = tuple(_dist_file(package) for package in page.packages)
    return ProjectPage(
        name=page.project,
        files=files,
        status=page.status.value if page.status is not None else None,
        status_reason=page.status_reason,
        last_serial=_serial(page.last_serial, serial_header, url),
        api_version=page.repository_version,
    )


def parse_index_page(body: bytes, content_type: str | None, url: str) -> tuple[str, ...]:
    """Return the project names, as the index spells them, listed on the index page ``body``.

    Raises ``MalformedPageError`` and ``UnsupportedAPIVersionError`` as ``parse_project_page``.
    """
    kind, charset = _media_type(content_type)
    with _translated_errors(url):
        if kind == JSON_V1:
            return tuple(p.name for p in pep691.index_page(_json(body), url).projects)
        if kind not in _HTML_TYPES:
            raise MalformedPageError(url, _unsupported(kind))
        import pypi_simple  # noqa: PLC0415 - HTML pages only (see the module)

        index = pypi_simple.IndexPage.from_html(_html(body, charset, url))
    return tuple(index.projects)


def _check_name(name: str, project: str, url: str) -> None:
    """Refuse a JSON page whose ``name`` is not a valid spelling of ``project``, the name asked
    for: a page may not speak for another project, nor name a path."""
    if not is_project_name(name):
        raise MalformedPageError(url, f"the page names the project {name!r}, not a valid name")
    if canonicalize_name(name) != canonicalize_name(project):
        raise MalformedPageError(url, f"the page names the project {name!r}, not {project!r}")


def _media_type(content_type: str | None) -> tuple[str, str | None]:
    """Split a Content-Type header into its lower-cased media type and its charset."""
    if content_type is None or not content_type.strip():
        return HTML_LEGACY, None
    kind, _, params = content_type.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    return kind.strip().lower(), charset


def _unsupported(kind: str) -> str:
    return f"unsupported Content-Type {kind!r} (expected {JSON_V1}, {HTML_V1} or {HTML_LEGACY})"


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except RecursionError:
        raise ValueError("the JSON is nested too deeply to be a Simple API page") from None


def _html(body: bytes, charset: str | None, url: str) -> str | bytes:
    """Decode ``body`` with the declared ``charset``; without one, let the parser detect it."""
    if charset is None:
        return body
    try:
        return body.decode(charset)
    except LookupError:
        raise MalformedPageError(url, f"unknown charset {charset!r}") from None
    except UnicodeDecodeError as exc:
        raise MalformedPageError(url, f"body is not valid {charset}: {exc.reason}") from exc


def _legacy_json_metadata(data: Any) -> Any:
    """Copy PEP 714's legacy ``dist-info-metadata`` key to ``core-metadata`` if that is unset."""
    if isinstance(data, dict) and isinstance(data.get("files"), list):
        files = [
            {**entry, "core-metadata": entry[_LEGACY_METADATA_KEY]}
            if isinstance(entry, dict)
            and _LEGACY_METADATA_KEY in entry
            and "core-metadata" not in entry
            else entry
            for entry in data["files"]
        ]
        data = {**data, "files": files}
    return data


def _project_from_html(project: str, html: str | bytes, url: str) -> pypi_simple.ProjectPage:
    """Like ``pypi_simple.ProjectPage.from_html``, but also reading ``data-dist-info-metadata``."""
    import pypi_simple  # noqa: PLC0415 - HTML pages only (see the module)

    page = pypi_simple.RepositoryPage.from_html(html, url)
    packages = []
    for link in page.links:
        if _LEGACY_METADATA_ATTR in link.attrs and "data-core-metadata" not in link.attrs:
            attrs = {**link.attrs, "data-core-metadata": link.attrs[_LEGACY_METADATA_ATTR]}
            link = replace(link, attrs=attrs)  # noqa: PLW2901 -- the same link, one attribute renamed
        packages.append(pypi_simple.DistributionPackage.from_link(link, project))
    return pypi_simple.ProjectPage(
        project=project,
        packages=packages,
        repository_version=page.repository_version,
        last_serial=None,
        status=page.status,
        status_reason=page.status_reason,
    )


@contextmanager
def _translated_errors(url: str) -> Iterator[None]:
    """Turn ``pypi_simple``'s errors and warnings about the page at ``url`` into Cellar's."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # pypi-simple's own errors and warnings exist only once an HTML page loaded it.
        simple = sys.modules.get("pypi_simple")
        unsupported = simple.UnsupportedRepoVersionError if simple is not None else _Never
        try:
            yield
        except unsupported as exc:
            declared: str = getattr(exc, "declared_version", "")
            raise UnsupportedAPIVersionError(url, declared) from exc
        except ValidationError as exc:
            raise MalformedPageError(url, _validation_reason(exc)) from exc
        except ValueError as exc:
            raise MalformedPageError(url, str(exc) or type(exc).__name__) from exc
        except CellarError:
            raise
        except RecursionError:
            raise MalformedPageError(url, "the page is nested too deeply to be read") from None
        except Exception as exc:
            # The parsers are pure: any exception means bytes they cannot read, so a failure
            # of this page alone (logged in full for a bug report), never of the whole run.
            logger.debug("%s: the parser raised", url, exc_info=True)
            raise MalformedPageError(url, f"cannot be read ({type(exc).__name__}: {exc})") from exc
        finally:
            simple = sys.modules.get("pypi_simple")
            for warning in caught:
                level = (
                    logging.WARNING
                    if simple is not None
                    and issubclass(warning.category, simple.UnexpectedRepoVersionWarning)
                    else logging.DEBUG
                )
                logger.log(level, "%s: %s", url, warning.message)


class _Never(Exception):
    """Raised by nothing: stands for pypi-simple's errors while it is not loaded."""


def _validation_reason(exc: ValidationError) -> str:
    """Describe the first problem pydantic found, as ``location: message``."""
    errors = exc.errors()
    if not errors:
        return "the page does not have the shape of a Simple API page"
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"])
    reason = f"{where}: {first['msg']}" if where else str(first["msg"])
    if len(errors) > 1:
        reason += f" (and {len(errors) - 1} more problems)"
    return reason


def _checked_digests(digests: dict[str, str], what: str) -> dict[str, str]:
    """Return ``digests`` if each one hashlib knows is hex of its length; raise ``ValueError``.

    A digest Cellar would compare (or write to its pages) must be one it could compute.
    """
    for algorithm, value in digests.items():
        if not isinstance(value, str):
            raise ValueError(f"{what}: the {algorithm!r} digest {value!r} is not a string")
        if algorithm in hashlib.algorithms_guaranteed and not algorithm.startswith("shake"):
            length = hashlib.new(algorithm).digest_size * 2
            if len(value) != length or not _HEX.fullmatch(value):
                raise ValueError(
                    f"{what}: the {algorithm} digest {value!r} is not {length} hex digits"
                )
    return digests


def _dist_file(package: pypi_simple.DistributionPackage) -> DistFile:
    what = repr(package.filename)
    metadata = package.metadata_digests if package.has_metadata else None
    return DistFile(
        filename=package.filename,
        url=urldefrag(package.url).url,
        hashes=frozen_mapping(_checked_digests(package.digests, what)),
        requires_python=package.requires_python,
        yanked=package.is_yanked,
        yanked_reason=package.yanked_reason or None,
        core_metadata=(
            frozen_mapping(_checked_digests(metadata, f"{what} core-metadata"))
            if metadata is not None
            else None
        ),
        size=package.size,
        upload_time=_utc_timestamp(package.upload_time),
        provenance=package.provenance_url,
    )


def _json_file(entry: pep691.JsonFile, url: str) -> DistFile:
    """Return a JSON page's file entry as a ``DistFile``, its URL resolved against ``url``."""
    what = repr(entry.filename)
    metadata = entry.core_metadata
    if metadata is True:
        metadata = {}
    return DistFile(
        filename=entry.filename,
        url=urldefrag(urljoin(url, entry.url)).url,
        hashes=frozen_mapping(_checked_digests(entry.hashes, what)),
        requires_python=entry.requires_python,
        yanked=entry.yanked is not False and entry.yanked is not None,
        yanked_reason=entry.yanked if isinstance(entry.yanked, str) and entry.yanked else None,
        core_metadata=(
            frozen_mapping(_checked_digests(metadata, f"{what} core-metadata"))
            if isinstance(metadata, dict)
            else None
        ),
        size=entry.size,
        upload_time=_utc_timestamp(entry.upload_time),
        provenance=None if entry.provenance is None else str(entry.provenance),
    )


def _utc_timestamp(moment: datetime | None) -> str | None:
    """Format ``moment`` as PEP 700 does: ``YYYY-MM-DDThh:mm:ss[.ffffff]Z`` in UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


def _serial(from_page: str | None, from_header: str | None, url: str) -> int | None:
    """Return the page's last serial, from its JSON ``meta`` or else from the header."""
    if from_page is not None:
        try:
            return int(from_page)
        except ValueError:
            raise MalformedPageError(url, f"_last-serial {from_page!r} is not an integer") from None
    if from_header is not None:
        try:
            return int(from_header)
        except ValueError:
            logger.debug("%s: ignoring X-PyPI-Last-Serial %r, not an integer", url, from_header)
    return None
