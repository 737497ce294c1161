"""Errors raised while talking to an upstream index; each names the URL it concerns."""

from __future__ import annotations

from cellar.errors import CellarError


class UpstreamError(CellarError):
    """Something went wrong talking to the upstream index at ``url``."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(message)
        self.url = url


class UpstreamHTTPError(UpstreamError):
    """The upstream answered ``status`` (after any retries that status allows)."""

    def __init__(self, url: str, status: int, reason: str = "", attempts: int = 1) -> None:
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        text = f"{status} {reason}".strip()
        if status == 407:
            message = (
                f"the proxy answered {text} for {url}: give its user and password in "
                "[mirror] proxy or HTTP_PROXY (http://user:password@host:port)"
            )
        else:
            message = f"upstream answered {text} for {url}{tried}"
        super().__init__(url, message)
        self.status = status
        self.reason = reason
        self.attempts = attempts


class ProjectNotFoundError(UpstreamHTTPError):
    """The upstream has no page for ``project`` (404 or 410)."""

    def __init__(self, project: str, url: str, status: int = 404) -> None:
        super().__init__(url, status, "Not Found")
        self.project = project
        self.args = (f"project {project!r} does not exist on the upstream index ({url})",)


class UpstreamConnectionError(UpstreamError):
    """The upstream could not be reached or stopped answering (``cause`` says how)."""

    def __init__(self, url: str, cause: str, attempts: int = 1) -> None:
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(url, f"could not fetch {url}{tried}: {cause}")
        self.cause = cause
        self.attempts = attempts


class MalformedPageError(UpstreamError):
    """A page that is not valid PEP 691 JSON or PEP 503 HTML; ``reason`` says what is wrong."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(url, f"malformed index page {url}: {reason}")
        self.reason = reason


class UnsupportedAPIVersionError(UpstreamError):
    """A page declares a Simple API major version Cellar does not understand (PEP 629)."""

    def __init__(self, url: str, version: str) -> None:
        super().__init__(
            url,
            f"{url} declares Simple Repository API version {version}; "
            "Cellar understands major version 1 only — upgrade Cellar or use another upstream",
        )
        self.version = version


class ResponseTooLargeError(UpstreamError):
    """An answer longer than ``limit`` bytes, the most the caller would hold in memory."""

    def __init__(self, url: str, limit: int, received: int) -> None:
        super().__init__(url, f"{url} sent more than {limit} bytes, too many to hold in memory")
        self.limit = limit
        self.received = received


class PageTooLargeError(ResponseTooLargeError):
    """A page longer than ``limit`` bytes once decoded (``[mirror] max-page-size``)."""

    def __init__(self, url: str, limit: int, received: int) -> None:
        super().__init__(url, limit, received)
        self.args = (
            f"the page {url} is larger than {limit} bytes once decoded ([mirror] max-page-size); "
            "reading stopped there (raise the limit if the upstream really serves such a page)",
        )


class LongerThanStatedError(ResponseTooLargeError):
    """A file that kept coming past the ``limit`` bytes its index stated."""

    def __init__(self, url: str, limit: int, received: int) -> None:
        super().__init__(url, limit, received)
        self.args = (
            f"{url} sent more than the {limit} bytes the index states; the download was "
            "stopped there and discarded",
        )


class RefusedURLError(UpstreamError):
    """A URL (from a page or a redirect) Cellar will not fetch; ``reason`` says why."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(url, f"refused to fetch {url}: {reason}")
        self.reason = reason


class UpstreamDigestMismatchError(UpstreamError):
    """Bytes from ``url`` whose ``algorithm`` digest differs from what the index states."""

    def __init__(self, url: str, algorithm: str, expected: str, actual: str) -> None:
        super().__init__(
            url,
            f"{algorithm} mismatch for {url}: the index says {expected}, the upstream sent "
            f"{actual} (the upstream, or something between, corrupts it)",
        )
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual


class UnreadableDistributionError(UpstreamError):
    """A distribution file whose core metadata cannot be read; ``reason`` says why."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(url, f"cannot read the core metadata of {url}: {reason}")
        self.reason = reason
