"""Password policy: the PAM stack, login.defs and pwquality parsers on captured files,
checks on recorded facts (hosts and helpers: :mod:`tests.unit.account_scenarios`)."""

from __future__ import annotations

import pytest

from hygie.facts.password import (
    PamConfig,
    module_options,
    parse_login_defs,
    parse_option_conf,
    parse_pam_d,
    parse_pam_file,
    parse_pwquality_files,
    password_quality,
    shared_stacks,
)
from hygie.factspec import all_facts
from hygie.model import Fact, Status
from hygie.registry import MissingFact
from tests.unit.account_scenarios import (
    DEBIAN_CIS,
    DEBIAN_DEFAULT,
    RHEL_DEFAULT,
    RHEL_HARDENED,
    absent,
    assert_complete_metadata,
    checks_of,
    fx,
    pam_files,
    scenario_statuses,
)

PASSWORD_CHECKS = checks_of("password")


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


# ============================================================== metadata and scenarios

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
}


def test_checks_registered_with_complete_metadata():
    assert len(PASSWORD_CHECKS) == 10 and sorted(EXPECTED) == PASSWORD_CHECKS
    assert_complete_metadata(PASSWORD_CHECKS)
    assert not all_facts()["login_defs"].privileged


@pytest.mark.parametrize("check_id", PASSWORD_CHECKS)
def test_scenarios_given_only_declared_facts(check_id):
    assert scenario_statuses(check_id) == EXPECTED[check_id]


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
