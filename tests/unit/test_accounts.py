"""Accounts and password policy: parsers on captured files, checks on recorded facts.

Debian 12 fixtures were captured on a real Debian 12 host (``*_debian12_default``) and
hardened from there (``*_cis``); RHEL 9 fixtures follow authselect's generated files.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hygie.facts.accounts import (
    SHADOW_AWK,
    UMASK_SOURCES,
    PamConfig,
    module_options,
    parse_login_defs,
    parse_option_conf,
    parse_pam_d,
    parse_pam_file,
    parse_passwd,
    parse_pwquality_files,
    parse_shadow_summary,
    parse_umask_sources,
    parse_umask_value,
    password_quality,
    shared_stacks,
)
from hygie.factspec import all_facts
from hygie.model import Fact, Status
from hygie.registry import MissingFact, all_checks

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

ACCOUNT_CHECKS = sorted(
    cid for cid, m in all_checks().items() if m.func.__module__ == "hygie.checks.accounts"
)


# ============================================================== parsers


def test_pam_file_syntax_edge_cases():
    text = (
        "#%PAM-1.0\n"
        "auth   [success=1 new_authtok_reqd=done  default=ignore]  pam_unix.so nullok # c\n"
        "-session optional pam_systemd.so\n"
        "password requisite pam_pwquality.so retry=3 \\\n"
        "    minlen=15   # trailing comment\n"
        "AUTH Required /usr/lib64/security/pam_faillock.so preauth\n"
        "auth required pam_exec.so [/bin/echo a b]\n"
        "@include common-password\n"
        "garbage\n"
    )
    rules = parse_pam_file("/etc/pam.d/x", text)
    unix, systemd, pwq, faillock, pexec, inc = rules
    assert unix.control == "[success=1 new_authtok_reqd=done default=ignore]"
    assert unix.args == ("nullok",) and unix.name == "pam_unix" and not unix.enforcing
    assert systemd.quiet_missing and systemd.type == "session"
    assert pwq.option("minlen") == "15" and pwq.option("retry") == "3" and pwq.lineno == 4
    assert faillock.type == "auth" and faillock.control == "required"
    assert faillock.name == "pam_faillock" and faillock.flag("preauth")
    assert pexec.args == ("/bin/echo a b",)
    assert inc.type == "@include" and inc.module == "common-password"


def test_bracket_control_enforcing():
    rules = parse_pam_file(
        "/x", "auth [default=die] pam_faillock.so authfail\nauth sufficient pam_unix.so\n"
    )
    assert rules[0].enforcing and not rules[1].enforcing


def test_debian_include_resolution():
    pam = parse_pam_d(fx("pam_d_debian12_default.fail.txt").decode())
    stack = pam.stack("passwd", "password")
    assert [r.name for r in stack.rules] == ["pam_pwquality", "pam_unix", "pam_deny", "pam_permit"]
    assert stack.rules[0].via == ("/etc/pam.d/passwd",)
    assert stack.rules[0].path == "/etc/pam.d/common-password"
    assert not stack.unresolved
    sshd_auth = pam.stack("sshd", "auth")
    assert sshd_auth.first("pam_unix").flag("nullok")


def test_rhel_substack_and_include_resolution():
    pam = parse_pam_d(fx("pam_d_rhel9_authselect_default.fail.txt").decode())
    auth = pam.stack("sshd", "auth")
    assert {r.path for r in auth.rules} == {"/etc/pam.d/password-auth"}  # postlogin: session
    password = pam.stack("passwd", "password")
    assert password.first("pam_unix").flag("sha512")
    assert [s.service for s in shared_stacks(pam, "auth")] == ["system-auth", "password-auth"]


def test_unresolved_and_looping_includes():
    pam = parse_pam_d(
        pam_files(
            a="@include b\nauth required pam_a.so\n",
            b="@include a\nauth include missing\n",
        ).decode()
    )
    stack = pam.stack("a", "auth")
    assert [r.name for r in stack.rules] == ["pam_a"]
    assert set(stack.unresolved) == {"/etc/pam.d/a", "/etc/pam.d/missing"}
    assert PamConfig().stack("nothing", "auth").unresolved == ("/etc/pam.d/nothing",)


def test_login_defs_last_wins_and_quotes():
    defs = parse_login_defs('PASS_MAX_DAYS 99999\n#PASS_MAX_DAYS 1\nPASS_MAX_DAYS\t"90"\nX\n')
    assert defs["PASS_MAX_DAYS"].value == "90"
    assert defs["PASS_MAX_DAYS"].source == "/etc/login.defs:3"
    assert defs["X"].value == ""
    real = parse_login_defs(fx("login_defs_debian12_default.fail.txt").decode())
    assert real["ENCRYPT_METHOD"].value == "SHA512" and real["UMASK"].value == "022"


def test_pwquality_dropins_then_main_file():
    text = (
        "==> /etc/security/pwquality.conf <==\nminlen = 8\n\n"
        "==> /etc/security/pwquality.conf.d/90-b.conf <==\nminlen=12\nminclass = 2\n\n"
        "==> /etc/security/pwquality.conf.d/10-a.conf <==\nminlen = 20\nminclass=4\n"
        "enforce_for_root\n"
    )
    merged = parse_pwquality_files(text)
    assert merged["minlen"].value == "8"  # pwquality.conf is read last
    assert merged["minlen"].source == "/etc/security/pwquality.conf:1"
    assert merged["minclass"].value == "2"  # 90-b after 10-a
    assert merged["enforce_for_root"].value == ""


def test_module_arguments_override_conf_file():
    rule = parse_pam_file("/etc/pam.d/p", "password requisite pam_pwquality.so minlen=10\n")[0]
    conf = parse_option_conf("minlen = 14\ndictcheck = 0\n", "/etc/security/pwquality.conf")
    opts = module_options(rule, conf, {"minlen": "8", "ucredit": "0"})
    assert opts["minlen"].value == "10" and "module argument" in opts["minlen"].source
    assert opts["dictcheck"].source == "/etc/security/pwquality.conf:2"
    assert opts["ucredit"].source == "pam_pwquality built-in default"


def test_password_quality_credits_and_classes():
    stack = parse_pam_d(
        pam_files(
            common_password="password requisite pam_cracklib.so minlen=14 dcredit=-1 ucredit=-1\n"
        ).decode()
    ).stack("common-password", "password")
    q = password_quality(stack, {})
    assert q.module == "pam_cracklib" and q.minlen == 14
    assert q.positive_credits == 2  # lcredit, ocredit default to 1 for cracklib
    assert q.shortest_accepted == 12
    assert q.required_classes == (2, ("digit", "upper-case"))
    assert q.dictcheck


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


# ============================================================== metadata


def test_account_checks_registered_with_complete_metadata():
    facts = all_facts()
    assert len(ACCOUNT_CHECKS) == 16
    for cid in ACCOUNT_CHECKS:
        meta = all_checks()[cid]
        assert meta.references and meta.rationale and meta.remediation, cid
        assert set(meta.families) == {"debian", "rhel"}, cid
        assert set(meta.facts) <= set(facts), cid
        for name, param in meta.params.items():
            assert param.validate(param.default) is None, (cid, name)
    assert facts["shadow_summary"].privileged
    assert not facts["login_defs"].privileged


@pytest.mark.parametrize("scenario", [DEBIAN_DEFAULT, DEBIAN_CIS, RHEL_DEFAULT, RHEL_HARDENED])
@pytest.mark.parametrize("check_id", ACCOUNT_CHECKS)
def test_checks_read_only_declared_facts(check_runner, check_id, scenario):
    declared = set(all_checks()[check_id].facts)
    verdict = check_runner(check_id, {k: v for k, v in scenario.items() if k in declared})
    assert verdict.status in (Status.PASS, Status.FAIL, Status.NOT_APPLICABLE)
    for ev in verdict.evidence:
        assert ev.expected and ev.actual and ev.fact in declared


# ============================================================== checks: scenarios

EXPECTED = {
    # check id: (Debian 12 default, Debian CIS, RHEL 9 default, RHEL 9 hardened)
    "password_min_length": ("fail", "pass", "fail", "pass"),
    "password_complexity": ("fail", "pass", "fail", "pass"),
    "password_history": ("fail", "pass", "fail", "pass"),
    "password_max_age": ("fail", "pass", "fail", "fail"),
    "password_min_age": ("fail", "pass", "fail", "fail"),
    "password_warn_age": ("pass", "pass", "pass", "pass"),
    "password_inactive_lock": ("fail", "pass", "fail", "fail"),
    "password_lockout": ("fail", "pass", "fail", "pass"),
    "password_nullok_absent": ("fail", "pass", "fail", "pass"),
    "password_hash_method": ("pass", "pass", "pass", "pass"),
    "accounts_empty_password": ("pass", "pass", "pass", "pass"),
    "accounts_weak_hash": ("pass", "pass", "pass", "pass"),
    "accounts_uid0_only_root": ("pass", "pass", "pass", "pass"),
    "accounts_password_aging": ("pass", "pass", "pass", "pass"),
    "accounts_root_access": ("pass", "pass", "pass", "pass"),
    "umask_default": ("fail", "pass", "fail", "fail"),
}


@pytest.mark.parametrize("check_id", sorted(EXPECTED))
def test_scenarios(check_runner, check_id):
    scenarios = (DEBIAN_DEFAULT, DEBIAN_CIS, RHEL_DEFAULT, RHEL_HARDENED)
    got = tuple(check_runner(check_id, s).status.value for s in scenarios)
    assert got == EXPECTED[check_id]


def test_expected_table_covers_every_check():
    assert sorted(EXPECTED) == ACCOUNT_CHECKS


# --------------------------------------------------------------- password_min_length


def test_min_length_default_debian_names_source_and_ignored_login_defs(check_runner):
    facts = {**DEBIAN_DEFAULT, "login_defs": b"PASS_MIN_LEN 20\n"}
    v = check_runner("password_min_length", facts)
    assert v.status == Status.FAIL
    assert "minlen=8 (pam_pwquality built-in default)" in v.message
    assert "PASS_MIN_LEN=20 (/etc/login.defs:1) ignored" in v.message


def test_min_length_dropin_wins_and_module_arg_overrides(check_runner):
    v = check_runner("password_min_length", DEBIAN_CIS)
    assert v.status == Status.PASS
    assert "pwquality.conf.d/50-cis.conf" in v.evidence[0].actual
    pam = fx("pam_d_debian12_cis.pass.txt").replace(
        b"pam_pwquality.so retry=3", b"pam_pwquality.so retry=3 minlen=9"
    )
    v = check_runner("password_min_length", {**DEBIAN_CIS, "pam_d": pam})
    assert v.status == Status.FAIL and "module argument" in v.message


def test_min_length_credits_and_nist_threshold(check_runner):
    pwq = b"==> /etc/security/pwquality.conf <==\nminlen = 15\ndcredit = 1\nocredit = 2\n"
    facts = {**DEBIAN_CIS, "pwquality_conf": pwq}
    assert check_runner("password_min_length", facts).status == Status.FAIL  # 12 accepted
    assert check_runner("password_min_length", facts, count_credits=False).status == Status.PASS
    assert check_runner("password_min_length", DEBIAN_CIS, min_length=15).status == Status.FAIL


def test_min_length_not_enforcing(check_runner):
    pwq = fx("pwquality_conf_cis_dropin.pass.txt") + b"enforcing = 0\n"
    v = check_runner("password_min_length", {**DEBIAN_CIS, "pwquality_conf": pwq})
    assert v.status == Status.FAIL and "not enforced" in v.message


def test_min_length_without_quality_module_falls_back_to_pam_unix(check_runner):
    pam = pam_files(common_password="password [success=1 default=ignore] pam_unix.so minlen=16\n")
    v = check_runner("password_min_length", {**DEBIAN_DEFAULT, "pam_d": pam})
    assert v.status == Status.PASS and "pam_unix minlen=16" in v.message


def test_min_length_rhel_checks_both_stacks(check_runner):
    text = fx("pam_d_rhel9_authselect_hardened.pass.txt").decode()
    head, sep, tail = text.partition("==> /etc/pam.d/system-auth <==")
    tail = tail.replace("pam_pwquality.so local_users_only", "pam_pwquality.so minlen=8", 1)
    pam = (head + sep + tail).encode()
    v = check_runner("password_min_length", {**RHEL_HARDENED, "pam_d": pam})
    assert v.status == Status.FAIL and "system-auth: pam_pwquality minlen=8" in v.message
    assert "password-auth" not in v.message
    assert [e.actual.split(":")[0] for e in v.evidence] == ["system-auth", "password-auth"]


def test_min_length_no_shared_stack_is_error(check_runner):
    v = check_runner("password_min_length", {**DEBIAN_DEFAULT, "pam_d": pam_files(other="")})
    assert v.status == Status.ERROR


def test_min_length_missing_fact_raises(check_runner):
    facts = {k: v for k, v in DEBIAN_DEFAULT.items() if k != "pam_d"}
    with pytest.raises(MissingFact):
        check_runner("password_min_length", facts)


# --------------------------------------------------------------- password_complexity


def test_complexity_nist_forbids_composition(check_runner):
    nist = {"require_complexity": False, "forbid_complexity": True}
    assert check_runner("password_complexity", DEBIAN_DEFAULT, **nist).status == Status.PASS
    v = check_runner("password_complexity", DEBIAN_CIS, **nist)
    assert v.status == Status.FAIL and "composition rules imposed" in v.message


def test_complexity_negative_credits_count_as_classes(check_runner):
    pwq = b"==> /etc/security/pwquality.conf <==\ndcredit=-1\nucredit=-1\nocredit=-1\n"
    v = check_runner("password_complexity", {**DEBIAN_DEFAULT, "pwquality_conf": pwq})
    assert v.status == Status.PASS and "digit, upper-case, other" in v.message


def test_complexity_dictcheck_off(check_runner):
    pwq = fx("pwquality_conf_cis_dropin.pass.txt") + b"dictcheck = 0\n"
    v = check_runner("password_complexity", {**DEBIAN_CIS, "pwquality_conf": pwq})
    assert v.status == Status.FAIL and "no dictionary check" in v.message
    ok = check_runner(
        "password_complexity", {**DEBIAN_CIS, "pwquality_conf": pwq}, require_dictcheck=False
    )
    assert ok.status == Status.PASS


def test_complexity_nothing_required_is_not_applicable(check_runner):
    v = check_runner(
        "password_complexity", DEBIAN_DEFAULT, require_complexity=False, require_dictcheck=False
    )
    assert v.status == Status.NOT_APPLICABLE


def test_complexity_no_quality_module(check_runner):
    pam = pam_files(common_password="password required pam_unix.so yescrypt\n")
    v = check_runner("password_complexity", {**DEBIAN_DEFAULT, "pam_d": pam})
    assert v.status == Status.FAIL and "no pam_pwquality" in v.message


# --------------------------------------------------------------- password_history


def test_history_pwhistory_conf_and_args(check_runner):
    v = check_runner("password_history", RHEL_HARDENED)
    assert v.status == Status.PASS and "/etc/security/pwhistory.conf:13" in v.message
    v = check_runner("password_history", {**RHEL_HARDENED, "pwhistory_conf": absent("x")})
    assert v.status == Status.FAIL and "remember=10 (pam_pwhistory built-in default)" in v.message
    assert check_runner("password_history", DEBIAN_CIS, remember=5).status == Status.PASS


def test_history_pam_unix_remember(check_runner):
    pam = pam_files(common_password="password required pam_unix.so remember=24 yescrypt\n")
    v = check_runner("password_history", {**DEBIAN_DEFAULT, "pam_d": pam})
    assert v.status == Status.PASS and "MD5 history" in v.message


def test_history_non_failing_control(check_runner):
    pam = pam_files(common_password="password optional pam_pwhistory.so remember=24\n")
    v = check_runner("password_history", {**DEBIAN_DEFAULT, "pam_d": pam})
    assert v.status == Status.FAIL and "cannot fail" in v.message


# --------------------------------------------------------------- aging defaults


def test_max_age_presets(check_runner):
    nist = {"require_expiry": False, "forbid_expiry": True}
    assert check_runner("password_max_age", DEBIAN_DEFAULT, **nist).status == Status.PASS
    v = check_runner("password_max_age", DEBIAN_CIS, **nist)
    assert v.status == Status.FAIL and "every 365 days" in v.message
    assert check_runner("password_max_age", DEBIAN_CIS, max_days=90).status == Status.FAIL
    relaxed = check_runner("password_max_age", DEBIAN_DEFAULT, require_expiry=False)
    assert relaxed.status == Status.PASS


def test_max_age_absent_login_defs_means_no_expiry(check_runner):
    v = check_runner("password_max_age", {"login_defs": absent("login_defs")})
    assert v.status == Status.FAIL and "not set" in v.message
    denied = Fact("login_defs", b"", b"cat: /etc/login.defs: Permission denied\n", exit_status=1)
    with pytest.raises(MissingFact):
        check_runner("password_max_age", {"login_defs": denied})


def test_min_and_warn_age_thresholds(check_runner):
    assert check_runner("password_min_age", DEBIAN_DEFAULT, min_days=0).status == Status.PASS
    v = check_runner("password_warn_age", {"login_defs": b"PASS_WARN_AGE 3\n"})
    assert v.status == Status.FAIL and "PASS_WARN_AGE=3" in v.evidence[0].actual
    v = check_runner("password_warn_age", {"login_defs": b"# nothing\n"})
    assert v.status == Status.FAIL and "default -1" in v.message


def test_inactive_lock(check_runner):
    v = check_runner("password_inactive_lock", DEBIAN_CIS)
    assert v.status == Status.PASS and "note" not in v.message
    v = check_runner("password_inactive_lock", DEBIAN_CIS, max_days=30)
    assert v.status == Status.FAIL
    v = check_runner("password_inactive_lock", {**DEBIAN_DEFAULT, "useradd_defaults": absent("u")})
    assert v.status == Status.FAIL and "never starts" in v.message
    v = check_runner("password_inactive_lock", {**DEBIAN_CIS, "useradd_defaults": b"INACTIVE=0\n"})
    assert v.status == Status.PASS


# --------------------------------------------------------------- password_lockout


def test_lockout_debian_cis_and_bp028(check_runner):
    v = check_runner("password_lockout", DEBIAN_CIS)
    assert v.status == Status.PASS and "deny=5 (/etc/security/faillock.conf:" in v.message
    v = check_runner("password_lockout", DEBIAN_CIS, max_deny=3)
    assert v.status == Status.FAIL and "deny=5 > 3" in v.message
    bp028 = {"max_deny": 3, "min_unlock_time": 900, "require_even_deny_root": True}
    assert check_runner("password_lockout", RHEL_HARDENED, **bp028).status == Status.PASS


def test_lockout_rhel_defaults_from_module(check_runner):
    v = check_runner("password_lockout", RHEL_DEFAULT)  # no faillock.conf: deny 3, unlock 600
    assert v.status == Status.FAIL
    assert "unlock_time=600 (pam_faillock built-in default)" in v.message
    assert "unlock_time=600 < 900" in v.message and "password-auth" in v.message


def test_lockout_unlock_time_rules(check_runner):
    conf = b"deny = 4\nunlock_time = 300\n"
    v = check_runner("password_lockout", {**DEBIAN_CIS, "faillock_conf": conf})
    assert v.status == Status.FAIL and "unlock_time=300 < 900" in v.message
    never = {**DEBIAN_CIS, "faillock_conf": b"deny = 4\nunlock_time = never\n"}
    assert check_runner("password_lockout", never).status == Status.PASS
    v = check_runner("password_lockout", never, allow_never_unlock=False)
    assert v.status == Status.FAIL


def test_lockout_module_argument_overrides_conf(check_runner):
    pam = fx("pam_d_debian12_cis.pass.txt").replace(
        b"pam_faillock.so authfail", b"pam_faillock.so authfail deny=10"
    )
    v = check_runner("password_lockout", {**DEBIAN_CIS, "pam_d": pam})
    assert v.status == Status.FAIL and "deny=10 > 5" in v.message and "module argument" in v.message


def test_lockout_incomplete_faillock_and_tally2(check_runner):
    only_preauth = pam_files(
        common_auth="auth requisite pam_faillock.so preauth deny=3\nauth required pam_unix.so\n"
    )
    v = check_runner("password_lockout", {**DEBIAN_CIS, "pam_d": only_preauth})
    assert v.status == Status.FAIL and "authfail" in v.message
    tally = pam_files(common_auth="auth required pam_tally2.so onerr=fail deny=5 unlock_time=900\n")
    assert check_runner("password_lockout", {**DEBIAN_CIS, "pam_d": tally}).status == Status.PASS
    tally_nodeny = pam_files(common_auth="auth required pam_tally2.so onerr=fail\n")
    v = check_runner("password_lockout", {**DEBIAN_CIS, "pam_d": tally_nodeny})
    assert v.status == Status.FAIL and "no lockout" in v.message


def test_lockout_other_conf_file_not_collected(check_runner):
    pam = fx("pam_d_debian12_cis.pass.txt").replace(
        b"pam_faillock.so authfail", b"pam_faillock.so authfail conf=/etc/custom.conf"
    )
    v = check_runner("password_lockout", {**DEBIAN_CIS, "pam_d": pam})
    assert v.status == Status.FAIL and "/etc/custom.conf, which was not collected" in v.message


# --------------------------------------------------------------- nullok / hash method


def test_nullok_lists_every_line(check_runner):
    v = check_runner("password_nullok_absent", RHEL_DEFAULT)
    assert v.status == Status.FAIL
    assert "/etc/pam.d/system-auth:" in v.message and "/etc/pam.d/password-auth:" in v.message
    assert v.message.count("nullok") == 4  # auth and password lines of both files


def test_hash_method(check_runner):
    v = check_runner("password_hash_method", DEBIAN_DEFAULT)
    assert v.status == Status.PASS and "pam_unix yescrypt" in v.message
    v = check_runner("password_hash_method", RHEL_DEFAULT, allowed=["yescrypt"])
    assert v.status == Status.FAIL and "ENCRYPT_METHOD=SHA512" in v.message
    pam = pam_files(common_password="password required pam_unix.so md5\n")
    v = check_runner("password_hash_method", {**DEBIAN_DEFAULT, "pam_d": pam})
    assert v.status == Status.FAIL and "pam_unix md5" in v.message


def test_hash_method_pam_unix_falls_back_to_encrypt_method(check_runner):
    pam = pam_files(common_password="password required pam_unix.so obscure\n")
    v = check_runner("password_hash_method", {"login_defs": b"ENCRYPT_METHOD MD5\n", "pam_d": pam})
    assert v.status == Status.FAIL and "uses ENCRYPT_METHOD -> md5" in v.message
    v = check_runner("password_hash_method", {"login_defs": b"", "pam_d": pam})
    assert v.status == Status.FAIL and "shadow default DES" in v.message


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
