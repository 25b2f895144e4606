"""Framework catalogs: each standard is complete where the issue says so, states where it
comes from, and every check reference names a control that exists (a typo in a control id
would otherwise silently drop a finding from a regulator's report)."""

from __future__ import annotations

import dataclasses
import re

import pytest

from hygie.frameworks import (
    FrameworkError,
    coverage,
    load_catalog,
    load_catalogs,
    unknown_references,
)
from hygie.registry import all_checks

CATALOGS = load_catalogs()
CHECKS = all_checks()
REFERENCE_KEYS = {k for meta in CHECKS.values() for k in meta.references}


def test_every_framework_key_has_a_catalog():
    assert set(CATALOGS) == {
        "hipaa",
        "gdpr",
        "nis2",
        "iso27001_2022",
        "nist_800_53r5",
        "nist_csf_2_0",
        "anssi_hygiene",
        "anssi_bp028",
        "cis_controls_v8",
        "cis_ubuntu_2204_v2_0_0",
        "hds",
    }
    assert not REFERENCE_KEYS - set(CATALOGS)


@pytest.mark.parametrize("key", sorted(CATALOGS))
def test_catalog_states_source_and_version(key):
    catalog = CATALOGS[key]
    assert catalog.id == key
    assert catalog.title and catalog.version
    assert re.search(r"https://\S+", catalog.source), catalog.source
    assert catalog.controls
    for control in catalog.controls.values():
        assert control.title and control.kind
        assert control.parent is None or control.parent in catalog.controls


def test_iso_annex_a_has_the_93_controls():
    iso = CATALOGS["iso27001_2022"]
    per_theme = {"5": 37, "6": 8, "7": 14, "8": 34}
    expected = [f"A.{t}.{n}" for t, count in per_theme.items() for n in range(1, count + 1)]
    assert list(iso.controls) == expected
    assert iso.control("A.8.8").title == "Management of technical vulnerabilities"


def test_anssi_hygiene_has_the_42_measures():
    guide = CATALOGS["anssi_hygiene"]
    assert list(guide.controls) == [str(n) for n in range(1, 43)]
    assert all(c.kind == "measure" and c.title_en for c in guide.controls.values())


def test_nis2_has_points_a_to_j():
    points = [c for c in CATALOGS["nis2"].controls if c.startswith("21(2)(")]
    assert points == [f"21(2)({letter})" for letter in "abcdefghij"]


def test_hipaa_specifications_are_required_or_addressable_under_a_standard():
    hipaa = CATALOGS["hipaa"]
    kinds = {c.kind for c in hipaa.controls.values()}
    assert kinds == {"standard", "implementation-required", "implementation-addressable"}
    for control in hipaa.controls.values():
        is_spec = control.kind != "standard"
        assert (control.parent is not None) == is_spec, control.id
        if is_spec:
            assert hipaa.control(control.parent).kind == "standard"
    sections = {cid.split("(")[0] for cid in hipaa.controls}
    assert sections == {"164.308", "164.310", "164.312"}
    assert hipaa.control("164.312(a)(2)(iv)").kind == "implementation-addressable"
    assert hipaa.control("164.308(a)(1)(ii)(A)").kind == "implementation-required"


def test_organisational_controls_need_human_evidence():
    """Training, incident response, risk analysis: no host check can evidence them."""
    for framework, cid in [
        ("hipaa", "164.308(a)(1)(ii)(A)"),
        ("hipaa", "164.308(a)(6)(ii)"),
        ("iso27001_2022", "A.6.3"),
        ("iso27001_2022", "A.5.24"),
        ("nis2", "21(2)(a)"),
        ("anssi_hygiene", "1"),
        ("anssi_hygiene", "40"),
        ("anssi_hygiene", "41"),
        ("gdpr", "32(1)(d)"),
    ]:
        assert not CATALOGS[framework].control(cid).automatable, (framework, cid)
    assert not any(c.automatable for c in CATALOGS["hds"].controls.values())


def test_every_check_reference_names_an_existing_control():
    assert unknown_references() == []


def test_an_unknown_reference_is_reported():
    meta = CHECKS["ssh_root_login"]
    bogus = dataclasses.replace(
        meta, references={"hipaa": ("164.312(z)",), "nist_800_53r5": ("AC-6(2)",), "pci": ("1",)}
    )
    assert unknown_references({meta.id: bogus}) == [
        "ssh_root_login: hipaa 164.312(z)",
        "ssh_root_login: pci 1",
    ]


def test_coverage_inverts_the_check_references():
    inverted = coverage()
    pairs = {
        (fw, cid, check)
        for fw, per in inverted.items()
        for cid, ids in per.items()
        for check in ids
    }
    expected = {
        (fw, cid, meta.id)
        for meta in CHECKS.values()
        for fw, cids in meta.references.items()
        for cid in cids
    }
    assert pairs == expected
    assert "ssh_root_login" in inverted["hipaa"]["164.312(a)(2)(i)"]


def test_unknown_control_lookup_says_which_catalog():
    with pytest.raises(KeyError, match=r"'A\.9\.1' is not a control of iso27001_2022"):
        CATALOGS["iso27001_2022"].control("A.9.1")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            "controls:\n  - {id: x, title: X, automatable: true, parent: y, kind: c}\n",
            "x: unknown parent 'y'",
        ),
        (
            "controls:\n  - {id: x, title: X, automatable: true, parent: null, kind: c}\n"
            "  - {id: x, title: Y, automatable: true, parent: null, kind: c}\n",
            "duplicate control 'x'",
        ),
        (
            "controls:\n  - {id: x, title: X, automatable: yes please, parent: null, kind: c}\n",
            "'automatable' must be a boolean",
        ),
        (
            "controls:\n  - {id: x, title: X, automatable: true, kind: c, level: 2}\n",
            "unknown key 'level'",
        ),
    ],
)
def test_catalog_errors_name_the_file_and_line(tmp_path, body, reason):
    path = tmp_path / "demo.yaml"
    path.write_text("id: demo\ntitle: Demo\nversion: '1'\nsource: https://example.org\n" + body)
    with pytest.raises(FrameworkError, match=re.escape(reason)) as err:
        load_catalog(path)
    assert err.value.line is not None and err.value.source == str(path)


def test_catalog_id_must_match_its_file_name(tmp_path):
    path = tmp_path / "other.yaml"
    path.write_text(
        "id: demo\ntitle: Demo\nversion: '1'\nsource: https://example.org\n"
        "controls:\n  - {id: x, title: X, automatable: true, parent: null, kind: c}\n"
    )
    with pytest.raises(FrameworkError, match="must match the file name"):
        load_catalog(path)
