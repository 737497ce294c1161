"""Plan a sync: resolve the closure for every target against the upstream, without downloading
distributions, and say what is new against the mirror on disk.

Each target resolves in its own worker thread; pages and metadata are fetched on the event loop
and shared between threads, so a page or metadata file is fetched once per run, and not at all
when the state's metadata cache already knows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from cellar import aio
from cellar.config.model import Config
from cellar.errors import CellarError
from cellar.hosted.overlay import HostedOverlay
from cellar.hosted.records import HostedTree, read_hosted
from cellar.model import DistFile
from cellar.policy.gate import PolicyGate
from cellar.state import STATE_DIR, MirrorState
from cellar.state.memo import PlanMemo
from cellar.state.snapshots import PageStats
from cellar.sync.bounded import each_bounded
from cellar.sync.memo import HELD_UNTIL, layout, merged, plan_groups, report_key
from cellar.sync.paths import mirror_path
from cellar.sync.planned import MirrorPlan, Novelty
from cellar.sync.report import PlanReport, kept_report, report_of, stored_report
from cellar.sync.reuse import current_digests, holds, known_digests, memos_of, reusable
from cellar.sync.serial_costs import SerialCosts, use_root_serials
from cellar.sync.uv_pins import (
    UvPins,
    UvSettings,
    find_uv,
    page_fingerprint,
    remember_failures,
    uv_inputs,
    uv_pins,
)
from cellar.tree.open import open_tree
from cellar.tree.storage import Storage, StorageError
from cellar.units import counted
from cellar.upstream.client import ClientSettings, UpstreamClient
from cellar.upstream.errors import UpstreamError
from cellar.upstream.retry import RetryPolicy

if TYPE_CHECKING:
    # The resolver and what feeds it are loaded when a plan is made: a plan whose last
    # report holds (``run_plan_report``) never needs them.
    from cellar.select.closure import ClosureSettings
    from cellar.select.outcome import ClosurePlan
    from cellar.select.sources import RequirementSet
    from cellar.select.targets import TargetEnvironment
    from cellar.sync.repository import UpstreamRepository

log = logging.getLogger("cellar.sync")


def closure_settings(config: Config) -> ClosureSettings:
    """Return the closure settings ``config`` asks for."""
    from cellar.select.closure import ClosureSettings  # noqa: PLC0415 - see TYPE_CHECKING

    packages = config.packages
    return ClosureSettings(
        dependencies=packages.dependencies,
        versions=packages.versions,
        prereleases=packages.prereleases,
        sdists=packages.sdists,
        constraints=packages.constraints,
        judge_metadata=config.policy.licences.active,
    )


async def make_plan(
    config: Config,
    client: UpstreamClient,
    state: MirrorState | None,
    *,
    reuse: bool = False,
    now: float | None = None,
    hosted: HostedOverlay | None = None,
) -> MirrorPlan:
    """Resolve what ``config`` selects for each of its targets and return the plan.

    The policy (``[policy]``) judges every page at the time ``now`` (a POSIX time; the
    present by default): what it refuses is not resolved, and its decisions are the plan's
    ``gate``. Hosted projects (``hosted``, with ``config`` already ``with_hosted``) are
    answered from the tree, and are not in the plan: the run does not publish them.

    With ``reuse``, requirement groups whose last plan still holds (``cellar.sync.reuse``) are
    not planned: their projects are in the plan's ``kept``; memos of the groups planned are
    recorded for the next run. Resolution failures are in the plan; upstream errors for pages
    or metadata become failures of the resolutions that needed them.
    """
    moment = time.time() if now is None else now
    try:
        return await _make_plan(config, client, state, reuse=reuse, now=moment, hosted=hosted)
    finally:
        if state is not None:
            _record_costs(state, client.page_stats)


async def _make_plan(
    config: Config,
    client: UpstreamClient,
    state: MirrorState | None,
    *,
    reuse: bool,
    now: float,
    hosted: HostedOverlay | None,
) -> MirrorPlan:
    started = time.monotonic()
    if state is not None and use_root_serials(
        config.mirror.root_serials, serial_costs(state), concurrency=config.mirror.workers
    ):
        await _load_root_serials(client)
    groups = plan_groups(config) if reuse and state is not None else None
    requirements, sets = config.packages.requirements, config.packages.sets
    kept: Mapping[NormalizedName, str] = {}
    if groups is not None and state is not None:
        found = await reusable(groups, state, client, now=now)
        kept, groups = found.kept, list(found.remaining)
        requirements, sets = merged(groups)
        if not groups:
            from cellar.select.outcome import merge_plans  # noqa: PLC0415 - see TYPE_CHECKING

            return MirrorPlan(
                merge_plans([]),
                {},
                seconds=time.monotonic() - started,
                requests=client.page_stats.requests,
                kept=kept,
            )
    plan = await _plan(config, client, state, requirements, sets, now=now, hosted=hosted)
    plan = dataclasses.replace(
        plan, kept=kept, seconds=time.monotonic() - started, requests=client.page_stats.requests
    )
    if groups is not None and state is not None and not plan.failures and not plan.refused:
        # A plan that failed somewhere is made again next time: its failures are said again.
        memos = await memos_of(
            groups,
            plan.pages,
            {name: plan.files(name) for name in plan.closure.files},
            plan.consulted,
            client,
            layout=layout(config),
            held_until=plan.gate.held_until if plan.gate is not None else None,
        )
        if hosted is not None:
            memos = _without_local(memos, hosted)
        state.record_plan_memos(memos)
    return plan


async def _plan(
    config: Config,
    client: UpstreamClient,
    state: MirrorState | None,
    requirements: tuple[Requirement, ...],
    sets: tuple[RequirementSet, ...],
    *,
    now: float,
    hosted: HostedOverlay | None = None,
) -> MirrorPlan:
    # The resolver is loaded once a plan is made (see TYPE_CHECKING above).
    from cellar.select.closure import EveryTarget, plan_target, take_pins  # noqa: PLC0415
    from cellar.select.outcome import TargetPlan, merge_plans  # noqa: PLC0415
    from cellar.select.targets import TargetEnvironment  # noqa: PLC0415

    loop = asyncio.get_running_loop()
    repository = _repository(loop, config, client, state, now=now, hosted=hosted)
    settings = closure_settings(config)
    # The pages every target reads first, fetched side by side before the resolvers start:
    # a resolver thread asks for them one at a time (100k projects: minutes, one by one).
    named = [*requirements, *(r for group in sets for r in group.requirements)]
    await _prefetch(repository, {canonicalize_name(r.name) for r in named}, config.mirror.workers)

    # No targets: every file of the chosen releases (a bandersnatch configuration's default).
    targets: tuple[TargetEnvironment | EveryTarget, ...] = config.targets or (EveryTarget(),)
    uv, uv_wanted = _hidden_from_uv(uv_settings(config), uv_inputs(requirements, sets), hosted)
    uv_limit = asyncio.Semaphore(uv.concurrency if uv else 1)
    # The resolvers get threads of their own, one per target: each blocks while the loop
    # fetches for it, and the loop needs asyncio's default executor free (name lookups,
    # hashing, reading archives). Resolvers there would starve the loop, and deadlock it
    # once there are as many targets as that executor has threads.
    resolvers = ThreadPoolExecutor(len(targets), thread_name_prefix="cellar-resolve")

    # With names kept for hosting, uv runs after the target resolves, told every such name the
    # resolution met: uv would otherwise ask the upstream for them.
    after = uv is not None and hosted is not None and bool(hosted.names or hosted.settings.reserve)

    async def one(target: TargetEnvironment | EveryTarget) -> TargetPlan:
        asked = None
        if uv is not None and isinstance(target, TargetEnvironment) and not after:
            # uv runs in processes of its own while this target resolves.
            asked = _uv_task(uv, target, uv_wanted, uv_limit, state=state, fingerprint=fingerprint)
        found = await loop.run_in_executor(
            resolvers, plan_target, requirements, target, repository, settings, sets
        )
        if after and uv is not None and isinstance(target, TargetEnvironment):
            asked = _uv_task(
                uv,
                target,
                uv_wanted,
                uv_limit,
                state=state,
                fingerprint=fingerprint,
                hidden=repository.local_asked,
            )
        if asked is not None and isinstance(target, TargetEnvironment):
            chosen = await asked
            for label, reason in chosen.failed:
                said = f"uv could not resolve {label}, so pip's pins alone: {reason}"
                to_say.setdefault(said, []).append(target.name)
            if chosen.reused:
                log.info(
                    "%s: uv's pins for %s reused (no page they rest on changed), %d asked anew",
                    target.name,
                    counted(chosen.reused, "set"),
                    chosen.asked,
                )
            take = partial(take_pins, resolver="uv")
            await loop.run_in_executor(
                resolvers, take, found, chosen.pins, target, repository, settings
            )
            if state is not None:
                await remember_failures(state, fingerprint, chosen, found.pins())
        log.info(
            "%s: resolved %s%s%s",
            target.name,
            counted(len(found.pins()), "project"),
            f" (uv's pins add {counted(sum(map(len, found.taken.values())), 'release')})"
            if found.taken
            else "",
            f", {len(found.failures)} could not be resolved" if found.failures else "",
        )
        for note in [*found.notes, *(n for r in found.resolutions for n in r.notes)]:
            if target.name not in to_say.setdefault(note, []):
                to_say[note].append(target.name)
        return found

    fingerprints: dict[NormalizedName, str] = {}

    async def fingerprint(name: NormalizedName) -> str:
        # Once per page and run: every remembered answer of every target asks again.
        if name not in fingerprints:
            try:
                fingerprints[name] = page_fingerprint(await repository.page_on_loop(name))
            except CellarError:
                # Never equal to a recorded fingerprint: uv is asked again.
                fingerprints[name] = "unreadable"
        return fingerprints[name]

    # What to warn of, once for all the targets it holds on (sixteen lines saying the same
    # would hide the one that differs).
    to_say: dict[str, list[str]] = {}
    log.info("resolving for %d target%s", len(targets), "s" * (len(targets) != 1))
    try:
        target_plans = await asyncio.gather(*(one(target) for target in targets))
    finally:
        resolvers.shutdown(wait=False, cancel_futures=True)
    warnings = _said(to_say, [target.name for target in targets])
    closure = _without_hosted(merge_plans(target_plans), hosted)
    return MirrorPlan(
        closure,
        dict(repository.pages),
        dict(repository.refused),
        consulted=repository.consulted,
        warnings=tuple(warnings),
        gate=repository.gate,
    )


def _said(to_say: Mapping[str, list[str]], targets: Sequence[str]) -> tuple[str, ...]:
    """Log each warning once, naming the targets it holds on in order; return the lines."""
    order = {name: index for index, name in enumerate(targets)}
    warnings = []
    for warning, held in to_say.items():
        names = sorted(held, key=order.__getitem__)
        on = names[0] if len(names) == 1 else f"{len(names)} targets ({', '.join(names)})"
        warnings.append(f"{on}: {warning}")
        log.warning("%s", warnings[-1])
    return tuple(warnings)


def _repository(
    loop: asyncio.AbstractEventLoop,
    config: Config,
    client: UpstreamClient,
    state: MirrorState | None,
    *,
    now: float,
    hosted: HostedOverlay | None = None,
) -> UpstreamRepository:
    """Return the upstream as the resolvers see it, caching metadata in ``state``, its pages
    judged by the policy at the time ``now``."""
    from cellar.sync.repository import UpstreamRepository  # noqa: PLC0415 - see TYPE_CHECKING
    from cellar.upstream.metadata import MetadataFetcher  # noqa: PLC0415

    gate = PolicyGate.open(config.policy, state, now=now) if config.policy.active else None
    return UpstreamRepository(
        loop,
        client,
        MetadataFetcher(client, state),
        filters=config.filters,
        gate=gate,
        hosted=hosted,
    )


async def _prefetch(repository: UpstreamRepository, names: Iterable[str], workers: int) -> None:
    """Fetch the pages of ``names`` into ``repository``, twice the upstream's connections at
    once. A page that fails is the resolution's to report: its error is kept for the resolver
    that asks."""

    async def fetch(name: str) -> None:
        with contextlib.suppress(Exception):
            await repository.page_on_loop(NormalizedName(name))

    await each_bounded(sorted(names), workers * 2, fetch)


def uv_settings(config: Config) -> UvSettings | None:
    """Return how to ask uv for its pins, or ``None`` when the plan holds pip's alone: no
    dependencies, no targets, ``[packages] resolvers = ["pip"]``, or no uv installed (said).

    Raises:
        UvMissingError: ``[packages] resolvers`` names uv and there is none.
    """
    packages = config.packages
    wanted = packages.resolvers
    if (wanted is not None and "uv" not in wanted) or not packages.dependencies:
        return None
    if not config.targets:
        return None
    uv = find_uv()
    if uv is None:
        if wanted is not None:
            raise UvMissingError(config.source)
        log.warning(
            "uv is not installed, so the closure holds pip's pins alone: install cellar[uv] "
            'for uv\'s too, or set [packages] resolvers = ["pip"] to say so'
        )
        return None
    return UvSettings(
        uv=uv,
        index_url=config.mirror.upstream,
        cache_dir=config.mirror.directory / STATE_DIR / "uv-cache",
        proxy=config.mirror.proxy,
        prereleases=packages.prereleases,
        constraints=packages.constraints,
        builds=packages.uv_builds,
        timeout=max(config.mirror.limits.deadline * 6, 600.0),
    )


class UvMissingError(CellarError):
    """``[packages] resolvers`` asks for uv's pins, and no uv is installed."""

    def __init__(self, source: Path) -> None:
        super().__init__(
            f"{source}: [packages] resolvers names uv, but uv is not installed: "
            "pip install 'cellar[uv]' (or put uv on PATH), or remove uv from resolvers"
        )
        self.source = source


def serial_costs(state: MirrorState) -> SerialCosts:
    """Return what the state knows of the costs of pages and of the root page."""
    return SerialCosts(
        pages=state.serial_snapshots(),
        page_seconds=state.measure(PAGE_SECONDS),
        root_seconds=state.measure(ROOT_SECONDS),
    )


def _record_costs(state: MirrorState, stats: PageStats) -> None:
    """Keep what this run measured of the costs ``use_root_serials`` decides by."""
    if stats.asked:
        state.record_measure(PAGE_SECONDS, stats.asked_seconds / stats.asked)
    if stats.root_seconds is not None:
        state.record_measure(ROOT_SECONDS, stats.root_seconds)


#: The state's measures: one project page request's mean wall time, the root page's.
PAGE_SECONDS = "page-seconds"
ROOT_SECONDS = "root-seconds"


async def _load_root_serials(client: UpstreamClient) -> None:
    """Read the serials on the upstream's root page; without them, each page is asked for."""
    try:
        count = await client.load_serials()
    except UpstreamError as error:
        log.warning("%s; asking for each project page instead", error)
        return
    if count:
        log.info("read %d project serials from the upstream's root page", count)
    else:
        log.info("the upstream's root page gives no serials; asking for each project page")


def novelty(files: Mapping[NormalizedName, Sequence[DistFile]], state: MirrorState) -> Novelty:
    """Return the size of a plan's ``files`` (by project), and what of it is not yet verified
    in the mirror."""
    count = size = new_files = new_bytes = 0
    for name, planned in files.items():
        for file in planned:
            count += 1
            size += file.size or 0
            path = mirror_path(name, file, file.sha256)
            record = state.file(str(path)) if path is not None else None
            if record is None or (file.sha256 and record.sha256 != file.sha256.lower()):
                new_files += 1
                new_bytes += file.size or 0
    return Novelty(count, size, new_files, new_bytes)


def run_plan(config: Config) -> tuple[MirrorPlan, Novelty]:
    """Plan what ``config`` selects (no distribution is downloaded) and compare with the mirror.

    Metadata read on the way is cached in the mirror's state, so the next plan or mirror run
    asks the upstream for nothing it already knows.
    """

    hosted = read_overlay(config)
    config = with_hosted(config, hosted)

    async def plan(state: MirrorState) -> MirrorPlan:
        async with UpstreamClient(client_settings(config), pages=state) as client:
            return await make_plan(config, client, state, hosted=hosted)

    with MirrorState.open(config.mirror.directory) as state:
        result = aio.run(plan(state))
        return result, novelty({n: result.files(n) for n in result.projects}, state)


def run_plan_report(config: Config) -> tuple[PlanReport, Novelty]:
    """Return what ``cellar plan`` says of a plan of ``config``'s selection, and what of it
    the mirror does not hold yet.

    The report of the last ``cellar plan`` of the same selection is said again, resolving
    nothing, when every page that plan read is unchanged upstream (``cellar.sync.report``).
    """

    hosted = read_overlay(config)
    config = with_hosted(config, hosted)

    async def plan(state: MirrorState) -> PlanReport:
        started = time.monotonic()
        key = report_key(config, _uv_in_plan(config))
        async with UpstreamClient(client_settings(config), pages=state) as client:
            kept = await _kept_report(key, config, state, client)
            if kept is not None:
                return dataclasses.replace(
                    kept, seconds=time.monotonic() - started, requests=client.page_stats.requests
                )
            made = await make_plan(config, client, state, hosted=hosted)
            report = report_of(made)
            if not made.failures and not made.refused:
                digests = await known_digests(made.consulted, client)
                held = made.gate.held_until if made.gate is not None else None
                if held is not None:
                    digests[HELD_UNTIL] = repr(held)
                state.record_plan_report(key, digests, stored_report(report))
            return report

    with MirrorState.open(config.mirror.directory) as state:
        report = aio.run(plan(state))
        return report, novelty(report.files, state)


def _uv_in_plan(config: Config) -> str | None:
    """Return the uv whose pins a plan of ``config`` holds, as ``uv_settings`` decides (but
    saying nothing), or ``None``."""
    packages = config.packages
    if packages.resolvers is not None and "uv" not in packages.resolvers:
        return None
    if not packages.dependencies or not config.targets:
        return None
    uv = find_uv()
    return None if uv is None else str(uv)


async def _kept_report(
    key: str, config: Config, state: MirrorState, client: UpstreamClient
) -> PlanReport | None:
    """Return the last plan's report if nothing it rested on changed, else ``None``."""
    found = state.plan_report(key)
    if found is None:
        return None
    pages, text = found
    if use_root_serials(
        config.mirror.root_serials, serial_costs(state), concurrency=config.mirror.workers
    ):
        await _load_root_serials(client)
    digests = await current_digests([p for p in pages if p != HELD_UNTIL], state, client)
    if not holds(pages, digests, now=time.time()):
        return None
    report = kept_report(text, seconds=0.0, requests=0)
    if report is not None:
        log.info("no page the last plan read has changed upstream: its report holds")
        for warning in report.warnings:
            log.warning("%s", warning)
    return report


def with_hosted(config: Config, hosted: HostedOverlay) -> Config:
    """``config`` with each hosted release among its requirement sets (``HostedOverlay``)."""
    sets = hosted.requirement_sets()
    if not sets:
        return config
    packages = dataclasses.replace(config.packages, sets=(*config.packages.sets, *sets))
    return dataclasses.replace(config, packages=packages)


def read_overlay(config: Config, storage: Storage | None = None) -> HostedOverlay:
    """What the tree hosts, as the plan sees it (``storage``: the tree, else opened to read).

    A tree that cannot be opened yet (no mirror run so far) hosts nothing; one whose hosted
    records cannot be listed raises ``OSError``: planning without them could let upstream
    projects stand in for hosted ones.
    """
    if storage is None:
        try:
            with closing(open_tree(config.mirror.tree)) as opened:
                return HostedOverlay(read_hosted(opened), config.hosted)
        except StorageError as error:
            log.debug("no hosted projects read: %s", error)
            return HostedOverlay(HostedTree(), config.hosted)
    return HostedOverlay(read_hosted(storage), config.hosted)


def _without_hosted(closure: ClosurePlan, hosted: HostedOverlay | None) -> ClosurePlan:
    """The closure without hosted projects: the tree's already, nothing of them fetched or
    published by the run."""
    if hosted is not None:
        for name in hosted.local_names(list(closure.files)):
            del closure.files[name]
    return closure


def _uv_task(
    uv: UvSettings,
    target: TargetEnvironment,
    wanted: list[tuple[str, tuple[Requirement, ...]]],
    limit: asyncio.Semaphore,
    *,
    state: MirrorState | None,
    fingerprint: Callable[[NormalizedName], Awaitable[str]],
    hidden: Iterable[str] = (),
) -> asyncio.Future[UvPins]:
    """Start asking uv for ``target``'s pins, ``hidden`` names kept from it too."""
    names = {*uv.hidden, *hidden}
    if names != set(uv.hidden):
        uv = dataclasses.replace(uv, hidden=tuple(sorted(names)))
    return asyncio.ensure_future(
        uv_pins(uv, target, wanted, limit, memory=state, fingerprint=fingerprint)
    )


def _hidden_from_uv(
    uv: UvSettings | None,
    wanted: list[tuple[str, tuple[Requirement, ...]]],
    hosted: HostedOverlay | None,
) -> tuple[UvSettings | None, list[tuple[str, tuple[Requirement, ...]]]]:
    """uv's settings and inputs with hosted and reserved names out of its sight: uv asks the
    upstream for every name it meets, which would tell the upstream the internal names."""
    if uv is None or hosted is None:
        return uv, wanted
    named = {
        canonicalize_name(requirement.name)
        for _, requirements in wanted
        for requirement in requirements
    }
    hidden = sorted(hosted.names | hosted.local_names(named))
    if not hidden:
        return uv, wanted
    kept = []
    for label, requirements in wanted:
        left = tuple(r for r in requirements if canonicalize_name(r.name) not in hidden)
        if left:
            kept.append((label, left))
    return dataclasses.replace(uv, hidden=tuple(hidden)), kept


def _without_local(memos: Mapping[str, PlanMemo], hosted: HostedOverlay) -> dict[str, PlanMemo]:
    """The memos without the hosted names they read: never checked against the upstream."""
    return {
        key: PlanMemo(
            pages={n: d for n, d in memo.pages.items() if not hosted.is_local(NormalizedName(n))},
            projects={
                n: k for n, k in memo.projects.items() if not hosted.is_local(NormalizedName(n))
            },
        )
        for key, memo in memos.items()
    }


def client_settings(config: Config) -> ClientSettings:
    """Return the upstream client settings ``config`` asks for."""
    mirror = config.mirror
    return ClientSettings(
        index_url=mirror.upstream,
        concurrency=mirror.workers,
        timeout=mirror.timeout,
        retry=RetryPolicy(retries=mirror.retries),
        deadline=mirror.limits.deadline,
        max_page_size=mirror.limits.max_page_size,
        file_hosts=mirror.limits.file_hosts,
        proxy=mirror.proxy,
    )
