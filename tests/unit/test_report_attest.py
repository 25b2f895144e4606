"""Attestation and waiver files: strict, and every error names the file and the line."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest

from hygie.reports.attest import ReportInputError, load_attestations, load_waivers
from tests.fixtures.reports.hostile import HERE

WAIVER = """\
waivers:
  - id: W-1
    check: ssh_banner
    hosts: web-*
    justification: vendor firmware
    requested_by: alice
    approved_by: bob
    expires: 2027-06-30
"""


def write(tmp_path, text, name="w.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_fixture_files_load():
    waivers = load_waivers(HERE / "waivers.yaml", checks={"ssh_banner", "ssh_root_login"})
    assert [w.id for w in waivers] == ["W-1", "W-OLD"]
    w = waivers[0]
    assert w.tags == ("legacy",) and w.hosts == () and w.expires == date(2027, 6, 30)
    assert w.matches("ssh_banner", "any", ["dmz", "legacy"])
    assert not w.matches("ssh_banner", "any", ["dmz"])
    assert not w.matches("ssh_root_login", "any", ["legacy"])
    assert waivers[1].expired(date(2026, 2, 1)) and not waivers[1].expired(date(2026, 1, 31))
    atts = load_attestations(HERE / "attestations.yaml", {"testfw": ["AT-2", "PL-1"]})
    digest = hashlib.sha256((HERE / "training-records.txt").read_bytes()).hexdigest()
    assert atts[0].evidence_sha256 == digest and atts[0].evidence_file == "training-records.txt"
    assert atts[0].covers("testfw", "AT-2") and not atts[0].covers("testfw", "PL-1")
    assert atts[1].evidence_sha256 is None and not atts[1].valid(date(2026, 1, 1))


def test_a_plain_string_selector_and_both_selectors(tmp_path):
    both = WAIVER.replace("hosts: web-*", "hosts: web-*\n    tags: [x]")
    (w,) = load_waivers(write(tmp_path, both))
    assert w.matches("ssh_banner", "web-2", ["x"]) and not w.matches("ssh_banner", "web-2", [])
    assert not w.matches("ssh_banner", "db-1", ["x"])


@pytest.mark.parametrize(
    ("change", "line", "reason"),
    [
        (("    approved_by: bob", "    approved_by: Alice"), 7, "someone other"),
        (("    justification: vendor firmware\n", ""), 2, "'justification'"),
        (("    expires: 2027-06-30\n", ""), 2, "'expires'"),
        (("    expires: 2027-06-30", "    expires: next year"), 8, "not a date"),
        (("    check: ssh_banner", "    check: no_such_check"), 3, "unknown check"),
        (("    hosts: web-*\n", ""), 2, "host selector"),
        (("    hosts: web-*", "    hosts: web-*\n    owner: x"), 5, "unknown key 'owner'"),
        (("  - id: W-1", "  - id: W-1\n    id: W-2"), 3, "duplicate key"),
    ],
)
def test_waiver_errors_name_file_and_line(tmp_path, change, line, reason):
    path = write(tmp_path, WAIVER.replace(*change))
    with pytest.raises(ReportInputError, match=reason) as exc:
        load_waivers(path, checks={"ssh_banner"})
    assert exc.value.line == line and str(exc.value).startswith(f"{path}:{line}:")


def test_duplicate_waiver_ids_are_refused(tmp_path):
    path = write(tmp_path, WAIVER + WAIVER.split("\n", 1)[1])
    with pytest.raises(ReportInputError, match="duplicate id 'W-1'"):
        load_waivers(path)


ATTESTATION = """\
attestations:
  - id: A-1
    controls:
      testfw: [AT-2]
    statement: done
    owner: hr
    date: 2026-01-01
    valid_until: 2026-12-31
    evidence: proof.txt
"""


@pytest.mark.parametrize(
    ("change", "line", "reason"),
    [
        (("testfw: [AT-2]", "testfw: [ZZ-9]"), 4, "'ZZ-9' is not a control of testfw"),
        (("testfw: [AT-2]", "other: [AT-2]"), 4, "unknown framework 'other'"),
        (("    evidence: proof.txt", "    evidence: missing.pdf"), 9, "evidence file"),
        (("valid_until: 2026-12-31", "valid_until: 2025-12-31"), 8, "before date"),
        (("    statement: done\n", ""), 2, "'statement'"),
        (("    controls:\n      testfw: [AT-2]\n", ""), 2, "'controls'"),
    ],
)
def test_attestation_errors_name_file_and_line(tmp_path, change, line, reason):
    (tmp_path / "proof.txt").write_text("signed")
    path = write(tmp_path, ATTESTATION.replace(*change), "a.yaml")
    with pytest.raises(ReportInputError, match=reason) as exc:
        load_attestations(path, {"testfw": ["AT-2"]})
    assert exc.value.line == line


def test_evidence_path_is_relative_to_the_attestation_file(tmp_path):
    (tmp_path / "proof.txt").write_text("signed")
    (att,) = load_attestations(write(tmp_path, ATTESTATION, "a.yaml"))
    assert att.evidence_sha256 == hashlib.sha256(b"signed").hexdigest()


def test_top_level_must_be_the_expected_list(tmp_path):
    with pytest.raises(ReportInputError, match="expected a list under 'waivers'"):
        load_waivers(write(tmp_path, "waivers: {}\n"))
    with pytest.raises(ReportInputError, match="unknown key 'attestations'"):
        load_waivers(write(tmp_path, "attestations: []\n"))
