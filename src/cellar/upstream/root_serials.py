"""Read every project's serial from an index's root page (pure, and light to import).

A re-run that finds nothing changed reads the root page and no project page: this reader keeps
it from importing the page parsers (``cellar.upstream.parse``, with pypi_simple, Beautiful
Soup and pydantic: a third of such a run).
"""

from __future__ import annotations

import json
from typing import Any

from packaging.utils import canonicalize_name

from cellar.model import JSON_V1
from cellar.upstream.errors import MalformedPageError, UnsupportedAPIVersionError


def parse_index_serials(body: bytes, content_type: str | None, url: str) -> dict[str, int]:
    """Return each project's ``_last-serial`` on the index page ``body``, by normalised name.

    PyPI's PEP 691 JSON root page gives every project's serial; an HTML page, or a JSON page
    without serials, gives an empty mapping. Raises ``MalformedPageError`` for a JSON page
    that cannot be read or has not the shape of a root page (PEP 691), and
    ``UnsupportedAPIVersionError`` for a major API version above 1.
    """
    if (content_type or "").partition(";")[0].strip().lower() != JSON_V1:
        return {}
    data = _root(body, url)
    serials: dict[str, int] = {}
    for project in data["projects"]:
        serial = project.get("_last-serial")
        if isinstance(serial, int) and not isinstance(serial, bool):
            try:
                serials[canonicalize_name(project["name"], validate=True)] = serial
            except ValueError:
                continue  # not a project name: never asked for, so never current
    return serials


def _root(body: bytes, url: str) -> Any:
    """Return the root page's JSON, checked for its API version and its shape."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        reason = f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        raise MalformedPageError(url, reason) from exc
    except (RecursionError, UnicodeDecodeError):
        raise MalformedPageError(url, "the page cannot be read as a Simple API page") from None
    meta = data.get("meta") if isinstance(data, dict) else None
    version = meta.get("api-version") if isinstance(meta, dict) else None
    if not isinstance(version, str):
        raise MalformedPageError(url, "meta.api-version: missing, or not a string")
    if version.split(".", 1)[0] != "1":
        raise UnsupportedAPIVersionError(url, version)
    projects = data.get("projects")
    if not isinstance(projects, list) or not all(
        isinstance(p, dict) and isinstance(p.get("name"), str) for p in projects
    ):
        raise MalformedPageError(url, "projects: not a list of projects with names")
    return data
