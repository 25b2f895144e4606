"""What a policy will gather, before anything is scanned: the admin's view of its cost.

A selection of checks pulls in the facts those checks read and, transitively, what those
facts require (nmap's port list for the TLS audit, for instance). Showing that closure lets
an admin see why a one-check policy still runs nmap, and what each probe is there for.
"""

from __future__ import annotations

from dataclasses import dataclass

from hygie.drift import COLLECTIONS
from hygie.engine import needed_facts
from hygie.policy import Policy
from hygie.registry import all_checks


@dataclass(frozen=True)
class PlannedFact:
    name: str
    kind: str  # shell | probe | derived
    description: str
    checks: tuple[str, ...]  # the selected checks that read it
    needed_by: tuple[str, ...]  # the planned facts that require it


def collection_plan(policy: Policy) -> list[PlannedFact]:
    specs = needed_facts(policy)
    registry = all_checks()
    selected = [registry[s.check_id] for s in policy.selections.values()]
    planned = []
    for spec in specs:
        readers = tuple(m.id for m in selected if spec.name in m.facts) + tuple(
            f"hygie {need}" for need in policy.collect if spec.name in COLLECTIONS[need]
        )
        needers = tuple(s.name for s in specs if spec.name in s.requires)
        planned.append(PlannedFact(spec.name, spec.kind, spec.description, readers, needers))
    return planned


def plan_summary(policy: Policy) -> str:
    """One line: how many facts in the single exec, and which probes."""
    plan = collection_plan(policy)
    shell = sum(p.kind == "shell" for p in plan)
    probes = [p.name for p in plan if p.kind == "probe"]
    derived = [p.name for p in plan if p.kind == "derived"]
    parts = [f"{shell} facts on each host in one exec"]
    if probes:
        parts.append(f"probes from the scanner: {', '.join(probes)}")
    if derived:
        parts.append(f"derived: {', '.join(derived)}")
    return "; ".join(parts)


def plan_text(policy: Policy) -> str:
    """Every planned fact with why it is there (the checks that read it, or the facts
    that require it)."""
    lines = [
        f"policy {policy.name} {policy.version}: {len(policy.selections)} checks; "
        f"{plan_summary(policy)}"
    ]
    titles = {"shell": "on the target", "probe": "from the scanner", "derived": "derived"}
    for kind, title in titles.items():
        group = [p for p in collection_plan(policy) if p.kind == kind]
        if not group:
            continue
        lines.append(f"\n{title} ({len(group)}):")
        for p in group:
            why = []
            if p.checks:
                shown = ", ".join(p.checks[:6]) + (
                    f" +{len(p.checks) - 6}" if len(p.checks) > 6 else ""
                )
                why.append(f"read by {shown}")
            if p.needed_by:
                why.append(f"required by {', '.join(p.needed_by)}")
            lines.append(f"  {p.name:<28} {p.description}")
            lines.append(f"  {'':<28} ({'; '.join(why) or 'identifies the host'})")
    return "\n".join(lines)
