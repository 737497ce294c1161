"""Render the pages for people: the home page, a project's page and the not-found page (pure).

Plain HTML with one small inline style sheet: no script, no external asset (a mirror may be
air-gapped), readable on a laptop screen. Everything that comes from outside (project names,
file names, yanked reasons, the query, the Host header) is escaped. Links are relative, like the
Simple API pages', so a reverse proxy may add a path prefix: the home page is ``/``, a project's
page ``/project/<name>/``, whose files are ``../../packages/...`` as on ``/simple/<name>/``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from typing import Final
from urllib.parse import quote, urlencode

from packaging.utils import canonicalize_name

from cellar import __version__, clients
from cellar.clients import ClientAccess
from cellar.model import ProjectListing, PublishedFile
from cellar.serve.catalogue import (
    MirrorStatus,
    ProjectSearch,
    Release,
    latest_version,
    releases,
)
from cellar.serve.human_style import STYLE
from cellar.serve.humanize import (
    format_age,
    format_count,
    format_duration,
    format_size,
    format_time,
    parse_time,
)
from cellar.state import RunRecord

#: Failures of the last run shown on the home page; the rest are counted.
SHOWN_FAILURES: Final = 20


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _document(title: str, root: str, query: str, body: Iterable[str]) -> bytes:
    """Return the whole page: head, header with the search box, ``body``, footer."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        "<header><div>",
        f'<a class="brand" href="{_e(root or "./")}">Cellar package mirror</a>',
        f'<form action="{_e(root or "./")}" method="get" role="search">',
        f'<input type="search" name="q" value="{_e(query)}" placeholder="Search projects"'
        ' aria-label="Search projects">',
        '<button type="submit">Search</button>',
        "</form>",
        "</div></header>",
        "<main>",
        *body,
        "</main>",
        f'<footer>Cellar {_e(__version__)} · <a href="{_e(root)}simple/">Simple API</a>'
        " (for pip and uv)</footer>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts).encode("utf-8")


def _setup_blocks(setup: ClientAccess, name: str, *, config_files: bool) -> list[str]:
    """Return the pip and uv command lines for ``name``, and the configuration files."""
    url = setup.index_url
    trusted = f" --trusted-host {setup.trusted_host}" if setup.trusted_host else ""
    out = [
        '<div class="setup">',
        "<h3>pip</h3>",
        f"<pre><code>pip install --index-url {_e(url)}{_e(trusted)} {_e(name)}</code></pre>",
        "<h3>uv</h3>",
        f"<pre><code>uv pip install --index-url {_e(url)} {_e(name)}</code></pre>",
    ]
    if config_files:
        # The same files `cellar client-config` prints and writes.
        pip_conf, uv_toml = clients.pip_conf(setup).strip(), clients.uv_toml(setup).strip()
        out += [
            '<div class="files">',
            "<div><h3>pip.conf (pip.ini on Windows): for every pip command</h3>",
            f"<pre><code>{_e(pip_conf)}</code></pre></div>",
            "<div><h3>uv.toml (or [[tool.uv.index]] in pyproject.toml)</h3>",
            f"<pre><code>{_e(uv_toml)}</code></pre></div>",
            "</div>",
        ]
    out.append("</div>")
    return out


def render_home(
    search: ProjectSearch, status: MirrorStatus, setup: ClientAccess, *, now: datetime
) -> bytes:
    """Return the home page: what the mirror holds, how to use it, last sync, the projects.

    The project list, long on a large mirror, comes last, unless it answers a search.
    """
    usage = [
        "<h2>Use it</h2>",
        "<p>Point pip or uv at this mirror's index; on the command line:</p>",
        *_setup_blocks(setup, "<project>", config_files=True),
    ]
    details = _sync_details(status, now)
    projects = _project_list(search)
    sections = [projects, usage, details] if search.query else [usage, details, projects]
    body = ["<h1>What this mirror holds</h1>", *_cards(status, search.total, now)]
    for section in sections:
        body += section
    return _document("Cellar package mirror", "", search.query, body)


def _cards(status: MirrorStatus, listed: int, now: datetime) -> list[str]:
    totals = status.totals
    projects = totals.projects if totals is not None else listed
    cards = [(format_count(projects), "projects")]
    if totals is not None:
        cards += [(format_count(totals.files), "files"), (format_size(totals.bytes), "disk used")]
    out = ['<div class="cards">']
    out += [
        f'<div class="card"><b>{_e(value)}</b><span>{label}</span></div>' for value, label in cards
    ]
    run = status.last_run
    if run is not None:
        age = format_age(run.started_at, now) or run.started_at
        out.append(
            f'<div class="card"><b>{_e(age)}</b><span>last sync, {_outcome(run)}</span></div>'
        )
    bundle = status.bundle
    if bundle is not None:
        age = format_age(bundle.applied_at, now) or bundle.applied_at
        out.append(
            f'<div class="card"><b>{_e(age)}</b>'
            f"<span>last bundle, number {bundle.sequence}</span></div>"
        )
    out.append("</div>")
    if status.problem is not None:
        out.append(
            f'<p class="notice">The mirror\'s record cannot be read: {_e(status.problem)}</p>'
        )
    return out


def _project_list(search: ProjectSearch) -> list[str]:
    out = ['<h2 id="projects">Projects</h2>']
    shown = len(search.entries)
    first = (search.page - 1) * search.page_size + 1
    span = f"{format_count(first)}&ndash;{format_count(first + shown - 1)}"
    if search.query:
        quoted = f"“{_e(search.query)}”"
        if not search.matched:
            out.append(
                f'<p class="summary">No project matches {quoted}. <a href="./">All projects</a></p>'
            )
            return out
        noun = "project matches" if search.matched == 1 else "projects match"
        text = f"{format_count(search.matched)} {noun} {quoted}"
        out.append(
            f'<p class="summary">{text}' + (f", showing {span}." if search.pages > 1 else ".")
        )
    elif not search.total:
        out.append("<p>No project yet: run <code>cellar mirror</code>.</p>")
        return out
    elif search.pages > 1:
        out.append(f'<p class="summary">{format_count(search.total)} projects, showing {span}.</p>')
    out.append('<ul class="projects">')
    out += [
        f'<li><a href="project/{_e(quote(entry.name))}/">{_e(entry.display)}</a>'
        + (' <span class="badge">hosted</span>' if entry.hosted else "")
        + "</li>"
        for entry in search.entries
    ]
    out.append("</ul>")
    if search.pages > 1:
        out.append(_pager(search))
    return out


def _pager(search: ProjectSearch) -> str:
    def link(page: int, text: str) -> str:
        params = {"q": search.query} if search.query else {}
        params["page"] = str(page)
        return f'<a href="./?{_e(urlencode(params))}#projects">{text}</a>'

    parts = ['<p class="pager">']
    if search.page > 1:
        parts.append(link(search.page - 1, "← previous"))
    parts.append(f"<span>page {search.page} of {search.pages}</span>")
    if search.page < search.pages:
        parts.append(link(search.page + 1, "next →"))
    parts.append("</p>")
    return "".join(parts)


def _sync_details(status: MirrorStatus, now: datetime) -> list[str]:
    out = ['<h2 id="status">Last sync</h2>']
    run = status.last_run
    bundle = status.bundle
    if run is None and bundle is not None:
        out.append(
            f"<p>This mirror is fed by bundles carried across an air gap. The last one applied "
            f"is number {bundle.sequence} (<code>{_e(bundle.bundle[:16])}</code>), at "
            f"{_e(bundle.applied_at)}.</p>"
        )
    elif run is None:
        if status.totals is not None:
            out.append("<p>No sync has run yet: run <code>cellar mirror</code>.</p>")
        else:
            out.append(
                '<p class="muted">Unknown: this server cannot read the mirror\'s record.</p>'
            )
    else:
        out += _run_table(run, now)
    if status.totals is not None or status.free_bytes is not None:
        out.append("<h2>Disk</h2><p>")
        if status.totals is not None:
            out.append(
                f"{format_size(status.totals.bytes)} in {format_count(status.totals.files)}"
                " files listed on the pages."
            )
        if status.free_bytes is not None:
            out.append(f"{format_size(status.free_bytes)} free on the mirror's file system.")
        out.append("</p>")
    return out


def _outcome(run: RunRecord) -> str:
    """Return how ``run`` ended, as HTML: not finished, without failures, or with how many."""
    if run.finished_at is None:
        return '<span class="warn">not finished</span>'
    if not run.failures:
        return '<span class="ok">no failures</span>'
    count = len(run.failures)
    return f'<span class="warn">{format_count(count)} failure{"s" if count != 1 else ""}</span>'


def _run_table(run: RunRecord, now: datetime) -> list[str]:
    started = parse_time(run.started_at)
    finished = parse_time(run.finished_at) if run.finished_at else None
    rows = [
        ("Started", f"{_e(format_time(run.started_at))} ({_e(format_age(run.started_at, now))})")
    ]
    if run.finished_at is None:
        rows.append(("Finished", '<span class="warn">not finished: running now, or stopped</span>'))
    else:
        rows.append(("Finished", _e(format_time(run.finished_at))))
        if started is not None and finished is not None:
            rows.append(("Duration", format_duration((finished - started).total_seconds())))
        rows += [
            ("Projects", format_count(run.projects)),
            ("Files added", f"{format_count(run.files_added)} ({format_size(run.bytes_added)})"),
        ]
        rows.append(("Result", _outcome(run)))
    out = ['<table class="facts">']
    out += [f'<tr><th scope="row">{label}</th><td>{value}</td></tr>' for label, value in rows]
    out.append("</table>")
    if run.failures:
        out.append('<ul class="failures">')
        for failure in run.failures[:SHOWN_FAILURES]:
            where = f" <code>{_e(failure.filename)}</code>" if failure.filename else ""
            out.append(f"<li><b>{_e(failure.project)}</b>{where}: {_e(failure.message)}</li>")
        out.append("</ul>")
        if len(run.failures) > SHOWN_FAILURES:
            more = len(run.failures) - SHOWN_FAILURES
            out.append(
                f'<p class="muted">and {format_count(more)} more'
                " (<code>cellar status</code> lists them all).</p>"
            )
    return out


def render_project(
    listing: ProjectListing,
    display_name: str,
    setup: ClientAccess,
    refused: Sequence[tuple[str, str, str]] = (),
    *,
    hosted: bool = False,
) -> bytes:
    """Return the page for people of one project, served at ``/project/<name>/``; ``refused``
    is what the policy keeps out of it: (what, rule, why) each; ``hosted`` says it is
    uploaded here, not mirrored."""
    name = canonicalize_name(listing.name)
    found = releases(listing)
    versions = [release for release in found if release.version is not None]
    body = [
        '<p><a href="../../">← All projects</a></p>',
        f"<h1>{_e(display_name)}"
        + (' <span class="badge">hosted</span>' if hosted else "")
        + "</h1>",
    ]
    if hosted:
        body.append(
            '<p class="muted">Hosted here: uploaded to this index, never taken from the '
            "upstream.</p>"
        )
    if listing.status:
        reason = f": {_e(listing.status_reason)}" if listing.status_reason else ""
        body.append(f'<p class="notice">This project is {_e(listing.status)}{reason}</p>')
    summary = f"{format_count(len(versions))} version{'s' if len(versions) != 1 else ''}"
    summary += f" · {format_count(len(listing.files))} file{'s' if len(listing.files) != 1 else ''}"
    latest = latest_version(found)
    if latest is not None:
        summary += f" · latest <b>{_e(latest)}</b>"
    simple = f"../../simple/{_e(quote(name))}/"
    body.append(f'<p class="muted">{summary} · <a href="{simple}">Simple API page</a></p>')
    body += ["<h2>Install</h2>", *_setup_blocks(setup, name, config_files=False)]
    if len(versions) > 1:
        body.append('<h2>Versions</h2><ul class="versions">')
        body += [
            f'<li><a href="#{_e(_anchor(r))}">{_e(r.version)}</a>'
            + (' <span class="badge">yanked</span>' if r.yanked else "")
            + "</li>"
            for r in versions
        ]
        body.append("</ul>")
    if not found:
        body.append("<p>This project lists no files.</p>")
    if refused:
        body += [
            '<h2 id="refused">Kept out by the policy</h2>',
            '<p class="muted">Not mirrored, not listed: what the mirror\'s supply-chain policy'
            " refuses, and why.</p>",
            '<table class="release">',
            "<tr><th>Release or file</th><th>Rule</th><th>Why</th></tr>",
            *(
                f"<tr><td>{_e(what)}</td><td>{_e(rule)}</td><td>{_e(why)}</td></tr>"
                for what, rule, why in refused
            ),
            "</table>",
        ]
    for release in found:
        body += _release(release)
    return _document(f"{display_name} · Cellar package mirror", "../../", "", body)


def _anchor(release: Release) -> str:
    return f"v{release.version}" if release.version is not None else "other-files"


def _release(release: Release) -> list[str]:
    title = _e(release.version) if release.version is not None else "Other files"
    badge = ' <span class="badge">yanked</span>' if release.yanked else ""
    out = [
        f'<h2 id="{_e(_anchor(release))}">{title}{badge}</h2>',
        '<table class="release">',
        '<tr><th>File</th><th class="num">Size</th><th>Requires Python</th><th>Uploaded</th></tr>',
    ]
    out += [_file_row(file) for file in release.files]
    out.append("</table>")
    return out


def _file_row(file: PublishedFile) -> str:
    entry = file.entry
    href = "../../" + quote(file.path, safe="/")
    cell = f'<a class="file" href="{_e(href)}">{_e(entry.filename)}</a>'
    if entry.yanked:
        reason = f": {_e(entry.yanked_reason)}" if entry.yanked_reason else ""
        cell += f' <span class="badge">yanked{reason}</span>'
    cell += f'<div class="hash">sha256: {_e(file.sha256)}</div>'
    if file.metadata_sha256:
        cell += f'<div class="hash"><a href="{_e(href)}.metadata">metadata</a></div>'
    uploaded = format_time(entry.upload_time) if entry.upload_time else "—"
    row_class = ' class="yanked"' if entry.yanked else ""
    return (
        f'<tr{row_class}><td>{cell}</td><td class="num">{format_size(file.size)}</td>'
        f"<td>{_requires_python(entry.requires_python)}</td><td>{_e(uploaded)}</td></tr>"
    )


def _requires_python(text: str | None) -> str:
    """Return Requires-Python as HTML that wraps only between its clauses (``>=3.8, <4``),
    never inside one (a narrow column would otherwise show ``>=3.`` over ``8``)."""
    if not text:
        return "—"
    clauses = [clause.strip() for clause in text.split(",") if clause.strip()]
    return ", ".join(f'<span class="clause">{_e(clause)}</span>' for clause in clauses)


def render_not_found(spelled: str, root: str) -> bytes:
    """Return the page for an unknown project ``spelled``; ``root`` leads back to ``/``."""
    search = f"{root or './'}?{urlencode({'q': spelled})}"
    body = [
        "<h1>Not on this mirror</h1>",
        f"<p>This mirror has no project named “{_e(spelled)}”.</p>",
        f'<p><a href="{_e(search)}">Search for “{_e(spelled)}”</a> or see'
        f' <a href="{_e(root or "./")}">all projects</a>. A project is here only if the'
        " mirror's configuration asks for it (or something it needs).</p>",
    ]
    return _document("Not found · Cellar package mirror", root, spelled, body)
