"""Run a check from recorded facts, exactly as the engine would call it."""

from __future__ import annotations

import pytest

from hygie.model import Fact, Status
from hygie.registry import Facts, MissingFact, Verdict, all_checks


def run_check(check_id: str, facts: dict[str, bytes | Fact], **params) -> Verdict:
    meta = all_checks()[check_id]
    missing = set(params) - set(meta.params)
    if missing:
        raise KeyError(f"{check_id} has no parameters {sorted(missing)}")
    recorded = {k: v if isinstance(v, Fact) else Fact(k, v) for k, v in facts.items()}
    return meta.func(Facts(recorded), meta.defaults() | params)


def judge_check(check_id: str, facts: dict[str, bytes | Fact], **params) -> Verdict:
    """:func:`run_check`, with a missing or unusable fact turned into ``error`` as the
    engine turns it (hygie.evaluate): what a report would show, never an exception."""
    try:
        return run_check(check_id, facts, **params)
    except MissingFact as exc:
        return Verdict(Status.ERROR, f"could not assess: {exc}")


@pytest.fixture
def check_runner():
    return run_check
