"""Any subset of checks gives the verdicts of the full policy, against real services.

A check selected alone gathers the closure of the facts it reads (a TLS check pulls in
nmap's services, a DICOM check nmap's port list). Checks whose closures are equal gather
exactly the same evidence, so one scan per distinct closure stands for every check of that
closure selected alone; each scan's verdicts must equal the full policy's on every host.
The lab joins the network, TLS and health labs' real services (network-only targets), a
host named only by its ``~/.ssh/config`` alias and a name that does not resolve.

The scanner runs in the lab's scanner namespace, which has no route out.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hygie.engine import needed_facts
from hygie.policy import Policy, load_policy
from hygie.registry import ANY_FAMILY, all_checks
from tests.integration.conftest import HYGIE, lab_env, load_results
from tests.integration.test_health_lab import lab_hosts as health_hosts
from tests.integration.test_health_lab import self_signed
from tests.integration.test_network_lab import lab_hosts as network_hosts
from tests.lab import Lab, skip_unless_lab
from tests.lab.services.tls_lab import inventory as tls_inventory
from tests.lab.services.tls_lab import make_pki, tls_hosts

pytestmark = pytest.mark.lab

FULL = "network"
#: Network checks: the ones that judge a target from the scanner, whatever its OS.
NETWORK_CHECKS = sorted(
    c for c in load_policy(FULL).selections if ANY_FAMILY in all_checks()[c].families
)
UNRESOLVABLE = "no-such-host.invalid"


def closures() -> dict[frozenset[str], list[str]]:
    """Network checks grouped by the facts they gather when selected alone."""
    full = load_policy(FULL)
    groups: dict[frozenset[str], list[str]] = {}
    for check_id in NETWORK_CHECKS:
        alone = Policy(check_id, "1", "", full.sources, {check_id: full.selections[check_id]})
        names = frozenset(s.name for s in needed_facts(alone))
        groups.setdefault(names, []).append(check_id)
    return groups


def inventory(lab: Lab, ca_bundle: Path) -> dict:
    addresses = {h: lab.address(h) for h in ("tls-good", "tls-weak")}
    hosts = tls_inventory(addresses | {"tls-tarpit": ""}, ca_bundle)["groups"]["tls"]["hosts"]
    del hosts["tls-tarpit"]  # its limits are the TLS lab's subject, not this test's
    weak = lab.address("ie-weak")
    hosts |= {
        "net-weak": {
            "address": lab.address("net-weak"),
            "network": {"allowed_ports": [22, 104], "forbidden_ports": [23, 6379]},
        },
        "net-good": {"address": lab.address("net-good")},
        "pacs-open": {"address": lab.address("pacs-open")},
        "ie-weak": {"address": weak, "network": {"fhir_base_urls": [f"http://{weak}:8080/fhir"]}},
        # named only by its ~/.ssh/config alias (HostName), as the README documents
        "pacs-alias": {},
        UNRESOLVABLE: {},
    }
    return {
        "defaults": {"transport": "none", "timeout": 120},
        "groups": {"subsets": {"hosts": hosts}},
    }


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    skip_unless_lab()
    workdir = tmp_path_factory.mktemp("subsets")
    pki = make_pki(workdir / "pki")
    hosts = [*tls_hosts(pki)[:2], *network_hosts()[:2], *health_hosts(*self_signed(workdir))[:2]]
    with Lab(hosts) as lab:
        (workdir / ".ssh").mkdir()
        (workdir / ".ssh" / "config").write_text(
            f"Host pacs-alias\n  HostName {lab.address('pacs-open')}\n"
        )
        inv = workdir / "inventory.yaml"
        inv.write_text(yaml.safe_dump(inventory(lab, workdir / "pki" / "ca.pem")))
        yield lab, workdir, inv


def scan(lab_parts, name: str, checks: list[str] | None) -> dict:
    lab, workdir, inv = lab_parts
    policy = FULL
    if checks is not None:
        policy = str(workdir / f"{name}.yaml")
        full = load_policy(FULL).document()["checks"]
        Path(policy).write_text(
            yaml.safe_dump({"name": name, "version": "1", "checks": {c: full[c] for c in checks}})
        )
    env = lab_env(workdir)
    out = workdir / f"{name}.json"
    proc = lab.run_in_scanner(
        [*HYGIE, "scan", "-i", str(inv), "-p", policy, "-o", str(out)], timeout=400, env=env
    )
    assert out.exists(), proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return load_results(out)


def statuses(hosts: dict, checks: list[str]) -> dict[tuple[str, str], str]:
    return {
        (name, r["check_id"]): r["status"]
        for name, host in hosts.items()
        for r in host["results"]
        if r["check_id"] in checks
    }


@pytest.fixture(scope="module")
def full(lab):
    return scan(lab, "full", None)


def test_the_network_checks_fall_into_a_few_closures():
    groups = closures()
    assert sum(len(v) for v in groups.values()) == len(NETWORK_CHECKS) > 30
    assert all("nmap_services" in names for names in groups)


@pytest.mark.parametrize("checks", list(closures().values()), ids=lambda c: f"{c[0]}+{len(c) - 1}")
def test_every_check_alone_gives_the_full_policy_verdict(lab, full, checks):
    alone = scan(lab, f"subset-{checks[0]}", checks)
    expected, got = statuses(full, checks), statuses(alone, checks)
    assert len(got) == len(expected) == len(checks) * len(full)
    differences = {k: (expected[k], got[k]) for k in expected if expected[k] != got[k]}
    assert not differences, differences
    print(f"\n{checks[0]} +{len(checks) - 1}: {len(got)} verdicts compared, 0 differences")


def test_an_ssh_config_alias_gets_the_verdicts_of_its_address(full):
    """The alias resolves through ~/.ssh/config for nmap and every probe, so the open DICOM
    SCP is found and judged, exactly as on the host named by address."""
    by_address, by_alias = full["pacs-open"], full["pacs-alias"]
    resolution = {f["name"] for f in by_alias["facts"]}
    assert "target_resolution" in resolution and by_alias["address"] == by_address["address"]
    same = {r["check_id"]: r["status"] for r in by_address["results"]}
    alias = {r["check_id"]: r["status"] for r in by_alias["results"]}
    assert alias == same
    assert alias["dicom_calling_ae_enforced"] == "fail"


def test_an_unresolvable_name_is_error_for_every_network_check(full):
    host = full[UNRESOLVABLE]
    network = [r for r in host["results"] if r["check_id"] in NETWORK_CHECKS]
    assert network and {r["status"] for r in network} == {"error"}
    assert all("cannot resolve" in r["message"] for r in network), network[0]["message"]
