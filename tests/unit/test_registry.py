"""Every check carries complete metadata; every fact it reads is declared; references use
known framework keys. This is what keeps 'a new check = one function' honest."""

from __future__ import annotations

import re

import pytest

from hygie.factspec import all_facts
from hygie.policy import builtin_policies, load_policy
from hygie.registry import ANY_FAMILY, FAMILIES, all_checks

FRAMEWORKS = {
    "hipaa", "gdpr", "nis2", "iso27001_2022", "nist_800_53r5", "nist_csf_2_0",
    "anssi_hygiene", "anssi_bp028", "cis_controls_v8", "cis_ubuntu_2204_v2_0_0",
}  # fmt: skip
CHECKS = all_checks()


def test_registry_is_discovered_and_large_enough():
    assert len(CHECKS) >= 40


@pytest.mark.parametrize("check_id", sorted(CHECKS))
def test_check_metadata_is_complete(check_id):
    meta = CHECKS[check_id]
    assert meta.id == meta.func.__name__
    assert len(meta.title) > 10 and len(meta.rationale) > 40 and len(meta.remediation) > 20
    assert meta.facts and set(meta.facts) <= set(all_facts())
    assert meta.families and set(meta.families) <= {*FAMILIES, ANY_FAMILY}
    assert meta.references and set(meta.references) <= FRAMEWORKS
    assert all(ids for ids in meta.references.values())
    for name, param in meta.params.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name) and param.description
        assert param.validate(param.default) is None, f"{check_id}.{name} default invalid"


def test_every_check_is_in_some_builtin_policy():
    selected = set()
    for name in builtin_policies():
        selected |= set(load_policy(name).selections)
    assert selected == set(CHECKS)


_QUOTED = re.compile(r"'[^']*'|\"(?:[^\"\\]|\\.)*\"")
_WRITE_REDIRECT = re.compile(r">>?\s*(?!&|/dev/null)[^\s;|&)]")
_WRITING_COMMANDS = re.compile(
    r"(^|[;&|(]\s*)(rm|mv|cp|tee|touch|chmod|chown|mkdir|apt-get install|dnf install)\b"
)


@pytest.mark.parametrize("name", sorted(all_facts()))
def test_fact_commands_only_read(name):
    """Scanning is read-only: no output redirection to files, no writing commands (the
    sshd -T fallback writes only inside its own private tmpfs)."""
    command = _QUOTED.sub("''", all_facts()[name].command)
    assert not _WRITE_REDIRECT.search(command), command
    assert not _WRITING_COMMANDS.search(command), command
