"""Render the mirror's Simple API pages: PEP 503/629 HTML and PEP 691/700 JSON (pure).

Pages link files by URL relative to the page (``../../packages/...``) so the tree can be served
from any host and path prefix, each link carrying ``#sha256=`` and the PEP 592, 658/714 and 700
details the upstream gave.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any
from urllib.parse import quote

from packaging.utils import canonicalize_name

from cellar.model import API_VERSION, ProjectListing, PublishedFile


def _href(file: PublishedFile) -> str:
    return "../../" + quote(file.path, safe="/")


def _attr(name: str, value: str) -> str:
    return f' {name}="{escape(value, quote=True)}"'


def render_project_html(listing: ProjectListing) -> bytes:
    """Return the PEP 503 project page (with PEP 629 version and PEP 792 status meta tags)."""
    name = escape(canonicalize_name(listing.name))
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">',
    ]
    if listing.status:
        lines.append(f'    <meta name="pypi:project-status" content="{escape(listing.status)}">')
        if listing.status_reason:
            lines.append(
                '    <meta name="pypi:project-status-reason"'
                f' content="{escape(listing.status_reason)}">'
            )
    lines += [f"    <title>Links for {name}</title>", "  </head>", "  <body>"]
    lines.append(f"    <h1>Links for {name}</h1>")
    for file in listing.files:
        entry = file.entry
        attrs = _attr("href", f"{_href(file)}#sha256={file.sha256}")
        if entry.requires_python:
            attrs += _attr("data-requires-python", entry.requires_python)
        if entry.yanked:
            attrs += _attr("data-yanked", entry.yanked_reason or "")
        if file.metadata_sha256:
            digest = f"sha256={file.metadata_sha256}"
            attrs += _attr("data-dist-info-metadata", digest)
            attrs += _attr("data-core-metadata", digest)
        if entry.provenance:
            attrs += _attr("data-provenance", entry.provenance)
        lines.append(f"    <a{attrs}>{escape(entry.filename)}</a><br>")
    lines += ["  </body>", "</html>", ""]
    return "\n".join(lines).encode("utf-8")


def _file_json(file: PublishedFile) -> dict[str, Any]:
    entry = file.entry
    data: dict[str, Any] = {
        "filename": entry.filename,
        "url": _href(file),
        "hashes": {"sha256": file.sha256},
        "requires-python": entry.requires_python,
        "size": file.size,
        "yanked": (entry.yanked_reason or True) if entry.yanked else False,
    }
    if entry.upload_time:
        data["upload-time"] = entry.upload_time
    # PEP 714: `core-metadata` only, and only when there is a metadata file (as PyPI does).
    # Never the legacy `dist-info-metadata` key in JSON: pip 22.3 to 23.1 (Debian 12's
    # python3-pip is 23.0.1) crash on it. HTML pages keep both attributes, as PEP 714 asks.
    if file.metadata_sha256:
        data["core-metadata"] = {"sha256": file.metadata_sha256}
    if entry.provenance:
        data["provenance"] = entry.provenance
    return data


def _dump(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def render_project_json(listing: ProjectListing) -> bytes:
    """Return the PEP 691 project page with PEP 700 versions/size/upload-time and PEP 792 status."""
    data: dict[str, Any] = {
        "meta": {"api-version": API_VERSION},
        "name": canonicalize_name(listing.name),
        "versions": list(listing.versions),
        "files": [_file_json(file) for file in listing.files],
    }
    if listing.status:
        status: dict[str, str] = {"status": listing.status}
        if listing.status_reason:
            status["reason"] = listing.status_reason
        data["project-status"] = status
    return _dump(data)


def render_root_html(names: Iterable[str]) -> bytes:
    """Return the PEP 503 root page linking each project by its normalised name."""
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">',
        "    <title>Simple index</title>",
        "  </head>",
        "  <body>",
    ]
    for name in _sorted_names(names):
        href = quote(canonicalize_name(name)) + "/"
        lines.append(f'    <a href="{href}">{escape(name)}</a><br>')
    lines += ["  </body>", "</html>", ""]
    return "\n".join(lines).encode("utf-8")


def render_root_json(names: Iterable[str]) -> bytes:
    """Return the PEP 691 root page listing each project."""
    projects = [{"name": name} for name in _sorted_names(names)]
    return _dump({"meta": {"api-version": API_VERSION}, "projects": projects})


def _sorted_names(names: Iterable[str]) -> Sequence[str]:
    return sorted(set(names), key=canonicalize_name)
