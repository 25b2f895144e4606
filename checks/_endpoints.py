"""How the clinical-protocol checks (DICOM, HL7 MLLP, FHIR) turn per-endpoint judgements
into one verdict, so that every one of them fails, errs and passes by the same rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hygie.model import Evidence
from hygie.registry import Verdict, errored, failed, not_applicable, passed

#: A per-endpoint judgement: True enforced, False not, None undetermined; and why.
Judgement = tuple[bool | None, str]


def judge_endpoints(
    fact: str,
    items: list[Any],
    judge: Callable[[Any], Judgement],
    label: Callable[[Any], str],
    expected: str,
    nothing: str,
) -> Verdict:
    """Fail if any item fails, error if any is undetermined, pass if all pass."""
    if not items:
        return not_applicable(nothing)
    judged = [(item, *judge(item)) for item in items]
    evidence = tuple(Evidence(expected, f"{label(i)}: {why}", fact) for i, _, why in judged)
    if any(ok is False for _, ok, _ in judged):
        return failed(
            "; ".join(f"{label(i)} {why}" for i, ok, why in judged if ok is False), *evidence
        )
    if any(ok is None for _, ok, _ in judged):
        return errored(
            "; ".join(f"{label(i)}: cannot tell, {why}" for i, ok, why in judged if ok is None),
            *evidence,
        )
    return passed(f"{len(items)} endpoint(s): {expected}", *evidence)
