"""Which requirement groups a re-run need not plan, and the memos that let the next one skip.

A group is kept when its memo's settings and requirements are today's (its key), every page
it rested on is unchanged upstream (by the root page's serial, else a conditional request),
and each project it selected was last published, complete, from the selection it names. A
kept group costs no page parse, no resolution, and nothing per file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from packaging.utils import NormalizedName

from cellar.errors import CellarError
from cellar.model import DistFile, ProjectPage
from cellar.state import MirrorState, PlanMemo
from cellar.sync.bounded import each_bounded
from cellar.sync.memo import HELD_UNTIL, PlanGroup, published_key
from cellar.upstream.client import UpstreamClient

log = logging.getLogger("cellar.sync")


@dataclass(frozen=True, slots=True)
class Reuse:
    """What planning may skip: the projects of kept groups (name to published key), and the
    groups still to plan."""

    kept: Mapping[NormalizedName, str]
    remaining: tuple[PlanGroup, ...]


async def reusable(
    groups: Sequence[PlanGroup], state: MirrorState, client: UpstreamClient, *, now: float
) -> Reuse:
    """Split ``groups`` into those whose last plan still holds (at the time ``now``) and
    those to plan again."""
    memos = state.plan_memos()
    published = state.published_keys()
    candidates = [
        (group, memo)
        for group in groups
        if (memo := memos.get(group.key)) is not None
        and all(published.get(name) == key for name, key in memo.projects.items())
    ]
    names = {name for _, memo in candidates for name in memo.pages if name != HELD_UNTIL}
    digests = await current_digests(names, state, client)
    kept: dict[NormalizedName, str] = {}
    remaining: list[PlanGroup] = []
    held = {group.key for group, memo in candidates if holds(memo.pages, digests, now=now)}
    for group in groups:
        if group.key in held:
            kept.update((NormalizedName(n), k) for n, k in memos[group.key].projects.items())
        else:
            remaining.append(group)
    if kept:
        log.info(
            "%d of %d requirement groups unchanged since the last run: their %d projects kept",
            len(held),
            len(groups),
            len(kept),
        )
    return Reuse(kept, tuple(remaining))


async def known_digests(
    names: Iterable[NormalizedName], client: UpstreamClient
) -> dict[str, str | None]:
    """Return the digest of each of ``names``' pages as this run read them (no request)."""
    digest: dict[str, str | None] = {}

    async def known(name: NormalizedName) -> None:
        digest[name] = await client.project_digest(name)  # read this run: no request

    await each_bounded(tuple(names), client.settings.concurrency * 2, known)
    return digest


async def memos_of(
    groups: Iterable[PlanGroup],
    pages: Mapping[NormalizedName, ProjectPage],
    files: Mapping[NormalizedName, Sequence[DistFile]],
    consulted: Iterable[NormalizedName],
    client: UpstreamClient,
    *,
    layout: str,
    held_until: float | None = None,
) -> dict[str, PlanMemo]:
    """Return the memo of each of ``groups`` as just planned: ``pages`` and ``files`` are the
    plan's, ``consulted`` every page the plan read (``client`` knows their digests already)."""
    consulted = tuple(consulted)
    digest = await known_digests(consulted, client)
    memos: dict[str, PlanMemo] = {}
    for group in groups:
        reached = group.names if group.names is not None else tuple(pages)
        read = group.names if group.names is not None else consulted
        read_pages: dict[str, str | None] = {name: digest.get(name) for name in read}
        if held_until is not None:
            read_pages[HELD_UNTIL] = repr(held_until)
        memos[group.key] = PlanMemo(
            pages=read_pages,
            projects={
                name: published_key(name, pages[name], files[name], layout=layout)
                for name in reached
                if name in pages and files.get(name)
            },
        )
    return memos


def holds(
    pages: Mapping[str, str | None], digests: Mapping[str, str | None], *, now: float
) -> bool:
    """Whether a plan that read ``pages`` (name to digest) holds when the pages are at
    ``digests``, at the time ``now`` (a file it held for its age may be old enough now)."""
    for name, digest in pages.items():
        if name == HELD_UNTIL:
            try:
                if now >= float(digest or 0):
                    return False
            except ValueError:
                return False
        elif digests.get(name, "?") != digest:
            return False
    return True


async def current_digests(
    names: Iterable[str], state: MirrorState, client: UpstreamClient
) -> dict[str, str | None]:
    """Return the digest of each page as it is upstream now (None: gone), asking only for
    those the root page's serials do not show unchanged."""
    kept = state.page_digests()
    found: dict[str, str | None] = {}
    to_ask: list[str] = []
    for name in names:
        serial, digest = kept.get(name, (None, None))
        if digest is not None and client.current_by_serial(name, serial):
            found[name] = digest
        else:
            to_ask.append(name)

    async def ask(name: str) -> None:
        try:
            found[name] = await client.project_digest(name)
        except CellarError:
            found[name] = UNREADABLE  # planned again, and the plan says what went wrong

    # Without serials, a request each: as many at once as the upstream takes, not a coroutine
    # per project of the mirror.
    await each_bounded(to_ask, client.settings.concurrency * 2, ask)
    return found


#: Equal to no digest: a page that could not be read holds no memo.
UNREADABLE = "unreadable"
