"""Quarter-on-quarter differences between two scans."""

from __future__ import annotations

from hygie.diff import diff_scans
from hygie.model import HostScan, Result, Scan, Severity, Status


def scan(scan_id: str, rows: dict[tuple[str, str], Status]) -> Scan:
    hosts: dict[str, HostScan] = {}
    for (host, check_id), status in rows.items():
        h = hosts.setdefault(host, HostScan(name=host, address=host, transport="ssh"))
        h.results.append(Result(check_id, host, status, Severity.HIGH, "t", "m"))
    return Scan(scan_id, 0.0, 1.0, "0", "p", "1", "d", {}, list(hosts.values()))


def test_diff_classifies_each_change():
    old = scan(
        "q1",
        {
            ("a", "c1"): Status.FAIL,
            ("a", "c2"): Status.FAIL,
            ("a", "c3"): Status.PASS,
            ("a", "c4"): Status.PASS,
            ("gone", "c1"): Status.PASS,
        },
    )
    new = scan(
        "q2",
        {
            ("a", "c1"): Status.PASS,
            ("a", "c2"): Status.FAIL,
            ("a", "c3"): Status.FAIL,
            ("a", "c4"): Status.ERROR,
            ("b", "c1"): Status.FAIL,
        },
    )
    d = diff_scans(old, new)
    key = lambda rs: [(r.host, r.check_id) for r in rs]  # noqa: E731
    assert key(d.fixed) == [("a", "c1")]
    assert key(d.still_failing) == [("a", "c2")]
    assert key(d.new_failures) == [("a", "c3"), ("b", "c1")]
    assert key(d.newly_unassessed) == [("a", "c4")]
    assert d.hosts_added == ("b",) and d.hosts_removed == ("gone",) and d.regressed
