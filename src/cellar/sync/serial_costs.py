"""Whether to read the upstream's root page for serials: by what each way costs, as measured.

Asking for N kept pages conditionally costs about N x (one request's wall time) / (requests in
flight); reading the root page costs what it last took (PyPI's is tens of megabytes). Both are
measured by the runs themselves and kept in the state. Until the root page has been read once,
its cost is unknown: it is read (and so measured) when the pages would take at least
``PROBE_FROM`` seconds, and never for a mirror whose pages cost less than any root page could
save.
"""

from __future__ import annotations

from dataclasses import dataclass

from cellar.config.model import RootSerials

#: Estimated seconds of page requests from which an unmeasured root page is read once.
PROBE_FROM = 1.0


@dataclass(frozen=True, slots=True)
class SerialCosts:
    """What the state knows: pages kept with a serial, the mean wall time of one page request
    (None: never measured), and how long the root page took last (None: never read)."""

    pages: int
    page_seconds: float | None
    root_seconds: float | None

    def pages_cost(self, concurrency: int) -> float | None:
        """Return the estimated wall time of asking for every kept page, if measured."""
        if self.page_seconds is None:
            return None
        return self.pages * self.page_seconds / max(concurrency, 1)


def use_root_serials(setting: RootSerials, costs: SerialCosts, *, concurrency: int) -> bool:
    """Return whether this run reads the root page's serials first."""
    if setting != "auto":
        return setting == "always"
    if costs.pages == 0:
        return False  # no page kept with a serial: nothing a serial could spare
    pages = costs.pages_cost(concurrency)
    if pages is None:
        return False  # the first re-run measures what a page costs
    if costs.root_seconds is None:
        return pages >= PROBE_FROM
    return costs.root_seconds < pages
