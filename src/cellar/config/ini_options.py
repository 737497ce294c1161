"""bandersnatch's ``[mirror]`` options: which Cellar honours, and a reader that reports the rest.

Options Cellar honours become ``MirrorSettings``. The others are accepted silently at
bandersnatch's default value (Cellar behaves that way already) and with a warning saying what
Cellar does instead at any other value; ``storage-backend`` other than ``filesystem`` is a
problem, since Cellar would otherwise write the mirror somewhere the operator does not expect,
but ``s3``: the tree goes to the bucket and prefix ``directory`` names, with the state in
``[cellar] directory`` (default ``cellar-mirror`` beside the file).
Missing options take bandersnatch's defaults (``workers = 3``, ``timeout = 10``).
"""

from __future__ import annotations

import configparser
import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

from cellar.config.checks import (
    ConfigProblem,
    check_proxy,
    check_range,
    check_timeout,
    check_upstream,
    resolve_path,
)
from cellar.config.model import DEFAULT_RETRIES, MirrorSettings, default_upstream
from cellar.config.storage import storage_table
from cellar.tree.location import StorageSettings

BANDERSNATCH_WORKERS = 3
BANDERSNATCH_TIMEOUT = 10.0
_MIRRORED_SAME = "Cellar downloads every file from the URL the upstream's page gives"
_INDEX_VERSIONS = "Cellar replaces each page atomically and keeps no earlier versions"
#: Options with no effect in Cellar: bandersnatch's default, and what Cellar does instead.
IGNORED: dict[str, tuple[str, str]] = {
    "global-timeout": (
        "1800",
        "Cellar bounds each request ([mirror] timeout and deadline) and resumes cut "
        "downloads; it sets no time limit on the whole run",
    ),
    "download-mirror": ("", _MIRRORED_SAME),
    "download-mirror-no-fallback": ("false", _MIRRORED_SAME),
    "release-files": ("true", "Cellar always downloads the files its pages list"),
    "core-metadata": ("true", "Cellar always mirrors the PEP 658 metadata files offered"),
    "root_uri": ("", "Cellar's pages link files relative to the page (../../packages/...)"),
    "keep_index_versions": ("0", _INDEX_VERSIONS),
    "keep-index-versions": ("0", _INDEX_VERSIONS),
    "cleanup": (
        "false",
        "Cellar writes only PEP 503-normalised project directories; none are left to clean up",
    ),
    "compare-method": (
        "hash",
        "Cellar knows a file is current from its state (size and sha256 verified on arrival)",
    ),
    "verifiers": ("3", "`cellar verify` chooses its own parallelism"),
    "log-config": (
        "",
        "Cellar logs to stderr (-v for more, -q for less) and reads no logging file",
    ),
    "storage-filesystem-manage-permissions": ("true", "Cellar leaves file permissions to umask"),
    "simple-format": ("ALL", "Cellar always writes both PEP 503 HTML and PEP 691 JSON pages"),
    "digest_name": ("sha256", "Cellar's pages always give sha256 digests"),
}
_CHOICES = {"simple-format": ("ALL", "HTML", "JSON"), "compare-method": ("hash", "stat")}
#: diff-file's ``{{ section_option }}`` references, as bandersnatch reads them.
_REFERENCE = re.compile(
    r"^(?P<pre>.*)\{\{\s*(?P<section>[^_\s](?:[^_]*[^_\s]))\s*_\s*"
    r"(?P<option>\S(?:.*\S)?)\s*\}\}(?P<post>.*)$"
)


class Reader:
    """Typed access to a parsed INI file that remembers what was read, and collects problems
    and warnings (each ``ConfigProblem(key, message)`` with ``key`` as ``[section] option``)."""

    def __init__(self, parser: configparser.ConfigParser) -> None:
        self.parser = parser
        self.problems: list[ConfigProblem] = []
        self.warnings: list[ConfigProblem] = []
        self._read: set[tuple[str, str]] = set()

    def has_section(self, section: str) -> bool:
        """Whether the file has ``[section]``."""
        return self.parser.has_section(section)

    def has_option(self, section: str, option: str) -> bool:
        """Whether ``[section]`` sets ``option``."""
        return self.parser.has_option(section, option)

    def options(self, section: str) -> list[str]:
        """Return the options ``[section]`` sets (none if it is missing)."""
        return self.parser.options(section) if self.has_section(section) else []

    def text(self, section: str, option: str, default: str) -> str:
        """Return the option's value, stripped, or ``default`` if it is not set."""
        self._read.add((section, option))
        if not self.has_option(section, option):
            return default
        try:
            return self.parser.get(section, option).strip()
        except configparser.InterpolationError as error:
            self.problem(f"[{section}] {option}", f"{error} (write a literal % as %%)")
            return default

    def lines(self, section: str, option: str) -> list[str]:
        """Return the option's non-empty lines, stripped."""
        return [
            line.strip() for line in self.text(section, option, "").splitlines() if line.strip()
        ]

    def flag(self, section: str, option: str, *, default: bool) -> bool:
        """Return a boolean option (true/false, yes/no, on/off, 1/0)."""
        value = self.text(section, option, "")
        if not value:
            return default
        parsed = self.parser.BOOLEAN_STATES.get(value.lower())
        if parsed is None:
            self.problem(f"[{section}] {option}", f"must be true or false, not {value!r}")
            return default
        return parsed

    def integer(self, section: str, option: str, default: int) -> int:
        """Return a whole-number option."""
        value = self.text(section, option, "")
        try:
            return int(value) if value else default
        except ValueError:
            self.problem(f"[{section}] {option}", f"must be a whole number, not {value!r}")
            return default

    def number(self, section: str, option: str, default: float) -> float:
        """Return a numeric option."""
        value = self.text(section, option, "")
        try:
            return float(value) if value else default
        except ValueError:
            self.problem(f"[{section}] {option}", f"must be a number, not {value!r}")
            return default

    def choice(self, section: str, option: str, choices: Iterable[str], default: str) -> str:
        """Return an option that must be one of ``choices`` (compared without case)."""
        value = self.text(section, option, "")
        if not value:
            return default
        for choice in choices:
            if choice.lower() == value.lower():
                return choice
        wanted = ", ".join(choices)
        self.problem(f"[{section}] {option}", f"must be one of {wanted}, not {value!r}")
        return default

    def problem(self, key: str, message: str) -> None:
        """Note something that makes the configuration unusable."""
        self.problems.append(ConfigProblem(key, message))

    def warn(self, key: str, message: str) -> None:
        """Note something the configuration asks that Cellar ignores."""
        self.warnings.append(ConfigProblem(key, message))

    def warn_unread(self, sections: Iterable[str]) -> None:
        """Warn about every option of ``sections`` that nothing read."""
        for section in sections:
            for option in self.options(section):
                if (section, option) not in self._read:
                    self.warn(f"[{section}] {option}", "not an option Cellar knows here; ignored")


def mirror_settings(reader: Reader, base: Path) -> MirrorSettings | None:
    """Return the mirror settings ``[mirror]`` asks for, warning about options Cellar ignores.

    Returns ``None`` (with a problem noted) when the section or its directory is missing.
    """
    if not reader.has_section("mirror"):
        reader.problem("[mirror]", "missing (required): bandersnatch's section with directory")
        return None
    directory = reader.text("mirror", "directory", "")
    if not reader.has_option("mirror", "directory"):
        reader.problem("[mirror] directory", "missing (required)")
    elif not directory and all(p.key != "[mirror] directory" for p in reader.problems):
        reader.problem("[mirror] directory", "must not be empty")
    storage = StorageSettings()
    backend = reader.text("mirror", "storage-backend", "filesystem")
    if backend == "s3":
        storage = s3_storage(reader, directory)
        # The tree is in the bucket; the state, lock and staging need a local directory.
        directory = reader.text("cellar", "directory", "") or "cellar-mirror"
    elif backend != "filesystem":
        reader.problem(
            "[mirror] storage-backend",
            f"Cellar keeps the mirror on the filesystem or in S3, not {backend!r}",
        )
    elif reader.has_section("s3"):
        for option in reader.options("s3"):
            reader.text("s3", option, "")
        reader.warn("[s3]", "read only with [mirror] storage-backend = s3; ignored")
    master = reader.text("mirror", "master", "")
    allow_http = reader.flag("mirror", "allow-non-https", default=False)
    if master.startswith("http://") and not allow_http:
        reader.problem("[mirror] master", "is not https:// (set allow-non-https = true to allow)")
    upstream = master.rstrip("/") + "/simple/" if master else default_upstream()
    problems = reader.problems
    workers = reader.integer("mirror", "workers", BANDERSNATCH_WORKERS)
    settings = MirrorSettings(
        directory=resolve_path(base, directory),
        upstream=check_upstream(upstream, "[mirror] master", problems),
        workers=check_range(
            workers, "[mirror] workers", problems, low=1, high=256, default=BANDERSNATCH_WORKERS
        ),
        timeout=check_timeout(
            reader.number("mirror", "timeout", BANDERSNATCH_TIMEOUT),
            "[mirror] timeout",
            problems,
            default=BANDERSNATCH_TIMEOUT,
        ),
        retries=DEFAULT_RETRIES,
        json_api=reader.flag("mirror", "json", default=False),
        hash_index=reader.flag("mirror", "hash-index", default=False),
        diff_file=_diff_file(reader, base) if storage.s3 is None else _no_diff_file(reader),
        diff_append_epoch=reader.flag("mirror", "diff-append-epoch", default=False),
        stop_on_error=reader.flag("mirror", "stop-on-error", default=False),
        proxy=check_proxy(reader.text("mirror", "proxy", "") or None, problems),
        storage=storage,
    )
    _ignored(reader)
    return settings if directory else None


def s3_storage(reader: Reader, directory: str) -> StorageSettings:
    """Return the ``[storage]`` that bandersnatch's S3 settings ask for: ``directory`` is
    ``/<bucket>/<prefix>``, ``[s3]`` gives the region and endpoint. Credentials in the file are
    not taken (boto3's chain reads the environment, the shared credentials file or a role),
    nor are extra parameters to boto3's calls."""
    bucket, _, prefix = directory.strip("/").partition("/")
    region = reader.text("s3", "region_name", "") or None
    endpoint = reader.text("s3", "endpoint_url", "") or None
    for option in ("aws_access_key_id", "aws_secret_access_key"):
        if reader.text("s3", option, ""):
            reader.warn(
                f"[s3] {option}",
                "ignored: Cellar takes S3 credentials from the environment "
                "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), the shared credentials file or "
                "an instance role, never from its configuration",
            )
    signature = reader.text("s3", "signature_version", "s3v4")
    if signature not in ("s3v4", "v4"):
        reader.warn("[s3] signature_version", "ignored: Cellar always signs with SigV4")
    for option in reader.options("s3"):
        if option.startswith("config_param_"):
            reader.text("s3", option, "")
            reader.warn(f"[s3] {option}", "ignored: Cellar passes no extra parameters to S3")
    problems: list[ConfigProblem] = []
    table: dict[str, str] = {"backend": "s3", "bucket": bucket, "prefix": prefix}
    if region:
        table["region"] = region
    if endpoint:
        table["endpoint-url"] = endpoint
    settings = storage_table(table, problems)
    for found in problems:
        key = (
            "[mirror] directory"
            if found.key in ("[storage] bucket", "[storage] prefix")
            else (
                found.key.replace("[storage] region", "[s3] region_name").replace(
                    "[storage] endpoint-url", "[s3] endpoint_url"
                )
            )
        )
        reader.problem(
            key,
            f"{found.message} (with storage-backend = s3 it is /<bucket>/<prefix>)"
            if key == "[mirror] directory"
            else found.message,
        )
    return settings


def _no_diff_file(reader: Reader) -> Path | None:
    if reader.text("mirror", "diff-file", ""):
        reader.warn(
            "[mirror] diff-file",
            "ignored with storage-backend = s3: an object store keeps no diff file; "
            "`cellar mirror` logs what it added",
        )
    return None


def _diff_file(reader: Reader, base: Path) -> Path | None:
    value = reader.text("mirror", "diff-file", "")
    match = _REFERENCE.match(value)
    if match is not None:
        section, option = match.group("section"), match.group("option")
        if not reader.has_option(section, option):
            reader.problem(
                "[mirror] diff-file", f"refers to [{section}] {option}, which is not set"
            )
            return None
        value = match.group("pre") + reader.text(section, option, "") + match.group("post")
    return resolve_path(base, value) if value else None


def _ignored(reader: Reader) -> None:
    """Warn about each option Cellar does not implement that asks for something else."""
    for option, (default, instead) in IGNORED.items():
        if not reader.has_option("mirror", option):
            continue
        value = reader.text("mirror", option, default)
        if option in _CHOICES:
            value = reader.choice("mirror", option, _CHOICES[option], default)
        elif option == "digest_name" and value.lower() not in hashlib.algorithms_available:
            reader.problem(f"[mirror] {option}", f"{value!r} is not a hash algorithm")
            continue
        if not _same(value, default, reader):
            reader.warn(f"[mirror] {option}", f"{value!r}: ignored; {instead}")


def _same(value: str, default: str, reader: Reader) -> bool:
    """Whether an option's value asks for what bandersnatch's default does."""
    states = reader.parser.BOOLEAN_STATES
    if default in ("true", "false"):
        return states.get(value.lower(), not states[default]) == states[default]
    try:
        return float(value) == float(default)
    except ValueError:
        return value.lower() == default.lower()
