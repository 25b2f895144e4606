"""Run a check from recorded facts, exactly as the engine would call it."""

from __future__ import annotations

import pytest

from hygie.model import Fact
from hygie.registry import Facts, Verdict, all_checks


def run_check(check_id: str, facts: dict[str, bytes | Fact], **params) -> Verdict:
    meta = all_checks()[check_id]
    missing = set(params) - set(meta.params)
    if missing:
        raise KeyError(f"{check_id} has no parameters {sorted(missing)}")
    recorded = {k: v if isinstance(v, Fact) else Fact(k, v) for k, v in facts.items()}
    return meta.func(Facts(recorded), meta.defaults() | params)


@pytest.fixture
def check_runner():
    return run_check
