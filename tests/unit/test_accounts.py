"""Accounts: the passwd and shadow parsers on captured files (and the shadow awk program
and umask command run for real), checks on recorded facts (hosts and helpers:
:mod:`tests.unit.account_scenarios`)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from hygie.facts.accounts import (
    SHADOW_AWK,
    UMASK_SOURCES,
    parse_passwd,
    parse_shadow_summary,
    parse_umask_sources,
    parse_umask_value,
)
from hygie.factspec import all_facts
from hygie.model import Fact, Status
from hygie.registry import MissingFact
from tests.unit.account_scenarios import (
    DEBIAN_CIS,
    DEBIAN_DEFAULT,
    RHEL_DEFAULT,
    SSH_FIXTURES,
    assert_complete_metadata,
    checks_of,
    fx,
    pam_files,
    scenario_statuses,
)

ACCOUNT_CHECKS = checks_of("accounts")


# ============================================================== parsers


def test_passwd_parser_skips_comments_and_nis():
    entries = parse_passwd(fx("etc_passwd_uid0_backdoor.fail.txt").decode())
    assert [e.name for e in entries] == ["root", "daemon", "toor", "pacs", "guest"]
    assert entries[2].uid == 0 and entries[3].gecos == "PACS Operator,,,"


def test_shadow_summary_parser():
    entries = {
        e.name: e
        for e in parse_shadow_summary(fx("shadow_summary_mixed_schemes.fail.txt").decode())
    }
    assert entries["u_lockedsha"].scheme == "sha512" and entries["u_lockedsha"].locked
    assert not entries["u_lockedsha"].has_usable_password
    assert entries["u_weird"].lastchg is None and entries["u_weird"].warn == 7
    assert entries["u_gy"].expire == 6
    assert entries["u_sha512"].max == 90 and entries["u_sha512"].has_usable_password


def _shell_has_awk() -> bool:
    return shutil.which("awk") is not None and shutil.which("sh") is not None


@pytest.mark.skipif(not _shell_has_awk(), reason="needs sh and awk")
def test_shadow_awk_never_prints_hashes(tmp_path):
    hashes = {
        "y": "$y$j9T$abcdefghijklmnop$qWNlNwT4UpSECRETSECRETSECRETSECRETSECRETSEC",
        "s6": "$6$saltsalt$" + "A" * 86,
        "s5": "$5$saltsalt$" + "B" * 43,
        "m": "$1$saltsalt$CCCCCCCCCCCCCCCCCCCCCC",
        "b": "$2b$12$" + "D" * 53,
        "d": "abDEFGHIJKLMN",
        "lk": "!$6$saltsalt$" + "E" * 86,
        "e": "",
        "st": "*",
        "bang": "!",
        "odd": "$zz$leakme",
    }
    lines = [f"{u}:{h}:19000:1:90:7:30::" for u, h in hashes.items()]
    lines += ["bad:$6$x:$6$leak:zz:1:2:3:4:", "+nis::::::::", "# comment", ""]
    shadow = tmp_path / "shadow"
    shadow.write_text("\n".join(lines) + "\n")
    cmd = SHADOW_AWK.replace("/etc/shadow", str(shadow))
    out = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, check=True).stdout
    for h in hashes.values():
        if len(h) > 2:
            assert h not in out and h[-10:] not in out
    assert "leak" not in out and "$" not in out
    schemes = {e.name: (e.scheme, e.locked) for e in parse_shadow_summary(out)}
    assert schemes == {
        "y": ("yescrypt", False),
        "s6": ("sha512", False),
        "s5": ("sha256", False),
        "m": ("md5", False),
        "b": ("bcrypt", False),
        "d": ("des", False),
        "lk": ("sha512", True),
        "e": ("empty", False),
        "st": ("none", False),
        "bang": ("none", True),
        "odd": ("unknown", False),
        "bad": ("sha512", False),
    }
    bad = next(e for e in parse_shadow_summary(out) if e.name == "bad")
    assert bad.lastchg is None and bad.min is None and bad.max == 1


@pytest.mark.skipif(not _shell_has_awk(), reason="needs sh and awk")
def test_umask_sources_command(tmp_path):
    (tmp_path / "profile.d").mkdir()
    (tmp_path / "profile").write_text("# umask comment\nif x; then\n    umask 002\nfi\n")
    (tmp_path / "profile.d" / "a.sh").write_text("UMASK=027\numask 027\n")
    cmd = UMASK_SOURCES.command.replace("/etc/", f"{tmp_path}/")
    out = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, check=True).stdout
    settings = parse_umask_sources(out)
    assert [(s.value, s.source) for s in settings] == [
        (0o002, f"{tmp_path}/profile:3"),
        (0o027, f"{tmp_path}/profile.d/a.sh:2"),
    ]


def test_umask_values():
    assert parse_umask_value("027") == 0o027 and parse_umask_value("0077") == 0o077
    assert parse_umask_value("u=rwx,g=rx,o=") == 0o027
    assert parse_umask_value("u=rwx,g=,o=") == 0o077
    assert parse_umask_value("$UMASK") is None
    settings = parse_umask_sources(
        "/etc/default/login:3:UMASK=077\n/etc/profile:1:umask -S\n/etc/x:2:echo; umask 0022\n"
    )
    assert [(s.value, s.source) for s in settings] == [
        (0o077, "/etc/default/login:3"),
        (0o022, "/etc/x:2"),
    ]


# ============================================================== metadata and scenarios

EXPECTED = {
    # check id: (Debian 12 default, Debian CIS, RHEL 9 default, RHEL 9 hardened)
    "accounts_empty_password": ("pass", "pass", "pass", "pass"),
    "accounts_weak_hash": ("pass", "pass", "pass", "pass"),
    "accounts_uid0_only_root": ("pass", "pass", "pass", "pass"),
    "accounts_password_aging": ("pass", "pass", "pass", "pass"),
    "accounts_root_access": ("pass", "pass", "pass", "pass"),
    "umask_default": ("fail", "pass", "fail", "fail"),
}


def test_checks_registered_with_complete_metadata():
    assert len(ACCOUNT_CHECKS) == 6 and sorted(EXPECTED) == ACCOUNT_CHECKS
    assert_complete_metadata(ACCOUNT_CHECKS)
    assert all_facts()["shadow_summary"].privileged


@pytest.mark.parametrize("check_id", ACCOUNT_CHECKS)
def test_scenarios_given_only_declared_facts(check_id):
    assert scenario_statuses(check_id) == EXPECTED[check_id]


# --------------------------------------------------------------- accounts


def test_empty_password_in_shadow_and_passwd(check_runner):
    facts = {
        "shadow_summary": fx("shadow_summary_mixed_schemes.fail.txt"),
        "etc_passwd": fx("etc_passwd_uid0_backdoor.fail.txt"),
    }
    v = check_runner("accounts_empty_password", facts)
    assert v.status == Status.FAIL
    assert "u_empty (shadow)" in v.message and "guest (/etc/passwd line 6)" in v.message


def test_empty_password_needs_root(check_runner):
    denied = Fact("shadow_summary", b"", b"awk: cannot open /etc/shadow\n", exit_status=2)
    with pytest.raises(MissingFact):
        check_runner("accounts_empty_password", {**DEBIAN_DEFAULT, "shadow_summary": denied})


def test_weak_hash(check_runner):
    facts = {"shadow_summary": fx("shadow_summary_mixed_schemes.fail.txt")}
    v = check_runner("accounts_weak_hash", facts)
    assert v.status == Status.FAIL
    for user in ("u_sha256", "u_md5", "u_des", "u_bcrypt", "u_gy"):
        assert user in v.message
    assert "u_sha512" not in v.message and "u_empty" not in v.message
    v = check_runner(
        "accounts_weak_hash", {"shadow_summary": fx("shadow_summary_users_aging.fail.txt")}
    )
    assert v.status == Status.PASS  # carol's md5 hash is locked
    v = check_runner(
        "accounts_weak_hash",
        {"shadow_summary": fx("shadow_summary_users_aging.fail.txt")},
        include_locked=True,
    )
    assert v.status == Status.FAIL and "carol (md5, locked)" in v.message


def test_uid0(check_runner):
    facts = {"etc_passwd": fx("etc_passwd_uid0_backdoor.fail.txt")}
    v = check_runner("accounts_uid0_only_root", facts)
    assert v.status == Status.FAIL and v.evidence[0].actual == "root, toor"
    assert check_runner("accounts_uid0_only_root", facts, allowed=["root", "toor"]).status == (
        Status.PASS
    )


def test_password_aging_per_user(check_runner):
    facts = {"shadow_summary": fx("shadow_summary_users_aging.fail.txt")}
    v = check_runner("accounts_password_aging", facts)
    assert v.status == Status.FAIL
    assert "root (never expires, min 0)" in v.message
    assert "bob (never expires, min 0)" in v.message
    assert "dave (max 400, warn 3, inactive unset)" in v.message
    assert "alice" not in v.message and "carol" not in v.message and "daemon" not in v.message
    nist = check_runner(
        "accounts_password_aging",
        facts,
        require_expiry=False,
        forbid_expiry=True,
        min_days=0,
        exempt_users=["dave"],
    )
    assert nist.status == Status.FAIL and "alice (forced expiry every 365 days)" in nist.message
    assert "root" not in nist.message and "bob" not in nist.message


def test_password_aging_warn_days_zero_is_not_checked(check_runner):
    facts = {"shadow_summary": b"amy:yescrypt:0:19800:1:365::45:\n"}  # warn field unset
    v = check_runner("accounts_password_aging", facts)
    assert v.status == Status.FAIL and "amy (warn unset)" in v.message
    assert check_runner("accounts_password_aging", facts, warn_days=0).status == Status.PASS


def test_password_aging_caps_offender_list(check_runner):
    lines = "".join(f"u{i}:yescrypt:0:19800:0:99999:7::\n" for i in range(60)).encode()
    v = check_runner("accounts_password_aging", {"shadow_summary": lines})
    assert v.status == Status.FAIL and "(+10 more)" in v.message


# --------------------------------------------------------------- umask


def test_umask_debian_default(check_runner):
    v = check_runner("umask_default", DEBIAN_DEFAULT)
    assert v.status == Status.FAIL and "/etc/login.defs:151: UMASK 022" in v.message


def test_umask_rhel_conditional_blocks_are_all_reported(check_runner):
    v = check_runner("umask_default", RHEL_DEFAULT)
    assert v.status == Status.FAIL
    assert "/etc/profile:58: umask 002" in v.message and "/etc/bashrc:13: umask 022" in v.message


def test_umask_pass_stricter_and_symbolic(check_runner):
    v = check_runner("umask_default", DEBIAN_CIS)
    assert v.status == Status.PASS and "50-umask.sh:2" in v.message
    facts = {
        **DEBIAN_CIS,
        "login_defs": b"UMASK 077\n",
        "umask_sources": fx("umask_sources_symbolic.pass.txt"),
    }
    assert check_runner("umask_default", facts).status == Status.PASS
    assert check_runner("umask_default", facts, umask="077").status == Status.FAIL


def test_umask_pam_umask_argument_and_nothing_set(check_runner):
    pam = pam_files(common_session="session optional pam_umask.so umask=0022\n")
    v = check_runner("umask_default", {**DEBIAN_CIS, "pam_d": pam})
    assert v.status == Status.FAIL and "pam_umask.so umask=0022" in v.message
    nothing = {"login_defs": b"", "pam_d": pam_files(other=""), "umask_sources": b""}
    v = check_runner("umask_default", nothing)
    assert v.status == Status.FAIL and "no umask 027" in v.message
    assert check_runner("umask_default", nothing, umask="abc").status == Status.ERROR


# --------------------------------------------------------------- root access


def sshd_t(name: str, **lines: str) -> bytes:
    """An ``sshd -T`` fixture with ``keyword=value`` lines replaced."""
    kept = [
        ln for ln in (SSH_FIXTURES / name).read_text().splitlines() if ln.split(" ")[0] not in lines
    ]
    return "\n".join([*kept, *(f"{k} {v}" for k, v in lines.items())]).encode() + b"\n"


ROOT_HASH = fx("shadow_summary_users_aging.fail.txt")  # root:yescrypt, not locked
ROOT_NONE = fx("shadow_summary_debian12_system_only.pass.txt")  # root:none (Debian "*")
WEAK_SSHD = sshd_t("sshd_t_weak.fail.txt")  # permitrootlogin yes, password yes


def root_facts(shadow: bytes, sshd: bytes | Fact = WEAK_SSHD) -> dict[str, bytes | Fact]:
    return {"shadow_summary": shadow, "sshd_effective": sshd}


def with_root(line: str) -> bytes:
    return ROOT_HASH.replace(b"root:yescrypt:0:", line.encode())


def test_root_password_accepted_over_ssh_fails(check_runner):
    v = check_runner("accounts_root_access", root_facts(ROOT_HASH))
    assert v.status == Status.FAIL
    assert "usable yescrypt password" in v.message and "permitrootlogin yes" in v.message
    assert {e.fact for e in v.evidence} == {"shadow_summary", "sshd_effective"}


@pytest.mark.parametrize(
    ("shadow", "why"),
    [
        (ROOT_NONE, "no password hash"),
        (with_root("root:yescrypt:1:"), "locked"),  # passwd -l root: "!$y$..."
        (with_root("root:none:1:"), "locked"),  # "!" or "!*"
    ],
)
def test_root_without_usable_password_passes(check_runner, shadow, why):
    v = check_runner("accounts_root_access", root_facts(shadow))
    assert v.status == Status.PASS and why in v.message


@pytest.mark.parametrize(
    ("lines", "status"),
    [
        ({"permitrootlogin": "prohibit-password"}, Status.PASS),
        ({"permitrootlogin": "without-password"}, Status.PASS),
        ({"permitrootlogin": "forced-commands-only"}, Status.PASS),
        ({"permitrootlogin": "no"}, Status.PASS),
        ({"passwordauthentication": "no", "kbdinteractiveauthentication": "no"}, Status.PASS),
        # keyboard-interactive asks for the same password through PAM
        ({"passwordauthentication": "no", "usepam": "yes"}, Status.FAIL),
        ({"authenticationmethods": "publickey,password"}, Status.PASS),
        ({"authenticationmethods": "publickey password"}, Status.FAIL),
    ],
)
def test_root_password_and_sshd_settings(check_runner, lines, status):
    sshd = sshd_t("sshd_t_weak.fail.txt", **lines)
    v = check_runner("accounts_root_access", root_facts(ROOT_HASH, sshd))
    assert v.status == status, v.message


def test_empty_root_password_fails_whatever_sshd_says(check_runner):
    hardened = sshd_t("sshd_t_hardened.pass.txt")
    v = check_runner("accounts_root_access", root_facts(with_root("root:empty:0:"), hardened))
    assert v.status == Status.FAIL and "empty password" in v.message


def test_unrecognised_root_hash_is_treated_as_usable(check_runner):
    v = check_runner("accounts_root_access", root_facts(with_root("root:unknown:0:")))
    assert v.status == Status.FAIL and "usable unknown password" in v.message


def test_root_access_without_sshd_or_root_entry(check_runner):
    absent = Fact("sshd_effective", b"", b"sh: 1: sshd: not found\n", exit_status=127)
    v = check_runner("accounts_root_access", root_facts(ROOT_HASH, absent))
    assert v.status == Status.NOT_APPLICABLE
    no_root = b"".join(ln + b"\n" for ln in ROOT_HASH.splitlines() if not ln.startswith(b"root:"))
    v = check_runner("accounts_root_access", root_facts(no_root))
    assert v.status == Status.ERROR and "no root entry" in v.message
    # A locked root needs no sshd verdict: a broken sshd -T does not block the pass.
    broken = Fact("sshd_effective", b"", b"Missing privilege separation directory\n", 255)
    assert check_runner("accounts_root_access", root_facts(ROOT_NONE, broken)).status == (
        Status.PASS
    )


def test_root_access_when_sshd_rejects_its_configuration(check_runner):
    stderr = (SSH_FIXTURES / "sshd_t_rejected_stderr.error.txt").read_bytes()
    rejected = Fact("sshd_effective", b"", stderr, exit_status=255)
    with pytest.raises(MissingFact, match=r"sshd rejects its configuration: .*PermitRootLogn"):
        check_runner("accounts_root_access", root_facts(ROOT_HASH, rejected))
