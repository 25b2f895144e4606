"""Feeds: OSV/KEV/EPSS parsing, the store, matching and the patch plan.

OSV fixtures (tests/fixtures/feeds, see its README) describe real advisories whose fixed
versions were checked against the packages' Debian changelogs; the KEV catalog is the
real one from ../shared; the EPSS file is small and illustrative.
"""

from __future__ import annotations

import gc
import json
import socket
import sqlite3
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from hygie.cli import cli
from hygie.facts.packages import Package, parse_dpkg_packages
from hygie.facts.vulnerabilities import encode
from hygie.feeds.epss import parse_epss, read_epss
from hygie.feeds.kev import read_kev
from hygie.feeds.match import match_host, open_feeds
from hygie.feeds.osv import FeedFormatError, parse_advisory, record_severity
from hygie.feeds.plan import host_plan, patch_plan
from hygie.feeds.store import FeedMissing, FeedStore
from hygie.model import Fact, HostScan, Scan

ROOT = Path(__file__).parent.parent
FEEDS = ROOT / "fixtures" / "feeds"
PATCHING = ROOT / "fixtures" / "patching"
SHARED_KEV = ROOT.parent.parent / "shared" / "data" / "cisa-kev"
KEV_FILE = SHARED_KEV / "known_exploited_vulnerabilities.json"

needs_kev = pytest.mark.skipif(not KEV_FILE.exists(), reason="../shared/data/cisa-kev absent")


def dpkg_inventory(**versions: str) -> tuple[Package, ...]:
    """The recorded Debian 12 package list, with some source packages at other versions."""
    text = (PATCHING / "packages_dpkg_debian12.pass.txt").read_text()
    packages = parse_dpkg_packages(text)
    return tuple(
        Package(p.name, versions[p.source], p.arch, p.status, p.source, versions[p.source])
        if p.source in versions
        else p
        for p in packages
    )


@pytest.fixture
def feed_db(tmp_path) -> Path:
    path = tmp_path / "hygie.db"
    store = FeedStore(path)
    for name in ("osv-debian12", "osv-rocky9", "epss_scores-sample.csv.gz"):
        store.import_path(FEEDS / name)
    if KEV_FILE.exists():
        store.import_path(KEV_FILE)
    store.close()
    return path


def match(path: Path, packages, ecosystem="Debian:12", running="6.1.0-18-amd64") -> dict:
    store = open_feeds(path)
    try:
        return match_host(store, ecosystem, packages, running)
    finally:
        store.close()


def by_binary(report: dict) -> dict[str, dict]:
    """Binary package name -> the entry of the vulnerable source package it comes from."""
    return {b["name"]: s for s in report["sources"] for b in s["packages"]}


# -- parsing -------------------------------------------------------------------------------


def test_osv_timeline_becomes_intervals():
    record = {
        "id": "X-1",
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": "p"},
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": [
                            {"fixed": "2.0-1"},
                            {"introduced": "0"},
                            {"introduced": "3.0"},
                            {"last_affected": "3.5-1"},
                            {"introduced": "4.0~rc1"},
                        ],
                    },
                    {"type": "GIT", "events": [{"introduced": "abc"}]},
                ],
            },
            {"package": {"ecosystem": "PyPI", "name": "p"}, "versions": ["1.0"]},
            {"package": {"ecosystem": "Debian:11", "name": "q"}, "versions": ["1.0-1"]},
        ],
    }
    adv = parse_advisory(record)
    spans = [(r.ecosystem, r.introduced, r.fixed, r.last_affected) for r in adv.ranges]
    assert spans == [
        ("Debian:12", None, "2.0-1", None),
        ("Debian:12", "3.0", None, "3.5-1"),
        ("Debian:12", "4.0~rc1", None, None),
        ("Debian:11", "1.0-1", None, "1.0-1"),
    ]
    assert parse_advisory({"id": "PYSEC-1", "affected": [record["affected"][1]]}) is None
    with pytest.raises(FeedFormatError):
        parse_advisory({"affected": []})


def test_osv_fixture_records():
    dsa = parse_advisory(json.loads((FEEDS / "osv-debian12" / "DSA-5724-1.json").read_text()))
    assert dsa.cves == ("CVE-2024-6387",) and dsa.ranges[0].fixed == "1:9.2p1-2+deb12u3"
    rocky = parse_advisory(json.loads((FEEDS / "osv-rocky9" / "RLSA-2024-4312.json").read_text()))
    assert rocky.cves == ("CVE-2024-6387",) and rocky.severity == "high"  # CVSS 3.1 8.1
    withdrawn = json.loads((FEEDS / "osv-debian12" / "HYGIE-TEST-WITHDRAWN-1.json").read_text())
    assert parse_advisory(withdrawn).withdrawn


def test_severity_sources():
    assert record_severity({}) == "unknown"
    assert record_severity({"severity": [{"type": "Ubuntu", "score": "medium"}]}) == "medium"
    v3 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    both = {
        "severity": [{"type": "CVSS_V3", "score": v3}],
        "affected": [{"ecosystem_specific": {"urgency": "low"}}],
    }
    assert record_severity(both) == "critical"
    assert record_severity({"severity": [{"type": "CVSS_V3", "score": "garbage"}]}) == "unknown"


@needs_kev
def test_real_kev_catalog_is_valid_against_its_schema():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((SHARED_KEV / "known_exploited_vulnerabilities_schema.json").read_text())
    data = json.loads(KEV_FILE.read_text())
    jsonschema.validate(data, schema)
    catalog = read_kev(KEV_FILE)
    assert catalog.version == data["catalogVersion"] and len(catalog.entries) == data["count"]
    looney = next(e for e in catalog.entries if e.cve == "CVE-2023-4911")
    assert (looney.date_added, looney.due_date) == ("2023-11-21", "2023-12-12")


def test_epss_header_and_rows():
    scores = read_epss(FEEDS / "epss_scores-sample.csv.gz")
    assert scores.model_version == "v2025.03.14" and scores.score_date.startswith("2026-11-27")
    assert ("CVE-2023-4911", 0.78712, 0.99003) in scores.scores
    with pytest.raises(FeedFormatError, match="model_version"):
        parse_epss("cve,epss,percentile\nCVE-1,0.1,0.2\n")


# -- store ---------------------------------------------------------------------------------


def test_imports_are_recorded_and_indexed(feed_db):
    store = FeedStore(feed_db, readonly=True)
    sources = [(i.source, i.version) for i in store.imports()]
    assert ("osv", "Debian:12") in sources and ("epss", "v2025.03.14") in sources
    assert all(len(i.sha256) == 64 and i.imported > 0 for i in store.imports())
    assert set(store.ecosystems()) == {"Debian:12", "Rocky Linux:9"}
    store.close()
    db = sqlite3.connect(feed_db)
    plan = " ".join(
        str(row)
        for row in db.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM feed_osv_ranges WHERE ecosystem = 'Debian:12'"
        )
    )
    assert "feed_osv_ranges_package" in plan
    ids = {r[0] for r in db.execute("SELECT id FROM feed_osv_advisories")}
    assert "HYGIE-TEST-WITHDRAWN-1" not in ids and "DSA-5514-1" in ids


def test_reimport_replaces_and_withdrawal_removes(tmp_path, feed_db):
    record = json.loads((FEEDS / "osv-debian12" / "DSA-5514-1.json").read_text())
    record["withdrawn"] = "2026-11-28T00:00:00Z"
    (tmp_path / "w.json").write_text(json.dumps([record]))
    store = FeedStore(feed_db)
    store.import_path(tmp_path / "w.json")
    db = sqlite3.connect(feed_db)
    assert not db.execute("SELECT 1 FROM feed_osv_ranges WHERE advisory = 'DSA-5514-1'").fetchall()
    store.import_path(FEEDS / "osv-debian12")
    assert (
        db.execute("SELECT COUNT(*) FROM feed_osv_ranges WHERE advisory = 'DSA-5514-1'").fetchone()[
            0
        ]
        == 1
    )
    store.close()


def test_no_feed_is_feed_missing(tmp_path):
    with pytest.raises(FeedMissing):
        open_feeds(tmp_path / "absent.db")
    sqlite3.connect(tmp_path / "scans-only.db").execute("CREATE TABLE scans (id TEXT)")
    with pytest.raises(FeedMissing, match="hygie feeds import"):
        open_feeds(tmp_path / "scans-only.db")


def test_unknown_ecosystem_is_feed_missing(feed_db):
    with pytest.raises(FeedMissing, match=r"Ubuntu:22\.04:LTS"):
        match(feed_db, dpkg_inventory(), ecosystem="Ubuntu:22.04:LTS")


# -- matching ------------------------------------------------------------------------------


@needs_kev
def test_old_glibc_and_openssh_are_matched_exactly(feed_db):
    report = match(feed_db, dpkg_inventory(glibc="2.36-9+deb12u1", openssh="1:9.2p1-2+deb12u2"))
    by_name = by_binary(report)
    libc = by_name["libc6"]
    assert (libc["version"], libc["source"], libc["fixed"]) == (
        "2.36-9+deb12u1",
        "glibc",
        "2.36-9+deb12u3",
    )
    assert {"name": "libc6", "arch": "amd64", "installed": "2.36-9+deb12u1"} in libc["packages"]
    assert by_name["libc-bin"] is libc  # glibc's flaws listed once, for all its binaries
    assert libc["cves"] == ["CVE-2010-4756", "CVE-2023-4911"]
    assert libc["advisories"] == ["DEBIAN-CVE-2010-4756", "DEBIAN-CVE-2023-4911", "DSA-5514-1"]
    assert libc["kev"] == [
        {
            "cve": "CVE-2023-4911",
            "date_added": "2023-11-21",
            "due_date": "2023-12-12",
            "known_ransomware_campaign_use": "Unknown",
        }
    ]
    assert libc["epss"] == {"cve": "CVE-2023-4911", "score": 0.78712, "percentile": 0.99003}
    ssh = by_name["openssh-server"]
    assert (ssh["version"], ssh["fixed"], ssh["cves"]) == (
        "1:9.2p1-2+deb12u2",
        "1:9.2p1-2+deb12u3",
        ["CVE-2024-6387"],
    )
    assert ssh["kev"] == [] and ssh["epss"]["score"] == 0.42168
    assert "HYGIE-TEST-WITHDRAWN-1" not in json.dumps(report)
    assert report["feeds"]["kev"]["version"] == "2025.08.25"


def test_patched_host_has_only_the_unfixed_glibc_flaw(feed_db):
    report = match(feed_db, dpkg_inventory())
    vulns = {
        (name, v["id"], v["fixed"])
        for name, s in by_binary(report).items()
        for v in s["vulnerabilities"]
    }
    assert {v[1:] for v in vulns} == {("CVE-2010-4756", None)}
    assert {n for n, *_ in vulns} >= {"libc6", "libc-bin"}


def test_epoch_decides_before_upstream(feed_db):
    """9.9p1 without epoch is older than 1:9.2p1: the epoch-less host is vulnerable, the
    one with epoch 1 at the fixed revision is not, whatever the upstream digits say."""
    newer_upstream = match(feed_db, dpkg_inventory(openssh="9.9p1-1"))
    assert "openssh-server" in by_binary(newer_upstream)
    patched = match(feed_db, dpkg_inventory(openssh="1:9.2p1-2+deb12u3"))
    assert "openssh-server" not in by_binary(patched)


def test_running_kernel_is_matched_and_old_images_are_not_packages(feed_db):
    kernels = (
        Package(
            "linux-image-6.1.0-17-amd64",
            "6.1.69-1",
            "amd64",
            "ii",
            "linux-signed-amd64",
            "6.1.69+1",
        ),
        Package(
            "linux-image-6.1.0-18-amd64",
            "6.1.76-1",
            "amd64",
            "ii",
            "linux-signed-amd64",
            "6.1.76+1",
        ),
        Package("linux-headers-6.1.0-17-amd64", "6.1.69-1", "amd64", "ii", "linux", "6.1.69-1"),
    )
    packages = dpkg_inventory() + kernels
    old = match(feed_db, packages, running="6.1.0-17-amd64")
    assert old["kernel"]["package"] == "linux-image-6.1.0-17-amd64"
    assert old["kernel"]["fixed"] == "6.1.76-1" and old["kernel"]["cves"] == ["CVE-2024-1086"]
    assert not by_binary(old).keys() & {k.name for k in kernels}
    new = match(feed_db, packages, running="6.1.0-18-amd64")
    assert new["kernel"]["vulnerabilities"] == []
    custom = match(feed_db, packages, running="6.18.44-custom")
    assert custom["kernel"]["package"] is None and len(custom["kernel"]["installed_kernels"]) == 2


@needs_kev
def test_fact_bytes_are_the_document_encoded_anew(feed_db):
    """Findings are written from the JSON encoded when the index was built: the fact must
    hold exactly what encoding the document as it reads now gives."""
    report = match(feed_db, dpkg_inventory(glibc="2.36-9+deb12u1", openssh="1:9.2p1-2+deb12u2"))
    assert encode(report) == orjson.dumps(json.loads(json.dumps(report)))


def test_matching_leaves_the_garbage_collector_as_it_was(feed_db):
    packages = dpkg_inventory()
    assert gc.isenabled()
    match(feed_db, packages)
    assert gc.isenabled()
    gc.disable()
    try:
        match(feed_db, packages)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_rpm_ecosystem_uses_source_rpm_and_rpm_ordering(feed_db):
    old = (Package("openssh-server", "8.7p1-38.el9", "x86_64", "ii", "openssh", "", "rpm"),)
    fixed = (Package("openssh-server", "8.7p1-38.el9_4.1", "x86_64", "ii", "openssh", "", "rpm"),)
    report = match(feed_db, old, ecosystem="Rocky Linux:9", running="5.14.0")
    (ssh,) = report["sources"]
    assert (ssh["fixed"], ssh["advisories"], ssh["severity"]) == (
        "8.7p1-38.el9_4.1",
        ["RLSA-2024:4312"],
        "high",
    )
    assert match(feed_db, fixed, ecosystem="Rocky Linux:9", running="5.14.0")["sources"] == []


# -- patch plan ----------------------------------------------------------------------------


@needs_kev
def test_plan_puts_kev_first_then_epss(feed_db):
    report = match(feed_db, dpkg_inventory(glibc="2.36-9+deb12u1", openssh="1:9.2p1-2+deb12u2"))
    plan = host_plan(report)
    assert [(i.source, i.fixed, i.kev) for i in plan] == [
        ("glibc", "2.36-9+deb12u3", True),
        ("openssh", "1:9.2p1-2+deb12u3", False),
    ]
    assert plan[0].cves == ("CVE-2023-4911",)  # the unfixed CVE-2010-4756 is not planned
    assert "libc6" in plan[0].packages and plan[0].due_date == "2023-12-12"


@needs_kev
def test_fleet_plan_merges_hosts(feed_db):
    def host(name: str, report: dict | None) -> HostScan:
        h = HostScan(name=name, address=name, transport="ssh")
        if report is None:
            h.facts = {
                "vulnerable_packages": Fact("vulnerable_packages", b"", b"FeedMissing: x", 1)
            }
        else:
            h.facts = {
                "vulnerable_packages": Fact("vulnerable_packages", json.dumps(report).encode())
            }
        return h

    old = match(feed_db, dpkg_inventory(glibc="2.36-9+deb12u1", openssh="1:9.2p1-2+deb12u2"))
    half = match(feed_db, dpkg_inventory(openssh="1:9.2p1-2+deb12u2"))
    scan = Scan(
        "s", 0, 1, "0", "p", "1", "d", {}, [host("a", old), host("b", half), host("c", None)]
    )
    fleet = patch_plan(scan)
    assert [(i.source, i.hosts) for i in fleet.items] == [
        ("glibc", ("a",)),
        ("openssh", ("a", "b")),
    ]
    assert fleet.not_assessed == {"c": "FeedMissing: x"}
    assert fleet.to_dict()["hosts"]["b"][0]["source"] == "openssh"


# -- command line --------------------------------------------------------------------------


def test_cli_import_and_status(tmp_path):
    db = tmp_path / "h.db"
    runner = CliRunner()
    empty = runner.invoke(cli, ["feeds", "status", "--db", str(db)])
    assert empty.exit_code == 1 and "hygie feeds import" in empty.output
    done = runner.invoke(
        cli,
        [
            "feeds",
            "import",
            "--db",
            str(db),
            str(FEEDS / "osv-debian12"),
            str(FEEDS / "epss_scores-sample.csv.gz"),
        ],
    )
    assert done.exit_code == 0, done.output
    assert "Debian:12" in done.output and "v2025.03.14" in done.output
    status = runner.invoke(cli, ["feeds", "status", "--db", str(db)])
    assert "OSV Debian:12" in status.output and "CISA KEV" in status.output
    assert status.exit_code == 1 and "incomplete" in status.output  # KEV missing
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert runner.invoke(cli, ["feeds", "import", "--db", str(db), str(bad)]).exit_code == 1


def test_cli_update_without_network_says_so(tmp_path):
    """A closed port on this machine's loopback: nothing leaves the machine."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends
    url = f"http://127.0.0.1:{port}"
    result = CliRunner().invoke(
        cli,
        [
            "feeds",
            "update",
            "--db",
            str(tmp_path / "h.db"),
            "-e",
            "Debian",
            "--timeout",
            "5",
            "--osv-url",
            url + "/{ecosystem}/all.zip",
            "--kev-url",
            url + "/kev.json",
            "--epss-url",
            url + "/epss.csv.gz",
        ],
    )
    assert result.exit_code == 1
    assert f"cannot download {url}/Debian/all.zip" in result.output
    assert "hygie feeds import" in result.output
    store = FeedStore(tmp_path / "h.db", readonly=True)
    assert store.imports() == []  # nothing half-imported
    store.close()
