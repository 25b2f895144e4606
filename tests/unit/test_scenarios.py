"""Every check judged on its scenarios: ``tests/fixtures/checks/<check_id>/<case>.<status>.yaml``.

The file name says the expected outcome (ComplianceAsCode's ``correct_value.pass.sh``), so
adding a case is adding a file, never editing a list; the format is described in
tests/fixtures/checks/README.md. Every registered check must have at least one passing
and one failing scenario, so a check cannot land without proof it can tell both apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from hygie.model import Fact, Status
from hygie.registry import all_checks
from tests.unit.conftest import judge_check

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SCENARIOS = FIXTURES / "checks"
STATUSES = {
    "pass": Status.PASS,
    "fail": Status.FAIL,
    "error": Status.ERROR,
    "na": Status.NOT_APPLICABLE,
}
KEYS = {"description", "facts", "params", "message"}
FACT_KEYS = {"stdout", "file", "stderr", "exit_status", "truncated"}
#: Checks exempt from needing a ``pass`` or a ``fail`` scenario, each with the reason.
#: None so far: every check can be shown both ways from recorded facts.
CANNOT_PASS: dict[str, str] = {}
CANNOT_FAIL: dict[str, str] = {}


@dataclass(frozen=True)
class Scenario:
    path: Path

    @property
    def check_id(self) -> str:
        return self.path.parent.name

    @property
    def case(self) -> str:
        return self.path.name.removesuffix(".yaml").rpartition(".")[0]

    @property
    def status_word(self) -> str:
        """``pass`` of ``nft_empty.pass.yaml``; empty when the name has no status."""
        case, dot, word = self.path.name.removesuffix(".yaml").rpartition(".")
        return word if dot and case else ""

    @property
    def id(self) -> str:
        return f"{self.check_id}/{self.case}.{self.status_word}"

    def load(self) -> dict[str, Any]:
        doc = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        assert isinstance(doc, dict) and "facts" in doc, f"{self.path}: needs a facts: mapping"
        assert set(doc) <= KEYS, f"{self.path}: unknown keys {sorted(set(doc) - KEYS)}"
        return doc

    def facts(self, doc: dict[str, Any]) -> dict[str, Fact]:
        return {name: self._fact(name, entry) for name, entry in (doc["facts"] or {}).items()}

    def _fact(self, name: str, entry: Any) -> Fact:
        if not isinstance(entry, dict):
            return Fact(name, _bytes(entry))
        assert set(entry) <= FACT_KEYS, f"{self.path}: {name}: unknown keys {sorted(entry)}"
        assert ("stdout" in entry) != ("file" in entry), f"{self.path}: {name}: stdout or file"
        stdout = (FIXTURES / entry["file"]).read_bytes() if "file" in entry else entry["stdout"]
        return Fact(
            name,
            _bytes(stdout),
            _bytes(entry.get("stderr", "")),
            exit_status=entry.get("exit_status", 0),
            truncated=entry.get("truncated", False),
        )


def _bytes(value: str | bytes) -> bytes:
    """Text as UTF-8; ``!!binary`` arrives from YAML as bytes already."""
    return value if isinstance(value, bytes) else value.encode("utf-8")


ALL = [Scenario(p) for p in sorted(SCENARIOS.glob("*/*.yaml"))]


@pytest.mark.parametrize("scenario", ALL, ids=[s.id for s in ALL])
def test_scenario(scenario: Scenario):
    assert scenario.status_word in STATUSES, f"{scenario.path}: name it <case>.<status>.yaml"
    doc = scenario.load()
    meta = all_checks()[scenario.check_id]
    facts = scenario.facts(doc)
    undeclared = set(facts) - set(meta.facts)
    assert not undeclared, f"{scenario.path}: facts the check does not read: {sorted(undeclared)}"
    verdict = judge_check(scenario.check_id, facts, **(doc.get("params") or {}))
    assert verdict.status is STATUSES[scenario.status_word], verdict.message
    assert doc.get("message", "") in verdict.message
    if verdict.status in (Status.PASS, Status.FAIL):  # a verdict shows what it was read from
        assert verdict.evidence, f"{scenario.id}: a {verdict.status} without evidence"
        assert all(e.fact in meta.facts for e in verdict.evidence), verdict.evidence


def test_scenario_files_are_named_for_a_check_and_a_status():
    checks = all_checks()
    folders = {p.name for p in SCENARIOS.iterdir() if p.is_dir()}
    assert not folders - set(checks), f"folders naming no check: {sorted(folders - set(checks))}"
    files = {p.relative_to(SCENARIOS) for p in SCENARIOS.rglob("*") if p.is_file()}
    stray = files - {s.path.relative_to(SCENARIOS) for s in ALL} - {Path("README.md")}
    assert not stray, f"not <check_id>/<case>.<status>.yaml: {sorted(map(str, stray))}"
    unknown = [s.id for s in ALL if s.status_word not in STATUSES]
    assert not unknown, f"unknown status (one of {sorted(STATUSES)}): {unknown}"


def test_every_check_has_a_pass_and_a_fail_scenario():
    have = {(s.check_id, s.status_word) for s in ALL}
    lacking = {
        word: sorted(c for c in all_checks() if (c, word) not in have and c not in exempt)
        for word, exempt in (("pass", CANNOT_PASS), ("fail", CANNOT_FAIL))
    }
    assert lacking == {"pass": [], "fail": []}, f"checks without scenarios: {lacking}"


@pytest.mark.parametrize("check_id", sorted(all_checks()))
def test_no_facts_at_all_is_an_error(check_id):
    verdict = judge_check(check_id, {})
    assert verdict.status is Status.ERROR, verdict.message
