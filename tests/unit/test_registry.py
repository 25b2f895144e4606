"""Every check carries complete metadata; every fact it reads is declared; references use
known framework keys. This is what keeps 'a new check = one function' honest."""

from __future__ import annotations

import re
import sys
import types

import pytest

from hygie import registry
from hygie.checkdata import CheckData, CheckText
from hygie.factspec import all_facts
from hygie.frameworks import load_catalogs
from hygie.model import Severity
from hygie.policy import builtin_policies, load_policy
from hygie.registry import ANY_FAMILY, FAMILIES, all_checks, id_prefixes

FRAMEWORKS = set(load_catalogs())  # the catalogs shipped in policies/frameworks
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


# --------------------------------------------------------------------------- id prefixes


@pytest.fixture
def fake_domain(monkeypatch) -> types.ModuleType:
    """An empty check module ``hygie.checks.fakedom``, alone in a fresh registry, whose
    checks get texts without a data file: the rule is tested apart from the real modules."""
    module = types.ModuleType("hygie.checks.fakedom")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(registry, "_DECLARED", {})
    monkeypatch.setattr(registry, "_REGISTRY", {})
    text = CheckText("a fake check", "rationale", "remediation")
    data = CheckData(Severity.LOW, {}, {"en": text})
    monkeypatch.setattr(registry, "data_for", lambda domain, ids: dict.fromkeys(ids, data))
    return module


def declare(module: types.ModuleType, *check_ids: str) -> None:
    """Register checks as if ``module`` declared them with ``@check``."""
    for check_id in check_ids:

        def func(facts, params):
            raise AssertionError("never run")

        func.__name__ = func.__qualname__ = check_id
        func.__module__ = module.__name__
        registry.check(facts=("os_release",))(func)


def test_a_check_id_outside_its_module_prefixes_is_refused_naming_both(fake_domain):
    declare(fake_domain, "fakedom_fine", "net_misplaced")
    with pytest.raises(ValueError, match=r"'net_misplaced' of module hygie\.checks\.fakedom"):
        all_checks()


def test_the_default_prefix_is_the_domain_name(fake_domain):
    assert id_prefixes(fake_domain) == ("fakedom_",)
    assert id_prefixes(types.ModuleType("hygie.checks.fakedom.part")) == ("fakedom_",)
    declare(fake_domain, "fakedom_one", "fakedom_two")
    assert set(all_checks()) == {"fakedom_one", "fakedom_two"}


def test_declared_prefixes_replace_the_default(fake_domain):
    fake_domain.ID_PREFIXES = ("fk_", "fake_")
    declare(fake_domain, "fk_one", "fake_two")
    assert set(all_checks()) == {"fk_one", "fake_two"}
    declare(fake_domain, "fakedom_three")
    with pytest.raises(ValueError, match=r"'fakedom_three'.* must start with fk_ or fake_"):
        all_checks()


@pytest.mark.parametrize("prefixes", ["fk_", (), ("fk",), ("Fk_",), ["fk_"]])
def test_malformed_prefixes_are_refused(fake_domain, prefixes):
    fake_domain.ID_PREFIXES = prefixes
    with pytest.raises(ValueError, match=r"hygie\.checks\.fakedom\.ID_PREFIXES must be"):
        id_prefixes(fake_domain)
