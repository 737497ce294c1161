"""``cellar-state.json``: the state in brief, for servers of a tree in an object store."""

from __future__ import annotations

from pathlib import Path

from cellar.state import MirrorState
from cellar.state.bundles import AppliedBundle
from cellar.state.records import Failure, RunRecord, Totals
from cellar.state.summary import (
    SUMMARY_KEY,
    Summary,
    publish_summary,
    read_summary,
    render_summary,
    summary_in,
)
from cellar.tree.local import LocalStorage
from cellar.tree.location import S3Settings
from cellar.tree.s3 import S3Storage
from tests.support.s3 import S3Server


def test_a_summary_reads_back_as_it_was_written() -> None:
    totals = Totals(projects=3, files=12, bytes=4096)
    run = RunRecord(
        id=7,
        started_at="2026-12-07T03:00:00+00:00",
        finished_at="2026-12-07T03:01:00+00:00",
        projects=3,
        files_added=2,
        bytes_added=100,
        failures=(Failure("alpha", "alpha-1.0.whl", "hash mismatch"), Failure("beta", None, "404")),
    )
    bundle = AppliedBundle(4, "ab" * 32, "2026-12-07T04:00:00+00:00")
    for summary in (Summary(totals, run, bundle), Summary(totals), Summary(totals, run)):
        assert read_summary(render_summary(summary)) == summary
    for odd in (b"", b"[]", b'{"totals": {}}', b'{"totals": {"projects": 1}, "last_run": 3}'):
        assert read_summary(odd) is None


def test_it_is_published_into_an_object_store_only(tmp_path: Path, s3: S3Server) -> None:
    with MirrorState.open(tmp_path / "mirror") as state:
        local = LocalStorage(tmp_path / "web")
        publish_summary(local, state)
        assert not (tmp_path / "web" / SUMMARY_KEY).exists()  # its servers read the state
        settings = S3Settings(s3.new_bucket(), "p", s3.endpoint, "us-east-1", "path")
        bucket = S3Storage.connect(settings, tmp_path / "staging")
        try:
            assert summary_in(bucket) is None
            publish_summary(bucket, state)
            assert summary_in(bucket) == Summary(state.totals(), state.last_run())
        finally:
            bucket.close()
