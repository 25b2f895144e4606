"""Audit, log storage/forwarding and time-sync checks, judged from recorded facts.

Fixtures ending in ``.pass``/``.fail`` say the outcome they produce; unsuffixed ones are
real captures used in both directions. Debian 12 captures come from a systemd-less host
(the lab's situation), RHEL ones are written from the tools' documented output formats.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hygie.facts.logging import (
    journald_storage,
    parse_audit_rules,
    parse_syslog_conf,
    systemd_settings,
    timesyncd_servers,
)
from hygie.facts.services import parse_services
from hygie.model import Fact, Status
from tests.unit.conftest import run_check

FIX = Path(__file__).parent.parent / "fixtures" / "logging"


def fx(name: str) -> bytes:
    return (FIX / name).read_bytes()


def services(*procs: str, units: tuple[str, ...] = ()) -> bytes:
    """A ``services`` fact with the given process names (and running units if any)."""
    text = ""
    if units:
        text += "==> systemd-running <==\n"
        text += "".join(f"{u} loaded active running x\n" for u in units)
        text += "==> systemd-enabled <==\n"
    return (text + "==> processes <==\n" + "".join(f"{p}\n" for p in procs)).encode()


NOT_INSTALLED = b""


def missing(name: str) -> Fact:
    return Fact(name, b"", exit_status=127)


# --- services parser -------------------------------------------------------------


def test_services_container_has_no_daemons():
    s = parse_services(fx("services_debian12_container_bare.txt").decode())
    assert not s.systemd
    assert s.is_enabled("auditd") is None
    assert not s.is_running("auditd", "chronyd", "rsyslogd")
    assert "kauditd" in s.processes  # kernel thread, must not count as auditd


def test_services_systemd_units_and_truncated_process_names():
    s = parse_services(fx("services_rhel9_systemd.txt").decode())
    assert s.systemd
    assert s.is_running("auditd") and s.is_running("chronyd") and s.is_running("firewalld")
    assert s.is_enabled("auditd") and not s.is_enabled("nftables")
    assert not s.unit_running("systemd-journal-upload")
    assert s.is_running("systemd-journald")  # unit, and comm "systemd-journal"
    lab = parse_services(services("systemd-timesyn").decode())
    assert lab.is_running("systemd-timesyncd") and lab.is_enabled("x") is None


def test_services_lab_namespace_processes():
    s = parse_services(fx("services_lab_namespace_daemons.txt").decode())
    assert s.running_names("sshd", "auditd", "ntpd", "rsyslogd") == ["sshd", "auditd", "rsyslogd"]


# --- auditd -------------------------------------------------------------


def test_auditd_running_pass_rhel():
    v = run_check(
        "log_auditd_running",
        {
            "services": fx("services_rhel9_systemd.txt"),
            "audit_status": fx("audit_status_enabled_rhel9.pass.txt"),
        },
    )
    assert v.status is Status.PASS, v.message


def test_auditd_running_pass_immutable_in_lab():
    v = run_check(
        "log_auditd_running",
        {
            "services": fx("services_lab_namespace_daemons.txt"),
            "audit_status": fx("audit_status_immutable.pass.txt"),
        },
    )
    assert v.status is Status.PASS, v.message


def test_auditd_not_running_and_kernel_disabled_fails():
    v = run_check(
        "log_auditd_running",
        {
            "services": fx("services_debian12_container_bare.txt"),
            "audit_status": fx("audit_status_kernel_disabled.fail.txt"),
        },
    )
    assert v.status is Status.FAIL
    assert "not running" in v.message and "enabled 0" in v.message


def test_auditd_running_but_kernel_disabled_fails():
    v = run_check(
        "log_auditd_running",
        {
            "services": services("auditd"),
            "audit_status": fx("audit_status_kernel_disabled.fail.txt"),
        },
    )
    assert v.status is Status.FAIL and "kernel auditing is disabled" in v.message


def test_auditd_not_installed_fails():
    v = run_check(
        "log_auditd_running",
        {"services": services("sshd"), "audit_status": missing("audit_status")},
    )
    assert v.status is Status.FAIL and "not installed" in v.message


def test_auditd_status_unreadable_is_error():
    from hygie.registry import MissingFact

    with pytest.raises(MissingFact):
        run_check(
            "log_auditd_running",
            {
                "services": services("auditd"),
                "audit_status": Fact("audit_status", b"", b"You must be root\n", exit_status=1),
            },
        )


def test_audit_rules_no_rules_fails():
    v = run_check("log_audit_rules", {"audit_rules": fx("audit_rules_no_rules.fail.txt")})
    assert v.status is Status.FAIL and "no audit rules" in v.message


def test_audit_rules_partial_lists_missing_and_ignores_never_rules():
    v = run_check("log_audit_rules", {"audit_rules": fx("audit_rules_identity_only.fail.txt")})
    assert v.status is Status.FAIL
    for item in ("/etc/shadow", "/etc/sudoers", "adjtimex", "clock_settime"):
        assert item in v.message
    assert "/etc/passwd" not in v.evidence[0].actual


def test_audit_rules_params_and_parent_directory_watch():
    rules = b"-w /etc/ -p wa -k etc\n-a always,exit -F arch=b64 -S all -k everything\n"
    v = run_check(
        "log_audit_rules",
        {"audit_rules": rules},
        required_paths=["/etc/passwd", "/etc/sudoers.d"],
        required_syscalls=["settimeofday"],
    )
    assert v.status is Status.PASS, v.message
    assert parse_audit_rules(rules.decode()).watches("/etc/shadow")
    assert not parse_audit_rules(rules.decode()).watches("/etcetera")


def test_audit_rules_auditctl_missing_fails():
    v = run_check("log_audit_rules", {"audit_rules": missing("audit_rules")})
    assert v.status is Status.FAIL


# --- persistent logging -------------------------------------------------------------


def storage_facts(svc: bytes, journald: bytes, journal_dir_ok: bool, syslog: bytes) -> dict:
    return {
        "services": svc,
        "journald_conf": journald,
        "journal_dir": Fact(
            "journal_dir",
            fx("journal_dir_present.txt") if journal_dir_ok else b"",
            exit_status=0 if journal_dir_ok else 2,
        ),
        "syslog_conf": syslog,
    }


def test_journald_storage_precedence():
    assert journald_storage(fx("journald_conf_debian12_default.txt").decode()) == "auto"
    assert journald_storage(fx("journald_conf_volatile_dropin.fail.txt").decode()) == "volatile"
    # /etc drop-in masks the same-named /usr/lib one, and sorts after 10-defaults.conf
    assert journald_storage(fx("journald_conf_persistent_dropin.pass.txt").decode()) == (
        "persistent"
    )


def test_persistent_journald_auto_with_directory_passes():
    v = run_check(
        "log_persistent_journal_or_syslog",
        storage_facts(
            fx("services_rhel9_systemd.txt"), fx("journald_conf_debian12_default.txt"), True, b""
        ),
    )
    assert v.status is Status.PASS and "journald" in v.message


def test_volatile_journald_without_syslog_fails():
    v = run_check(
        "log_persistent_journal_or_syslog",
        storage_facts(
            services("systemd-journal", units=("systemd-journald.service",)),
            fx("journald_conf_volatile_dropin.fail.txt"),
            True,
            fx("syslog_conf_rsyslog_debian12.pass.txt"),  # installed, but rsyslog not running
        ),
    )
    assert v.status is Status.FAIL and "Storage=volatile" in v.message


def test_auto_journald_without_directory_fails():
    v = run_check(
        "log_persistent_journal_or_syslog",
        storage_facts(
            services(units=("systemd-journald.service",)),
            fx("journald_conf_debian12_default.txt"),
            False,
            b"",
        ),
    )
    assert v.status is Status.FAIL and "no /var/log/journal" in v.message


def test_nothing_running_fails():
    v = run_check(
        "log_persistent_journal_or_syslog",
        storage_facts(
            fx("services_debian12_container_bare.txt"),
            fx("journald_conf_debian12_default.txt"),
            True,
            b"",
        ),
    )
    assert v.status is Status.FAIL and "neither journald" in v.message


def test_rsyslog_parser_ignores_directives_and_comments():
    cfg = parse_syslog_conf(fx("syslog_conf_rsyslog_commented_forward.fail.txt").decode())
    assert cfg.rsyslog_files == ("/var/log/auth.log",)
    assert cfg.rsyslog_remote == ()
    debian = parse_syslog_conf(fx("syslog_conf_rsyslog_debian12.pass.txt").decode())
    assert "/var/log/syslog" in debian.rsyslog_files
    assert "/var/spool/rsyslog" not in debian.rsyslog_files


# --- remote forwarding -------------------------------------------------------------


def forward_facts(svc: bytes, syslog: bytes, upload: bytes = b"") -> dict:
    return {"services": svc, "syslog_conf": syslog, "journal_upload_conf": upload}


def test_rsyslog_forwarding_rainerscript_and_legacy_pass():
    v = run_check(
        "log_remote_forwarding",
        forward_facts(services("rsyslogd"), fx("syslog_conf_rsyslog_forward.pass.txt")),
    )
    assert v.status is Status.PASS
    assert "siem.chu.example" in v.message and "@@backup-loghost" in v.message


def test_syslog_ng_network_destination_passes():
    v = run_check(
        "log_remote_forwarding",
        forward_facts(services("syslog-ng"), fx("syslog_conf_syslog_ng_network.pass.txt")),
    )
    assert v.status is Status.PASS and "10.20.0.15" in v.message


def test_forwarding_configured_but_daemon_stopped_fails():
    v = run_check(
        "log_remote_forwarding",
        forward_facts(services("sshd"), fx("syslog_conf_rsyslog_forward.pass.txt")),
    )
    assert v.status is Status.FAIL
    assert "configured but not running" in v.evidence[0].actual


def test_journal_upload_needs_running_unit():
    upload = fx("journal_upload_conf_url.pass.txt")
    running = services(units=("systemd-journal-upload.service",))
    v = run_check("log_remote_forwarding", forward_facts(running, b"", upload))
    assert v.status is Status.PASS and "logs.chu.example" in v.message
    # journald alone shows as "systemd-journal" too: must not be taken for the uploader
    v = run_check("log_remote_forwarding", forward_facts(services("systemd-journal"), b"", upload))
    assert v.status is Status.FAIL


# --- time -------------------------------------------------------------


def time_facts(svc: bytes, *, chrony=b"", timesyncd=b"", ntp=b"", timedatectl=None) -> dict:
    td = timedatectl if timedatectl is not None else Fact("timedatectl", b"", exit_status=1)
    return {
        "services": svc,
        "chrony_conf": chrony,
        "timesyncd_conf": timesyncd,
        "ntp_conf": ntp,
        "timedatectl": td,
    }


def test_chrony_without_sources_fails():
    v = run_check(
        "time_synchronized",
        time_facts(services("chronyd"), chrony=fx("chrony_conf_no_sources.fail.txt")),
    )
    assert v.status is Status.FAIL and "without any time source" in v.message


def test_rhel_synced_and_unsynced():
    svc = fx("services_rhel9_systemd.txt")
    chrony = fx("chrony_conf_rhel9.pass.txt")
    ok = run_check(
        "time_synchronized",
        time_facts(svc, chrony=chrony, timedatectl=fx("timedatectl_synced.pass.txt")),
    )
    assert ok.status is Status.PASS and "NTPSynchronized=yes" in ok.message
    bad = time_facts(svc, chrony=chrony, timedatectl=fx("timedatectl_unsynced.fail.txt"))
    assert run_check("time_synchronized", bad).status is Status.FAIL
    assert run_check("time_synchronized", bad, require_synchronized=False).status is Status.PASS


def test_timesyncd_default_fallback_is_a_param():
    facts = time_facts(
        services("systemd-timesyn"), timesyncd=fx("timesyncd_conf_debian12_default.txt")
    )
    assert run_check("time_synchronized", facts).status is Status.PASS
    v = run_check("time_synchronized", facts, allow_fallback_servers=False)
    assert v.status is Status.FAIL


def test_timesyncd_lists_reset_and_accumulate():
    explicit = timesyncd_servers(fx("timesyncd_conf_explicit_ntp.pass.txt").decode())
    assert explicit.ntp == ("ntp1.chu.example", "ntp2.chu.example") and explicit.fallback == ()
    emptied = timesyncd_servers(fx("timesyncd_conf_all_emptied.fail.txt").decode())
    assert emptied.ntp == () and emptied.fallback == ()
    v = run_check(
        "time_synchronized",
        time_facts(
            services("systemd-timesyn"), timesyncd=fx("timesyncd_conf_all_emptied.fail.txt")
        ),
    )
    assert v.status is Status.FAIL


def test_ntpsec_passes_and_competing_daemons_fail():
    ntp = fx("ntp_conf_ntpsec_debian12.pass.txt")
    assert run_check("time_synchronized", time_facts(services("ntpd"), ntp=ntp)).status is (
        Status.PASS
    )
    v = run_check(
        "time_synchronized",
        time_facts(
            services("ntpd", "systemd-timesyn"),
            ntp=ntp,
            timesyncd=fx("timesyncd_conf_debian12_default.txt"),
        ),
    )
    assert v.status is Status.FAIL and "compete" in v.message


def test_no_time_daemon_fails():
    v = run_check("time_synchronized", time_facts(fx("services_debian12_container_bare.txt")))
    assert v.status is Status.FAIL and "no NTP client" in v.message


def test_systemd_settings_ignores_other_sections_and_comments():
    text = (
        "==> /etc/systemd/journald.conf <==\n[Journal]\n;Storage=none\n#Storage=none\n"
        "[Other]\nStorage=none\n"
    )
    assert systemd_settings(text, "journald.conf", "Journal") == {}
    assert journald_storage(text) == "auto"
