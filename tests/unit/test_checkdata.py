"""Check data files: complete, translated, references from the catalogs, errors with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from hygie.checkdata import CheckDataError, checks_dir, load_domain_file, reference_sets
from hygie.registry import all_checks

GOOD = """\
demo_check:
  severity: high
  references:
    - data_in_transit
    - nist_800_53r5: ["SC-13", "SC-8"]
  title:
    en: Demo title
    fr: Titre de démonstration
  rationale:
    en: Why it matters.
    fr: Pourquoi c'est important.
  remediation:
    en: Fix it.
    fr: Corrigez-le.
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "demo.yaml"
    path.write_text(text)
    return path


def test_sets_and_own_references_merge_without_duplicates(tmp_path):
    (entry,) = load_domain_file(_write(tmp_path, GOOD)).values()
    nist = entry.references["nist_800_53r5"]
    assert nist == ("SC-8", "SC-8(1)", "SC-13")
    assert entry.references["gdpr"] == reference_sets()["data_in_transit"]["gdpr"]
    assert entry.text("fr").title == "Titre de démonstration"
    assert entry.text("de").title == "Demo title"  # untranslated: English


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        ("- data_in_transit", "- in_transit", 4, "unknown reference set 'in_transit'"),
        ('["SC-13", "SC-8"]', '["SC-13", "XX-9"]', 5, "'XX-9' is not a control of nist"),
        ("- nist_800_53r5:", "- nist_80053:", 5, "unknown framework 'nist_80053'"),
        ("severity: high", "severity: urgent", 2, "severity must be one of"),
        ("    en: Why it matters.\n", "", 9, "the English text is required"),
        ("    fr: Corrigez-le.\n", "    de: Korrigieren.\n", 14, "unknown key 'de'"),
        ("  severity: high\n", "", 1, "missing severity"),
    ],
)
def test_a_bad_entry_names_file_line_and_cause(tmp_path, old, new, line, words):
    path = _write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(CheckDataError) as err:
        load_domain_file(path)
    assert f"{path}:{line}" in str(err.value) and words in str(err.value)


def test_a_translation_must_be_complete(tmp_path):
    path = _write(tmp_path, GOOD.replace("    fr: Pourquoi c'est important.\n", ""))
    with pytest.raises(CheckDataError, match="fr lacks rationale"):
        load_domain_file(path)


def test_every_shared_set_is_used():
    files = [p for p in checks_dir().glob("*.yaml") if p.name != "references.yaml"]
    used = "".join(p.read_text() for p in files)
    assert [name for name in reference_sets() if f"- {name}\n" not in used] == []


def test_every_check_is_translated_into_french():
    untranslated = [cid for cid, meta in all_checks().items() if "fr" not in meta.texts]
    assert not untranslated, untranslated
