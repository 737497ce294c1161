"""Keeping a mirror right: verify files and pages, repair them, prune orphans, delete projects.

``verify_mirror`` (``cellar verify``) and ``delete_projects`` (``cellar delete``) take the
mirror lock; ``prune_projects`` is for a caller that holds it already (the engine).
"""

from __future__ import annotations

from cellar.keep.delete import PruneResult, delete_projects, plan_prune, prune_projects
from cellar.keep.model import (
    Finding,
    Fix,
    Problem,
    Resolution,
    VerifyOptions,
    VerifyReporter,
    VerifyResult,
)
from cellar.keep.verify import run_verify, verify_mirror

__all__ = [
    "Finding",
    "Fix",
    "Problem",
    "PruneResult",
    "Resolution",
    "VerifyOptions",
    "VerifyReporter",
    "VerifyResult",
    "delete_projects",
    "plan_prune",
    "prune_projects",
    "run_verify",
    "verify_mirror",
]
