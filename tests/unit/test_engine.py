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
