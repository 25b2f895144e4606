"""Any subset of checks, judged on the recorded facts of a full scan of the lab fleet,
gives the verdicts of the full policy.

One real scan of the fleet with every registered check; then, offline, each check alone
and random subsets of the built-in policies are judged on only the facts their own
selection would have gathered (the closure of what they read). A check or a fact reading
something it does not declare shows up here as a difference. New checks are covered
without being listed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hygie.engine import needed_facts
from hygie.evaluate import evaluate_host
from hygie.model import HostScan, Scan
from hygie.policy import Policy, Selection, builtin_policies, load_policy
from hygie.registry import all_checks
from hygie.store import Store

pytestmark = pytest.mark.lab

EVERY_CHECK = sorted(all_checks())


@pytest.fixture(scope="module")
def recorded(lab_fleet) -> Scan:
    policy = lab_fleet.workdir / "every-check.yaml"
    policy.write_text(
        yaml.safe_dump(
            {"name": "every-check", "version": "1", "checks": {c: {} for c in EVERY_CHECK}}
        )
    )
    proc = lab_fleet.hygie(
        "scan",
        "-i",
        str(lab_fleet.inventory),
        "-p",
        str(policy),
        "--known-hosts",
        str(lab_fleet.lab.known_hosts_path),
        "--ssh-config",
        "/dev/null",
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    store = Store(Path(lab_fleet.env["HYGIE_DB"]))
    try:
        scan = store.load("latest")
    finally:
        store.close()
    assert scan.policy_name == "every-check"
    return scan


def _policy(checks: list[str]) -> Policy:
    registry = all_checks()
    selections = {c: Selection(c, registry[c].defaults(), registry[c].severity) for c in checks}
    return Policy("subset", "1", "", (), selections)


def _judge(host: HostScan, policy: Policy) -> dict[str, str]:
    """The host judged with ``policy`` on the facts that policy would have gathered."""
    gathered = {s.name for s in needed_facts(policy)}
    facts = {k: v for k, v in host.facts.items() if k in gathered or k == "target_resolution"}
    results = evaluate_host(
        host.name,
        facts,
        policy,
        host_error=host.error,
        privileged=host.uid == 0,
        network_only=host.transport == "none",
    )
    return {r.check_id: r.status.value for r in results}


def _full(scan: Scan) -> dict[str, dict[str, str]]:
    return {h.name: {r.check_id: r.status.value for r in h.results} for h in scan.hosts}


def test_every_check_alone_gives_the_full_verdict_on_every_host(recorded):
    full = _full(recorded)
    compared, differences = 0, {}
    for check_id in EVERY_CHECK:
        policy = _policy([check_id])
        for host in recorded.hosts:
            got = _judge(host, policy)[check_id]
            compared += 1
            if got != full[host.name][check_id]:
                differences[(host.name, check_id)] = (full[host.name][check_id], got)
    assert not differences, differences
    assert compared == len(EVERY_CHECK) * len(recorded.hosts)
    print(f"\n{compared} (check, host) verdicts compared alone vs full: 0 differences")


BUILTIN = {name: sorted(load_policy(name).selections) for name in builtin_policies()}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_subset_of_a_builtin_policy_gives_the_full_verdicts(recorded, data):
    name = data.draw(st.sampled_from(sorted(BUILTIN)))
    subset = data.draw(st.lists(st.sampled_from(BUILTIN[name]), min_size=1, unique=True))
    full = _full(recorded)
    policy = _policy(subset)
    for host in recorded.hosts:
        got = _judge(host, policy)
        assert got == {c: full[host.name][c] for c in subset}, (name, host.name)
