"""Recorded hosts shared by the account and password tests (tests/fixtures/accounts/).

Debian 12 fixtures were captured on a real Debian 12 host (``*_debian12_default``) and
hardened from there (``*_cis``); RHEL 9 fixtures follow authselect's generated files. Both
test modules judge their checks on the same four hosts, so the hosts are defined once.
"""

from __future__ import annotations

from pathlib import Path

from hygie.factspec import all_facts
from hygie.model import Fact
from hygie.registry import all_checks
from tests.unit.conftest import run_check

FIXTURES = Path(__file__).parent.parent / "fixtures" / "accounts"
SSH_FIXTURES = FIXTURES.parent / "ssh"


def fx(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def absent(name: str, path: str = "/etc/x") -> Fact:
    """What ``cat -- path`` records when the file does not exist."""
    return Fact(name, b"", f"cat: {path}: No such file or directory\n".encode(), exit_status=1)


def pam_files(**files: str) -> bytes:
    """A ``pam_d`` fact from ``name=content`` pairs (names with ``_`` for ``-``)."""
    return "".join(
        f"==> /etc/pam.d/{name.replace('_', '-')} <==\n{body}\n" for name, body in files.items()
    ).encode()


DEBIAN_DEFAULT: dict[str, bytes | Fact] = {
    "login_defs": fx("login_defs_debian12_default.fail.txt"),
    "pam_d": fx("pam_d_debian12_default.fail.txt"),
    "pwquality_conf": fx("pwquality_conf_debian12_default.txt"),
    "faillock_conf": fx("faillock_conf_debian12_default.txt"),
    "pwhistory_conf": absent("pwhistory_conf"),
    "etc_passwd": fx("etc_passwd_debian12.pass.txt"),
    "shadow_summary": fx("shadow_summary_debian12_system_only.pass.txt"),
    "useradd_defaults": fx("useradd_defaults_debian12_default.fail.txt"),
    "umask_sources": fx("umask_sources_debian12_default.fail.txt"),
}
DEBIAN_CIS: dict[str, bytes | Fact] = {
    **DEBIAN_DEFAULT,
    "login_defs": fx("login_defs_debian12_cis.pass.txt"),
    "pam_d": fx("pam_d_debian12_cis.pass.txt"),
    "pwquality_conf": fx("pwquality_conf_cis_dropin.pass.txt"),
    "faillock_conf": fx("faillock_conf_cis.pass.txt"),
    "useradd_defaults": fx("useradd_defaults_cis.pass.txt"),
    "umask_sources": fx("umask_sources_cis_profile_d.pass.txt"),
}
RHEL_DEFAULT: dict[str, bytes | Fact] = {
    **DEBIAN_DEFAULT,
    "login_defs": fx("login_defs_rhel9_default.fail.txt"),
    "pam_d": fx("pam_d_rhel9_authselect_default.fail.txt"),
    "pwquality_conf": b"",  # no file at all: libpwquality defaults
    "faillock_conf": absent("faillock_conf"),
    "umask_sources": fx("umask_sources_rhel9_default.fail.txt"),
}
RHEL_HARDENED: dict[str, bytes | Fact] = {
    **RHEL_DEFAULT,
    "pam_d": fx("pam_d_rhel9_authselect_hardened.pass.txt"),
    "pwquality_conf": fx("pwquality_conf_cis_dropin.pass.txt"),
    "faillock_conf": fx("faillock_conf_rhel9_bp028.pass.txt"),
    "pwhistory_conf": fx("pwhistory_conf_rhel9.pass.txt"),
}
#: In the column order of each module's table of expected verdicts.
SCENARIOS = (DEBIAN_DEFAULT, DEBIAN_CIS, RHEL_DEFAULT, RHEL_HARDENED)


def checks_of(module: str) -> list[str]:
    """The ids of the checks declared in ``hygie.checks.<module>``."""
    return sorted(
        cid for cid, m in all_checks().items() if m.func.__module__ == f"hygie.checks.{module}"
    )


def assert_complete_metadata(check_ids: list[str]) -> None:
    facts = all_facts()
    for cid in check_ids:
        meta = all_checks()[cid]
        assert meta.references and meta.rationale and meta.remediation, cid
        assert set(meta.families) == {"debian", "rhel"}, cid
        assert set(meta.facts) <= set(facts), cid
        for name, param in meta.params.items():
            assert param.validate(param.default) is None, (cid, name)


def scenario_statuses(check_id: str) -> tuple[str, ...]:
    """The check's verdict on each of the four hosts (in :data:`SCENARIOS` order), given
    only the facts it declares: reading any other raises MissingFact, and every piece of
    evidence must name a declared fact."""
    declared = set(all_checks()[check_id].facts)
    statuses = []
    for scenario in SCENARIOS:
        verdict = run_check(check_id, {k: v for k, v in scenario.items() if k in declared})
        for ev in verdict.evidence:
            assert ev.expected and ev.actual and ev.fact in declared
        statuses.append(verdict.status.value)
    return tuple(statuses)
