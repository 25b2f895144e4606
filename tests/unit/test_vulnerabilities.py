"""Vulnerability checks, judged on the derived fact exactly as the engine derives it: the
recorded Debian 12 package list (with older glibc/openssh planted) matched against the
fixture feeds, the real KEV catalog and the sample EPSS file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hygie.engine import derive_facts
from hygie.evaluate import evaluate_host
from hygie.factspec import all_facts
from hygie.feeds.store import FeedStore
from hygie.model import Fact, Status
from hygie.policy import load_policy
from hygie.registry import MissingFact
from tests.unit.conftest import run_check

ROOT = Path(__file__).parent.parent
FEEDS = ROOT / "fixtures" / "feeds"
PATCHING = ROOT / "fixtures" / "patching"
KEV_FILE = (
    ROOT.parent.parent / "shared" / "data" / "cisa-kev" / "known_exploited_vulnerabilities.json"
)
pytestmark = pytest.mark.skipif(not KEV_FILE.exists(), reason="../shared/data/cisa-kev absent")

DEBIAN = (PATCHING / "os_release_debian12.txt").read_bytes()
TODAY = b"2026-11-28\n1795907048\n"  # KEV 2025.08.25 is 460 days old then
MISSING = Fact("packages_rpm", b"", b"sh: 1: rpm: not found\n", exit_status=127)
VULN_CHECKS = (
    "vuln_feed_age",
    "vuln_fixable_packages",
    "vuln_known_exploited",
    "vuln_unfixed_packages",
    "vuln_running_kernel",
)
KERNELS = (
    "linux-image-6.1.0-17-amd64\t6.1.69-1\tii \tlinux-signed-amd64\t6.1.69+1\tamd64\n"
    "linux-image-6.1.0-18-amd64\t6.1.76-1\tii \tlinux-signed-amd64\t6.1.76+1\tamd64\n"
)


@pytest.fixture
def feeds(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "hygie.db"
    store = FeedStore(path)
    for file in (FEEDS / "osv-debian12", KEV_FILE, FEEDS / "epss_scores-sample.csv.gz"):
        store.import_path(file)
    store.close()
    monkeypatch.setenv("HYGIE_DB", str(path))
    return path


def host_facts(*, old: bool, kernels: str = "", running: str = "6.18.44-fc") -> dict[str, Fact]:
    text = (PATCHING / "packages_dpkg_debian12.pass.txt").read_text()
    if old:
        text = text.replace("2.36-9+deb12u14", "2.36-9+deb12u1").replace(
            "1:9.2p1-2+deb12u10", "1:9.2p1-2+deb12u2"
        )
    collected = {
        "os_release": Fact("os_release", DEBIAN),
        "uname": Fact("uname", f"Linux\n{running}\nx86_64\n".encode()),
        "packages_dpkg": Fact("packages_dpkg", (text + kernels).encode()),
        "packages_rpm": MISSING,
        "date_utc": Fact("date_utc", TODAY),
    }
    return collected | derive_facts(collected, [all_facts()["vulnerable_packages"]])


def test_old_host_fails_with_plan_kev_first(feeds):
    facts = host_facts(old=True)
    assert facts["vulnerable_packages"].ok, facts["vulnerable_packages"].stderr
    verdict = run_check("vuln_fixable_packages", facts)
    assert verdict.status == Status.FAIL
    assert "1. update glibc" in verdict.message and "2. update openssh" in verdict.message
    assert verdict.message.index("CVE-2023-4911") < verdict.message.index("CVE-2024-6387")
    actual = " ".join(e.actual for e in verdict.evidence)
    assert "openssh-server 1:9.2p1-2+deb12u2" in actual and "fixed in 1:9.2p1-2+deb12u3" in actual
    assert all(e.fact == "vulnerable_packages" for e in verdict.evidence)


def test_kev_is_critical_with_due_date_and_ransomware_flag(feeds):
    verdict = run_check("vuln_known_exploited", host_facts(old=True))
    assert verdict.status == Status.FAIL
    assert "1 actively exploited CVEs (0 used by ransomware)" in verdict.message
    (evidence,) = {e.actual for e in verdict.evidence if "libc6 " in e.actual}
    assert "CVE-2023-4911" in evidence and "due 2023-12-12" in evidence
    assert "ransomware use Unknown" in evidence and "EPSS 0.787" in evidence


def test_patched_host_passes_and_names_its_feeds(feeds):
    facts = host_facts(old=False)
    for check_id in ("vuln_fixable_packages", "vuln_known_exploited"):
        verdict = run_check(check_id, facts)
        assert verdict.status == Status.PASS, verdict.message
        assert "OSV Debian:12 of 2026-11-28, KEV 2025.08.25" in verdict.message


def test_unfixed_are_shown_apart(feeds):
    verdict = run_check("vuln_unfixed_packages", host_facts(old=False))
    assert verdict.status == Status.PASS  # CVE-2010-4756 is rated negligible by Debian
    assert "1 vulnerabilities without a fix" in verdict.message
    assert any("CVE-2010-4756" in e.actual and "no fix" in e.actual for e in verdict.evidence)
    report = json.loads(host_facts(old=False)["vulnerable_packages"].stdout)
    for s in report["sources"]:
        for v in s["vulnerabilities"]:
            v["severity"] = "high"
    raised = {"vulnerable_packages": Fact("vulnerable_packages", json.dumps(report).encode())}
    assert run_check("vuln_unfixed_packages", raised).status == Status.FAIL
    assert run_check("vuln_unfixed_packages", raised, min_severity="critical").status == Status.PASS


def test_running_kernel_against_advisories(feeds):
    old = run_check(
        "vuln_running_kernel", host_facts(old=False, kernels=KERNELS, running="6.1.0-17-amd64")
    )
    assert old.status == Status.FAIL
    assert "linux-image-6.1.0-17-amd64 6.1.69-1" in old.message
    assert "fixed in 6.1.76-1" in old.message and "1 in KEV: CVE-2024-1086" in old.message
    new = run_check(
        "vuln_running_kernel", host_facts(old=False, kernels=KERNELS, running="6.1.0-18-amd64")
    )
    assert new.status == Status.PASS
    assert run_check("vuln_running_kernel", host_facts(old=False)).status == Status.NOT_APPLICABLE
    gone = run_check(
        "vuln_running_kernel", host_facts(old=False, kernels=KERNELS, running="6.1.0-9-amd64")
    )
    assert gone.status == Status.ERROR


def test_stale_feed_is_a_finding(feeds):
    facts = host_facts(old=False)
    stale = run_check("vuln_feed_age", facts)
    assert stale.status == Status.FAIL and "CISA KEV is 460 days old (limit 7)" in stale.message
    assert "OSV Debian:12" not in stale.message.split("(limit")[0]  # OSV itself is fresh
    assert run_check("vuln_feed_age", facts, max_age_days=500).status == Status.PASS


def test_no_feed_never_passes(tmp_path, monkeypatch):
    monkeypatch.setenv("HYGIE_DB", str(tmp_path / "empty.db"))
    facts = host_facts(old=False)
    assert facts["vulnerable_packages"].stderr.startswith(b"FeedMissing:")
    verdict = run_check("vuln_feed_age", facts)
    assert verdict.status == Status.FAIL and "no usable vulnerability feed" in verdict.message
    with pytest.raises(MissingFact):
        run_check("vuln_fixable_packages", facts)
    policy = load_policy("vulnerabilities")
    results = {r.check_id: r.status for r in evaluate_host("h", facts, policy)}
    assert {results[c] for c in VULN_CHECKS} == {Status.FAIL, Status.ERROR}
    assert results["vuln_feed_age"] == Status.FAIL


def test_policies_select_the_checks():
    """The vulnerabilities pack selects them; the baseline does not, since it must work
    out of the box on a machine with no advisory feed loaded."""
    assert set(VULN_CHECKS) <= set(load_policy("vulnerabilities").selections)
    assert not set(VULN_CHECKS) & set(load_policy("health-baseline").selections)
