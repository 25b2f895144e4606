"""Policy packs: built-ins load, layering works, every mistake names file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from hygie.model import Severity
from hygie.policy import Policy, PolicyError, builtin_policies, load_policy


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", sorted(builtin_policies()))
def test_builtin_policies_load(name):
    policy = load_policy(name)
    assert policy.selections and policy.name == name


def test_presets_differ_where_the_sources_differ():
    minlen = {
        n: load_policy(n).selections["password_min_length"].params["min_length"]
        for n in ("nist-800-63b", "cis-debian", "anssi", "anssi-admin")
    }
    assert minlen == {"nist-800-63b": 15, "cis-debian": 14, "anssi": 12, "anssi-admin": 16}
    nist = load_policy("nist-800-63b").selections
    assert nist["password_max_age"].params["forbid_expiry"] is True
    assert nist["password_complexity"].params["require_complexity"] is False
    assert "password_history" not in nist
    assert load_policy("anssi").selections["password_lockout"].params["max_deny"] == 3


def test_extends_overrides_and_excludes(tmp_path):
    path = write(
        tmp_path,
        """
name: site
version: 2
extends: health-baseline
exclude: [ssh_banner]
checks:
  password_min_length: {params: {min_length: 20}, severity: critical}
""",
    )
    policy = load_policy(str(path))
    sel = policy.selections["password_min_length"]
    assert sel.params["min_length"] == 20 and sel.severity is Severity.CRITICAL
    assert "count_credits" in sel.params  # the rest keeps its defaults
    assert "ssh_banner" not in policy.selections
    assert policy.sources[-1] == str(path)


def test_document_round_trip_is_stable():
    policy = load_policy("anssi")
    again = Policy.from_document(policy.document())
    assert again.selections == policy.selections and again.digest == policy.digest


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ("checks:\n  no_such_check: {}\n", 5, "unknown check 'no_such_check'"),
        ("checks:\n  password_min_length:\n    params: {minlen: 3}\n", 6, "unknown parameter"),
        (
            "checks:\n  password_min_length:\n    params:\n      min_length: many\n",
            7,
            "expected int",
        ),
        ("checks:\n  password_min_length:\n    params:\n      min_length: true\n", 7, "boolean"),
        ("checks:\n  ssh_banner: {severity: urgent}\n", 5, "severity must be one of"),
        ("checks:\n  ssh_banner: {sev: high}\n", 5, "unknown key 'sev'"),
        ("checks: [a, b]\n", 4, "must map check ids"),
        ("exclude: [ssh_banner]\n", 4, "not selected"),
        ("colour: blue\n", 4, "unknown key 'colour'"),
        ("checks:\n  ssh_banner: {}\n  ssh_banner: {}\n", 6, "duplicate key"),
        ("checks:\n  ssh_banner: {\n", 6, "invalid YAML"),
    ],
)
def test_errors_name_file_and_line(tmp_path, body, line, words):
    path = write(tmp_path, f"name: x\nversion: 1\n# comment\n{body}")
    with pytest.raises(PolicyError) as err:
        load_policy(str(path))
    assert err.value.line == line, str(err.value)
    assert words in str(err.value) and str(path) in str(err.value)


def test_extends_errors(tmp_path):
    write(tmp_path, "name: a\nversion: 1\nextends: b.yaml\n", "a.yaml")
    write(tmp_path, "name: b\nversion: 1\nextends: a.yaml\n", "b.yaml")
    with pytest.raises(PolicyError, match="cycle"):
        load_policy(str(tmp_path / "a.yaml"))
    path = write(tmp_path, "name: c\nversion: 1\n\nextends: nowhere\n", "c.yaml")
    with pytest.raises(PolicyError) as err:
        load_policy(str(path))
    assert err.value.line == 4 and "no such policy" in str(err.value)


def test_missing_name_and_unknown_policy(tmp_path):
    with pytest.raises(PolicyError, match="'name' is required"):
        load_policy(str(write(tmp_path, "version: 1\n")))
    with pytest.raises(PolicyError, match="built-in"):
        load_policy("not-a-policy")
