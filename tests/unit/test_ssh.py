"""SSH server checks, judged on ``sshd -T`` output captured on Debian 12 (OpenSSH 9.2).

Fixtures: the stock Debian configuration, a hardened one and a deliberately weak one
(both produced with ``sshd -T -f <file>``), host key fingerprints and ``stat`` lines.
The ``sshd_test_*``, ``sshd_t_conflicts``, ``sshd_t_rejected_stderr`` and ``banner_file_*``
fixtures are the output of hygie's own fact commands run on Debian 12 (OpenSSH 9.2), in a
private mount namespace whose /etc/ssh held the stock sshd_config plus one drop-in:
``PermitRootLogn no`` / ``MaxAuthTries four`` (rejected), ``PermitRootLogin yes``,
``ChallengeResponseAuthentication yes``, ``X11Forwarding no``... over a main file with
``PermitRootLogin prohibit-password`` and ``UsePrivilegeSeparation sandbox`` (conflicts),
or a ``Banner`` naming /etc/issue.net, a missing file, an empty file or a directory.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hygie.evaluate import evaluate_host
from hygie.facts.ssh import (
    config_errors,
    parse_banner_file,
    parse_file_modes,
    parse_host_keys,
    parse_sshd_t,
    parse_sshd_test,
)
from hygie.model import Fact, Status
from hygie.policy import load_policy
from hygie.registry import MissingFact, all_checks

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ssh"
DEFAULT = (FIXTURES / "sshd_t_debian12_default.fail.txt").read_bytes()
HARDENED = (FIXTURES / "sshd_t_hardened.pass.txt").read_bytes()
WEAK = (FIXTURES / "sshd_t_weak.fail.txt").read_bytes()
KEYS = (FIXTURES / "host_keys_debian12.pass.txt").read_bytes()
MODES = (FIXTURES / "file_modes_debian12.pass.txt").read_bytes()
TRACE = (FIXTURES / "sshd_test_debian12_default.pass.txt").read_bytes()
CONFLICTS_TRACE = (FIXTURES / "sshd_test_conflicts.pass.txt").read_bytes()
CONFLICTS = (FIXTURES / "sshd_t_conflicts.fail.txt").read_bytes()
REJECTED_TRACE = Fact(
    "sshd_config_test", (FIXTURES / "sshd_test_rejected.fail.txt").read_bytes(), exit_status=255
)
REJECTED = Fact(
    "sshd_effective",
    b"",
    (FIXTURES / "sshd_t_rejected_stderr.error.txt").read_bytes(),
    exit_status=255,
)
BANNER = (FIXTURES / "banner_file_issue_net.pass.txt").read_bytes()

SSH_CHECKS = sorted(c for c in all_checks() if c.startswith("ssh_"))
SSHD_T_CHECKS = sorted(set(SSH_CHECKS) - {"ssh_config_permissions", "ssh_config_valid"})


def facts_for(
    sshd: bytes | Fact,
    keys: bytes = KEYS,
    modes: bytes = MODES,
    test: bytes | Fact = TRACE,
    banner: bytes | Fact = BANNER,
) -> dict:
    return {
        "sshd_effective": sshd,
        "ssh_host_keys": keys,
        "sshd_file_modes": modes,
        "sshd_config_test": test,
        "sshd_banner_file": banner,
    }


def with_line(base: bytes, keyword: str, value: str) -> bytes:
    """``base`` with every ``keyword`` line replaced by one ``keyword value`` line."""
    lines = [ln for ln in base.decode().splitlines() if ln.split(" ")[0] != keyword]
    return ("\n".join([*lines, f"{keyword} {value}"]) + "\n").encode()


# -- parser ----------------------------------------------------------------------------


def test_parser_lowercases_splits_and_keeps_repeats():
    cfg = parse_sshd_t("Port 22\nHostKey /a\nhostkey /b\n# comment\n\nCiphers a,b,,c\n")
    assert cfg["port"] == ("22",)
    assert cfg["hostkey"] == ("/a", "/b")
    assert cfg["ciphers"] == ("a", "b", "c")
    assert cfg.value("ciphers") == "a,b,,c"
    assert cfg.value("missing", "x") == "x"
    assert cfg["HostKey"] == ("/a", "/b")  # lookups are case-insensitive
    assert list(cfg) == ["port", "hostkey", "ciphers"]
    with pytest.raises(TypeError):
        cfg.lines["port"] = ("23",)  # type: ignore[index]


def test_parser_on_real_output():
    cfg = parse_sshd_t(HARDENED.decode())
    assert cfg["allowusers"] == ("alice", "bob@10.0.0.0/8")
    assert cfg.value("authorizedkeysfile") == ".ssh/authorized_keys .ssh/authorized_keys2"
    assert len(cfg["kexalgorithms"]) == 4
    assert cfg.flag("usepam") and not cfg.flag("x11forwarding")


def test_host_key_and_mode_parsers():
    keys = parse_host_keys(KEYS.decode())
    assert [(k.type, k.bits) for k in keys] == [("ECDSA", 256), ("ED25519", 256), ("RSA", 3072)]
    assert keys[0].private_path == "/etc/ssh/ssh_host_ecdsa_key"
    modes = parse_file_modes(MODES.decode() + "garbage line\n")
    assert len(modes) == 5 and modes[1].is_dir and modes[0].mode == 0o644


# -- whole-fixture expectations ----------------------------------------------------------


@pytest.mark.parametrize("check_id", SSH_CHECKS)
def test_sshd_not_installed_is_not_applicable(check_runner, check_id):
    absent = Fact("sshd_effective", b"", b"sh: 1: sshd: not found\n", exit_status=127)
    verdict = check_runner(
        check_id, facts_for(absent, keys=b"", modes=b"", test=absent, banner=absent)
    )
    assert verdict.status is Status.NOT_APPLICABLE


@pytest.mark.parametrize("check_id", sorted(set(SSH_CHECKS) - {"ssh_config_permissions"}))
def test_sshd_t_failure_is_an_error_not_a_verdict(check_runner, check_id):
    message = b"Missing privilege separation directory: /run/sshd\n"
    broken = Fact("sshd_effective", b"", message, 255)
    trace = Fact("sshd_config_test", message, b"", 255)  # the trace has stderr in stdout
    with pytest.raises(MissingFact, match="privilege separation"):
        check_runner(check_id, facts_for(broken, test=trace))


# -- sshd rejects its configuration ------------------------------------------------------


def test_rejection_messages_are_recognised():
    stderr = REJECTED.stderr_text
    assert config_errors(stderr) == (
        "/etc/ssh/sshd_config.d/50-local.conf: line 1: Bad configuration option: PermitRootLogn",
        "/etc/ssh/sshd_config.d/50-local.conf line 2: MaxAuthTries integer value invalid.",
    )
    trace = parse_sshd_test(REJECTED_TRACE.text)
    assert trace.errors == config_errors(stderr)
    assert config_errors("Missing privilege separation directory: /run/sshd\n") == ()
    notice = "/etc/ssh/sshd_config line 102: Deprecated option UsePrivilegeSeparation"
    assert config_errors(notice) == ()


def test_config_valid_fails_quoting_sshd(check_runner):
    verdict = check_runner("ssh_config_valid", facts_for(REJECTED, test=REJECTED_TRACE))
    assert verdict.status is Status.FAIL
    assert verdict.message.startswith("sshd rejects its configuration: ")
    assert "50-local.conf: line 1: Bad configuration option: PermitRootLogn" in verdict.message
    assert "50-local.conf line 2: MaxAuthTries integer value invalid." in verdict.message
    assert verdict.evidence[0].fact == "sshd_config_test"


@pytest.mark.parametrize("check_id", SSHD_T_CHECKS)
def test_rejected_configuration_makes_sshd_t_checks_error_with_sshd_message(check_runner, check_id):
    with pytest.raises(MissingFact, match=r"sshd rejects its configuration: .*PermitRootLogn"):
        check_runner(check_id, facts_for(REJECTED, test=REJECTED_TRACE))


def test_rejected_configuration_as_the_engine_reports_it():
    """What an admin reads: every sshd -T check says why, the validity check fails."""
    facts = {
        k: v if isinstance(v, Fact) else Fact(k, v)
        for k, v in facts_for(REJECTED, test=REJECTED_TRACE).items()
    }
    facts["os_release"] = Fact("os_release", b'ID=debian\nVERSION_ID="12"\n')
    results = {
        r.check_id: r
        for r in evaluate_host("h", facts, load_policy("health-baseline"))
        if r.check_id.startswith(("ssh_", "accounts_root"))
    }
    assert results["ssh_config_valid"].status is Status.FAIL
    for check_id in SSHD_T_CHECKS:
        result = results[check_id]
        assert result.status is Status.ERROR, check_id
        assert "sshd rejects its configuration: /etc/ssh/sshd_config.d/50-local.conf" in (
            result.message
        )
        assert "command exited" not in result.message


# -- sshd -t trace: validity and keywords set twice --------------------------------------


def test_trace_parser_on_real_output():
    trace = parse_sshd_test(CONFLICTS_TRACE.decode())
    first = trace.settings[0]
    assert (first.keyword, first.value, first.where) == (
        "PermitRootLogin",
        "yes",
        "/etc/ssh/sshd_config.d/50-local.conf:1",
    )
    assert len(trace.settings) == 14 and not trace.errors
    assert trace.warnings == (
        "/etc/ssh/sshd_config line 102: Deprecated option UsePrivilegeSeparation",
    )
    conflicts = trace.conflicts()
    # ChallengeResponseAuthentication is the old name of KbdInteractiveAuthentication;
    # AcceptEnv and Subsystem accumulate and are never conflicts.
    assert sorted(conflicts) == ["kbdinteractiveauthentication", "permitrootlogin", "x11forwarding"]
    assert [ln.where for ln in conflicts["permitrootlogin"]] == [
        "/etc/ssh/sshd_config.d/50-local.conf:1",
        "/etc/ssh/sshd_config:33",
    ]
    repeated = parse_sshd_test(
        "debug3: /a:1 setting Port 22\ndebug3: /a:2 setting Port 2222\n"
        "debug3: /a:3 setting UsePAM yes\ndebug3: /b:1 setting usepam Yes\n"
    )
    assert repeated.conflicts() == {}  # Port accumulates; same value in another case


def test_config_valid_passes_and_shows_conflicting_lines(check_runner):
    verdict = check_runner("ssh_config_valid", facts_for(DEFAULT))
    assert verdict.status is Status.PASS
    assert verdict.message == "sshd accepts its configuration"
    verdict = check_runner("ssh_config_valid", facts_for(CONFLICTS, test=CONFLICTS_TRACE))
    assert verdict.status is Status.PASS
    assert "Deprecated option UsePrivilegeSeparation" in verdict.message
    assert "permitrootlogin" in verdict.message
    actual = {e.actual for e in verdict.evidence}
    assert (
        "/etc/ssh/sshd_config.d/50-local.conf:1 PermitRootLogin yes; "
        "/etc/ssh/sshd_config:33 PermitRootLogin prohibit-password"
    ) in actual
    assert all(e.fact == "sshd_config_test" for e in verdict.evidence)


def test_keyword_checks_trust_sshd_t_and_show_conflicting_lines(check_runner):
    facts = facts_for(CONFLICTS, test=CONFLICTS_TRACE)
    root = check_runner("ssh_root_login", facts)
    assert root.status is Status.FAIL and "permitrootlogin is yes" in root.message
    assert "permitrootlogin is set 2 times with different values" in root.message
    assert root.evidence[-1].fact == "sshd_config_test"
    assert "/etc/ssh/sshd_config:33 PermitRootLogin prohibit-password" in root.evidence[-1].actual
    x11 = check_runner("ssh_x11_forwarding", facts)
    assert x11.status is Status.PASS and "x11forwarding is set 2 times" in x11.message
    kbd = check_runner("ssh_password_authentication", facts)
    assert "kbdinteractiveauthentication is set 2 times" in kbd.message
    assert "ChallengeResponseAuthentication yes" in kbd.evidence[-1].actual
    # A scan stored before the trace existed is still judged, without the note.
    old = {k: v for k, v in facts.items() if k != "sshd_config_test"}
    verdict = check_runner("ssh_root_login", old)
    assert verdict.status is Status.FAIL and "set 2 times" not in verdict.message


def test_config_valid_other_sshd_failures_are_errors(check_runner):
    nokeys = Fact(
        "sshd_config_test", b"debug1: x\nsshd: no hostkeys available -- exiting.\n", b"", 1
    )
    with pytest.raises(MissingFact, match="sshd -t exited 1: sshd: no hostkeys available"):
        check_runner("ssh_config_valid", facts_for(DEFAULT, test=nokeys))
    cut = Fact("sshd_config_test", TRACE, truncated=True)
    with pytest.raises(MissingFact, match="truncated"):
        check_runner("ssh_config_valid", facts_for(DEFAULT, test=cut))


# -- banner file -----------------------------------------------------------------------


def test_banner_file_parser():
    ok = parse_banner_file(BANNER.decode())
    assert (ok.path, ok.state, ok.size, ok.has_text) == ("/etc/issue.net", "file", 20, True)
    none = parse_banner_file((FIXTURES / "banner_file_none.fail.txt").read_text())
    assert (none.path, none.state) == ("none", "none")


@pytest.mark.parametrize(
    ("fixture", "path", "status", "words"),
    [
        ("banner_file_issue_net.pass.txt", "/etc/issue.net", Status.PASS, "20 bytes"),
        ("banner_file_missing.fail.txt", "/etc/issue.hygie-missing", Status.FAIL, "not exist"),
        ("banner_file_empty.fail.txt", "/etc/ssh/banner-empty", Status.FAIL, "is empty"),
        ("banner_file_directory.fail.txt", "/etc/ssh/sshd_config.d", Status.FAIL, "regular"),
    ],
)
def test_banner_file_must_exist_and_say_something(check_runner, fixture, path, status, words):
    sshd = with_line(HARDENED, "banner", path)
    verdict = check_runner("ssh_banner", facts_for(sshd, banner=(FIXTURES / fixture).read_bytes()))
    assert verdict.status is status and words in verdict.message, verdict.message
    assert verdict.evidence[0].fact == "sshd_banner_file"


@pytest.mark.parametrize(
    ("banner", "status", "words"),
    [
        (b"banner /etc/issue.net\nstate file\nsize 3\ntext no\n", Status.FAIL, "blank"),
        (b"banner /etc/issue.net\n", Status.ERROR, "incomplete"),
        (b"banner /etc/motd\nstate file\nsize 3\ntext yes\n", Status.ERROR, "changed"),
    ],
)
def test_banner_file_edge_cases(check_runner, banner, status, words):
    verdict = check_runner("ssh_banner", facts_for(HARDENED, banner=banner))
    assert verdict.status is status and words in verdict.message, verdict.message


def test_banner_none_fails_without_reading_the_file(check_runner):
    failed = Fact("sshd_banner_file", b"", b"boom\n", 1)
    verdict = check_runner("ssh_banner", facts_for(DEFAULT, banner=failed))
    assert verdict.status is Status.FAIL and "banner is none" in verdict.message


# -- individual checks -----------------------------------------------------------------


def test_weak_fixture_failures(check_runner):
    failing = {c for c in SSH_CHECKS if check_runner(c, facts_for(WEAK)).status is Status.FAIL}
    assert {
        "ssh_root_login",
        "ssh_permit_empty_passwords",
        "ssh_login_grace_time",
        "ssh_log_level",
        "ssh_weak_ciphers",
        "ssh_weak_kex",
        "ssh_weak_macs",
        "ssh_tcp_forwarding",
    } <= failing
    v = check_runner("ssh_weak_ciphers", facts_for(WEAK))
    assert "aes128-cbc" in v.message and "3des-cbc" in v.message and "aes256-ctr" not in v.message


@pytest.mark.parametrize(
    ("value", "allowed", "status"),
    [
        ("no", "no", Status.PASS),
        ("without-password", "no", Status.FAIL),
        ("without-password", "prohibit-password", Status.PASS),
        ("prohibit-password", "prohibit-password", Status.PASS),
        ("forced-commands-only", "prohibit-password", Status.PASS),
        ("yes", "prohibit-password", Status.FAIL),
    ],
)
def test_root_login_levels(check_runner, value, allowed, status):
    sshd = with_line(HARDENED, "permitrootlogin", value)
    assert check_runner("ssh_root_login", facts_for(sshd), allowed=allowed).status is status


def test_password_auth_param_and_mfa(check_runner):
    sshd = with_line(HARDENED, "passwordauthentication", "yes")
    assert check_runner("ssh_password_authentication", facts_for(sshd)).status is Status.FAIL
    assert (
        check_runner("ssh_password_authentication", facts_for(sshd), allow=True).status
        is Status.PASS
    )
    mfa = with_line(
        sshd, "authenticationmethods", "publickey,password publickey,keyboard-interactive"
    )
    assert check_runner("ssh_password_authentication", facts_for(mfa)).status is Status.PASS
    either = with_line(sshd, "authenticationmethods", "publickey password")
    assert check_runner("ssh_password_authentication", facts_for(either)).status is Status.FAIL


def test_keyboard_interactive_counts_as_password_with_pam(check_runner):
    kbd = with_line(HARDENED, "kbdinteractiveauthentication", "yes")
    verdict = check_runner("ssh_password_authentication", facts_for(kbd))
    assert verdict.status is Status.FAIL and "kbdinteractive" in verdict.message
    no_pam = with_line(kbd, "usepam", "no")
    assert check_runner("ssh_password_authentication", facts_for(no_pam)).status is Status.PASS


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("10:30:60", Status.PASS),
        ("5:50:20", Status.PASS),
        ("10:30:100", Status.FAIL),
        ("10:10:60", Status.FAIL),
        ("100:30:100", Status.FAIL),
        ("8", Status.PASS),
    ],
)
def test_max_startups(check_runner, value, status):
    sshd = with_line(HARDENED, "maxstartups", value)
    assert check_runner("ssh_max_startups", facts_for(sshd)).status is status


@pytest.mark.parametrize(
    ("interval", "count", "status"),
    [
        (300, 3, Status.PASS),
        (0, 3, Status.FAIL),
        (300, 0, Status.FAIL),
        (600, 3, Status.FAIL),
        (15, 1, Status.PASS),
    ],
)
def test_idle_timeout(check_runner, interval, count, status):
    sshd = with_line(
        with_line(HARDENED, "clientaliveinterval", str(interval)), "clientalivecountmax", str(count)
    )
    assert check_runner("ssh_idle_timeout", facts_for(sshd)).status is status


def test_login_grace_and_auth_tries_thresholds(check_runner):
    assert check_runner("ssh_login_grace_time", facts_for(DEFAULT), maximum=120).status is (
        Status.PASS
    )
    assert check_runner("ssh_max_auth_tries", facts_for(DEFAULT), maximum=6).status is (Status.PASS)


def test_disable_forwarding_overrides(check_runner):
    sshd = with_line(DEFAULT, "disableforwarding", "yes")
    for check_id in ("ssh_x11_forwarding", "ssh_tcp_forwarding"):
        assert check_runner(check_id, facts_for(sshd)).status is Status.PASS
    local = with_line(HARDENED, "allowtcpforwarding", "local")
    assert check_runner("ssh_tcp_forwarding", facts_for(local)).status is Status.FAIL
    assert (
        check_runner("ssh_tcp_forwarding", facts_for(local), allowed=["no", "local"]).status
        is Status.PASS
    )


def test_log_level_quiet_is_printed_silent(check_runner):
    verdict = check_runner("ssh_log_level", facts_for(WEAK))
    assert verdict.status is Status.FAIL and "SILENT" in verdict.message
    assert check_runner("ssh_log_level", facts_for(WEAK), allowed=["QUIET"]).status is (Status.PASS)


def test_weak_kex_includes_gssapi_only_when_enabled(check_runner):
    assert check_runner("ssh_weak_kex", facts_for(DEFAULT)).status is Status.PASS
    gss = with_line(DEFAULT, "gssapikeyexchange", "yes")
    verdict = check_runner("ssh_weak_kex", facts_for(gss))
    assert verdict.status is Status.FAIL and "gss-group14-sha1-" in verdict.message


def test_weak_macs_param(check_runner):
    assert check_runner("ssh_weak_macs", facts_for(DEFAULT), weak=["hmac-md5*"]).status is (
        Status.PASS
    )


def test_weak_host_keys(check_runner):
    dsa = KEYS + b"/etc/ssh/ssh_host_dsa_key.pub\t1024 SHA256:abc root@vm (DSA)\n"
    sshd = with_line(DEFAULT, "hostkey", "/etc/ssh/ssh_host_dsa_key")
    verdict = check_runner("ssh_weak_host_keys", facts_for(sshd, keys=dsa))
    assert verdict.status is Status.FAIL and "DSA 1024" in verdict.message
    # A DSA file that sshd does not load is not a finding.
    assert check_runner("ssh_weak_host_keys", facts_for(DEFAULT, keys=dsa)).status is (Status.PASS)
    small = KEYS.replace(b"3072 SHA256", b"1024 SHA256")
    verdict = check_runner("ssh_weak_host_keys", facts_for(DEFAULT, keys=small))
    assert verdict.status is Status.FAIL and "RSA 1024" in verdict.message
    assert check_runner("ssh_weak_host_keys", facts_for(DEFAULT, keys=b"")).status is (Status.FAIL)


def test_weak_host_keys_notes_keys_without_public_half(check_runner):
    sshd = with_line(HARDENED, "hostkey", "/etc/ssh/custom_key")
    verdict = check_runner("ssh_weak_host_keys", facts_for(sshd))
    assert verdict.status is Status.FAIL and "/etc/ssh/custom_key" in verdict.message


@pytest.mark.parametrize(
    ("line", "status"),
    [
        (b"600 root root -rw------- /etc/ssh/sshd_config.d/50-cloud-init.conf\n", Status.PASS),
        (b"666 root root -rw-rw-rw- /etc/ssh/sshd_config.d/evil.conf\n", Status.FAIL),
        (b"644 admin root -rw-r--r-- /etc/ssh/sshd_config.d/x.conf\n", Status.FAIL),
        (b"640 root ssh_keys -rw-r----- /etc/ssh/ssh_host_rsa_key\n", Status.PASS),
        (b"640 root adm -rw-r----- /etc/ssh/ssh_host_rsa_key\n", Status.FAIL),
        (b"644 root root -rw-r--r-- /etc/ssh/ssh_host_ed25519_key\n", Status.FAIL),
        (b"775 root root drwxrwxr-x /etc/ssh/sshd_config.d\n", Status.FAIL),
    ],
)
def test_config_permissions(check_runner, line, status):
    verdict = check_runner("ssh_config_permissions", facts_for(DEFAULT, modes=MODES + line))
    assert verdict.status is status, verdict.message


def test_config_permissions_cis_strict_mode(check_runner):
    verdict = check_runner("ssh_config_permissions", facts_for(DEFAULT), max_config_mode="0600")
    assert verdict.status is Status.FAIL and "/etc/ssh/sshd_config mode 0644" in verdict.message


def test_every_ssh_check_declares_its_facts_and_references():
    for check_id in SSH_CHECKS:
        meta = all_checks()[check_id]
        assert {"sshd_effective", "sshd_config_test"} & set(meta.facts)
        assert meta.references and meta.remediation
