"""Judge facts against a policy. Pure: no I/O, so a stored scan can be re-judged offline.

The engine, not each check, decides the cases a check cannot judge: a host that was not
assessed, a fact that is missing or truncated, an OS family the check does not support,
a check that crashed. None of them can ever produce ``pass``.
"""

from __future__ import annotations

from collections.abc import Mapping

from hygie.facts.system import parse_os_release
from hygie.factspec import all_facts
from hygie.model import Evidence, Fact, Result, Status
from hygie.policy import Policy
from hygie.registry import ANY_FAMILY, CheckMeta, Facts, MissingFact, Verdict, all_checks


def host_family(facts: Mapping[str, Fact]) -> str:
    fact = facts.get("os_release")
    if fact is None or not fact.ok:
        return "unknown"
    return parse_os_release(fact.text).family


def evaluate_host(
    host: str,
    facts: Mapping[str, Fact],
    policy: Policy,
    *,
    host_error: str | None = None,
    privileged: bool = True,
    network_only: bool = False,
) -> list[Result]:
    """One result per check the policy selects, in the policy's order.

    On a network-only target (no shell access by design: a modality, a PACS appliance),
    checks that read the host from inside are not applicable; the network checks run.
    """
    registry = all_checks()
    privileged_facts = {name for name, spec in all_facts().items() if spec.privileged}
    family = host_family(facts)
    parsed: dict = {}  # one parse of each fact for all the checks of this host
    results = []
    for selection in policy.selections.values():
        meta = registry[selection.check_id]
        needs_root = sorted(privileged_facts.intersection(meta.facts))
        from_network = ANY_FAMILY in meta.families
        if host_error is not None:
            verdict = Verdict(Status.ERROR, f"host not assessed: {host_error}")
        elif network_only and not from_network:
            verdict = Verdict(Status.NOT_APPLICABLE, "network-only target: no shell access")
        elif needs_root and not privileged and family in meta.families:
            verdict = Verdict(
                Status.ERROR,
                f"needs root to read {', '.join(needs_root)}: scan with become: sudo",
            )
        else:
            # The check sees only the facts it declares: one that reads another would pass
            # with the full policy and break when selected alone.
            view = Facts(
                {n: facts[n] for n in meta.facts if n in facts},
                privileged=privileged,
                parsed=parsed,
            )
            verdict = _run_check(meta, view, family, selection.params)
        results.append(
            Result(
                check_id=meta.id,
                host=host,
                status=verdict.status,
                severity=selection.severity,
                title=meta.title,
                message=verdict.message,
                evidence=verdict.evidence,
            )
        )
    return results


def _run_check(meta: CheckMeta, facts: Facts, family: str, params: Mapping) -> Verdict:
    if ANY_FAMILY not in meta.families:
        if family == "unknown":
            return Verdict(Status.ERROR, "OS could not be identified (os-release unreadable)")
        if family not in meta.families:
            return Verdict(
                Status.NOT_APPLICABLE,
                f"check supports {', '.join(meta.families)}; host family is {family}",
            )
    try:
        verdict = meta.func(facts, params)
    except MissingFact as exc:
        return Verdict(
            Status.ERROR,
            f"could not assess: {exc}",
            (Evidence(expected="fact collected", actual=exc.reason, fact=exc.fact),),
        )
    except Exception as exc:  # a bug in one check must not sink the others
        return Verdict(Status.ERROR, f"check failed internally: {type(exc).__name__}: {exc}")
    if not isinstance(verdict, Verdict):
        return Verdict(Status.ERROR, f"check returned {type(verdict).__name__}, not a Verdict")
    return verdict
