"""Engine pieces that need no host: derived facts, fact selection, offline re-judging."""

from __future__ import annotations

from hygie.engine import derive_facts, needed_facts, rejudge
from hygie.factspec import FactSpec
from hygie.model import Fact, HostScan, Scan, Status
from hygie.policy import load_policy


def test_derived_facts_are_computed_and_failures_recorded():
    def count_lines(facts):
        return str(len(facts["etc_passwd"].text.splitlines())).encode()

    def broken(facts):
        raise ValueError("feed missing")

    specs = [
        FactSpec("n_users", "", "d", requires=("etc_passwd",), derive=count_lines),
        FactSpec("bad", "", "d", requires=("etc_passwd",), derive=broken),
        FactSpec("skipped", "", "d", requires=("absent",), derive=count_lines),
    ]
    derived = derive_facts({"etc_passwd": Fact("etc_passwd", b"a\nb\n")}, specs)
    assert derived["n_users"].stdout == b"2"
    assert derived["bad"].exit_status == 1 and b"feed missing" in derived["bad"].stderr
    assert "skipped" not in derived


def test_needed_facts_are_the_union_for_the_policy():
    names = {s.name for s in needed_facts(load_policy("health-baseline"))}
    assert {"os_release", "date_utc", "sshd_effective", "login_defs"} <= names
    assert "world_writable" not in names  # only the cis-debian pack selects that scan
    assert "world_writable" in {s.name for s in needed_facts(load_policy("cis-debian"))}


def test_rejudge_keeps_unassessed_hosts_as_error():
    host = HostScan(name="down", address="x", transport="ssh", error="unreachable: x")
    scan = Scan("s1", 0.0, 1.0, "0", "p", "1", "d", {}, [host])
    again = rejudge(scan, load_policy("nist-800-63b"))
    assert again.facts_from == "s1"
    assert {r.status for r in again.hosts[0].results} == {Status.ERROR}


def test_probes_run_in_dependency_order_and_failures_are_recorded():
    import time

    from hygie.engine import probe_facts
    from hygie.inventory import Target
    from hygie.resolve import resolve

    seen = []

    def ports(ctx):
        seen.append("ports")
        return b"22,443"

    def tls(ctx):
        seen.append("tls")
        assert ctx.facts["ports"].stdout == b"22,443" and ctx.settings == {"tls_ports": [443]}
        raise TimeoutError("handshake timed out")

    specs = [
        FactSpec("tls", "", "d", requires=("ports",), probe=tls),
        FactSpec("ports", "", "d", probe=ports),
    ]
    target = Target(name="pacs", address="198.18.0.9", network={"tls_ports": [443]})
    facts = probe_facts(
        target, specs, {}, time.monotonic() + 30, resolve("pacs", "198.18.0.9", None)
    )
    assert seen == ["ports", "tls"]
    assert facts["ports"].ok and facts["tls"].exit_status == 1
    assert b"handshake timed out" in facts["tls"].stderr


def test_network_only_targets_get_not_applicable_for_host_checks():
    from hygie.evaluate import evaluate_host

    results = evaluate_host("modality", {}, load_policy("health-baseline"), network_only=True)
    assert {r.status for r in results} == {Status.NOT_APPLICABLE}


def test_a_probe_pulls_in_what_it_requires():
    """A TLS-only policy gathers nmap's services: without them it would audit nothing."""
    from hygie.policy import Policy

    base = load_policy("network")
    only_tls = {k: v for k, v in base.selections.items() if k.startswith("tls_")}
    names = {s.name for s in needed_facts(Policy("tls-only", "1", "", base.sources, only_tls))}
    assert {"tls_scan", "nmap_services"} <= names
