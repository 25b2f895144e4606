"""Audit trail, log retention/centralisation and time synchronisation.

In a health-sector incident the questions are "who accessed or changed what, and when":
answering them needs the kernel audit subsystem recording the right events, logs that
survive a reboot and a compromised host, and clocks that agree across systems.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hygie.facts.logging import (
    chrony_sources,
    journal_upload_url,
    journald_storage,
    ntp_sources,
    parse_audit_rules,
    parse_audit_status,
    parse_key_values,
    parse_syslog_conf,
    timesyncd_servers,
)
from hygie.facts.services import RunningServices, parse_services
from hygie.model import Evidence
from hygie.registry import Facts, Param, Verdict, check, failed, judge, passed

#: Public ids are never renamed: time synchronisation (time_) is judged here.
ID_PREFIXES = ("log_", "time_")


def _cap(items: list[str], limit: int = 50) -> str:
    """Join a list for evidence, capped so a report stays readable."""
    shown = ", ".join(items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def _services(facts: Facts) -> RunningServices:
    return facts.parsed("services", parse_services)


# --- audit -------------------------------------------------------------


@check(
    facts=("services", "audit_status"),
)
def log_auditd_running(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    services = _services(facts)
    status_fact = facts.get("audit_status")
    if status_fact.command_missing:
        return failed(
            "audit userspace (auditctl/auditd) is not installed",
            Evidence("auditd installed and running", "auditctl not found", "audit_status"),
        )
    status = facts.parsed("audit_status", parse_audit_status)
    running = services.is_running("auditd")
    problems = []
    if not running:
        problems.append("auditd is not running")
    if not status.auditing:
        problems.append(f"kernel auditing is disabled (enabled {status.enabled})")
    actual = f"auditd running={running}; kernel enabled={status.enabled}; lost={status.lost}"
    if services.is_enabled("auditd") is False:
        actual += "; auditd.service not enabled at boot"
    return judge(
        not problems,
        "; ".join(problems) or "auditd is running and kernel auditing is enabled",
        Evidence("auditd running; enabled 1 or 2", actual, "audit_status"),
    )


@check(
    facts=("audit_rules",),
    params={
        "required_paths": Param(
            [
                "/etc/passwd",
                "/etc/shadow",
                "/etc/group",
                "/etc/gshadow",
                "/etc/sudoers",
                "/etc/sudoers.d",
            ],
            "files/directories that must be watched (a watch on a parent directory counts)",
        ),
        "required_syscalls": Param(
            ["adjtimex", "settimeofday", "clock_settime"],
            "syscalls that must appear in an `-a always,exit` rule (time changes)",
        ),
    },
)
def log_audit_rules(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    fact = facts.get("audit_rules")
    if fact.command_missing:
        return failed(
            "auditctl is not installed: no audit rules can be loaded",
            Evidence("audit rules loaded", "auditctl not found", "audit_rules"),
        )
    rules = facts.parsed("audit_rules", parse_audit_rules)
    expected = _cap([*params["required_paths"], *params["required_syscalls"]])
    if not rules.rules:
        return failed("no audit rules are loaded", Evidence(expected, "No rules", "audit_rules"))
    missing = [p for p in params["required_paths"] if not rules.watches(p)]
    if "all" not in rules.syscalls:
        missing += [s for s in params["required_syscalls"] if s not in rules.syscalls]
    return judge(
        not missing,
        f"{len(rules.rules)} audit rules loaded"
        + (f"; not covered: {_cap(missing)}" if missing else "; required events covered"),
        Evidence(
            expected, f"missing: {_cap(missing)}" if missing else "all covered", "audit_rules"
        ),
    )


# --- log storage and forwarding -------------------------------------------------------------

# (label, names it may run as) for the syslog daemons; busybox/sysklogd run as ``syslogd``.
_SYSLOG_DAEMONS = (
    ("rsyslog", ("rsyslogd", "rsyslog")),
    ("syslog-ng", ("syslog-ng",)),
    ("syslogd", ("syslogd", "sysklogd")),
)


@check(
    facts=("services", "journald_conf", "journal_dir", "syslog_conf"),
)
def log_persistent_journal_or_syslog(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    services = _services(facts)
    storage = journald_storage(facts.text("journald_conf"))
    journal_dir = facts.get("journal_dir").ok
    journald = services.is_running("systemd-journald")
    syslog = facts.parsed("syslog_conf", parse_syslog_conf)
    files_by_daemon = {
        "rsyslog": syslog.rsyslog_files,
        "syslog-ng": syslog.syslog_ng_files,
        "syslogd": syslog.syslogd_files,
    }
    seen = []
    persistent = []
    if journald:
        effective = storage
        if storage == "auto":
            effective = "persistent" if journal_dir else "volatile (auto, no /var/log/journal)"
        seen.append(f"journald Storage={effective}")
        if effective == "persistent":
            persistent.append("journald")
    for label, names in _SYSLOG_DAEMONS:
        if services.is_running(*names):
            files = files_by_daemon[label]
            seen.append(f"{label} running, file outputs: {_cap(list(files), 5) or 'none'}")
            if files:
                persistent.append(label)
    actual = "; ".join(seen) or "neither journald nor a syslog daemon is running"
    return judge(
        bool(persistent),
        f"persistent logging via {', '.join(persistent)}"
        if persistent
        else f"no persistent log storage: {actual}",
        Evidence("journald persistent or syslog daemon writing files", actual, "journald_conf"),
    )


@check(
    facts=("services", "syslog_conf", "journal_upload_conf"),
)
def log_remote_forwarding(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    services = _services(facts)
    syslog = facts.parsed("syslog_conf", parse_syslog_conf)
    remote_by_daemon = {
        "rsyslog": syslog.rsyslog_remote,
        "syslog-ng": syslog.syslog_ng_remote,
        "syslogd": syslog.syslogd_remote,
    }
    forwarders = []
    configured_idle = []
    for label, names in _SYSLOG_DAEMONS:
        targets = remote_by_daemon[label]
        if not targets:
            continue
        entry = f"{label} -> {_cap(list(targets), 5)}"
        (forwarders if services.is_running(*names) else configured_idle).append(entry)
    url = journal_upload_url(facts.text("journal_upload_conf"))
    if url:
        entry = f"systemd-journal-upload -> {url}"
        uploading = services.unit_running("systemd-journal-upload")
        (forwarders if uploading else configured_idle).append(entry)
    actual = _cap(forwarders) or "no running forwarder"
    if configured_idle:
        actual += f"; configured but not running: {_cap(configured_idle)}"
    return judge(
        bool(forwarders),
        f"logs forwarded: {_cap(forwarders)}" if forwarders else "logs are not forwarded",
        Evidence("a running daemon forwarding to a remote log server", actual, "syslog_conf"),
    )


# --- time -------------------------------------------------------------


def _timesyncd_sources(text: str, allow_fallback: bool) -> list[str]:
    servers = timesyncd_servers(text)
    sources = list(servers.ntp)
    if not sources and allow_fallback:
        if servers.fallback is None:
            sources.append("FallbackNTP (compiled-in default)")
        else:
            sources.extend(servers.fallback)
    return sources


# (label, names the daemon runs as, config fact, sources from that fact's text)
_TIME_DAEMONS: tuple[tuple[str, tuple[str, ...], str, Callable[[str, bool], list[str]]], ...] = (
    ("chrony", ("chronyd", "chrony"), "chrony_conf", lambda t, _f: chrony_sources(t)),
    ("systemd-timesyncd", ("systemd-timesyncd",), "timesyncd_conf", _timesyncd_sources),
    ("ntpd", ("ntpd", "ntp", "ntpsec", "openntpd"), "ntp_conf", lambda t, _f: ntp_sources(t)),
)


@check(
    facts=("services", "chrony_conf", "timesyncd_conf", "ntp_conf", "timedatectl"),
    params={
        "allow_fallback_servers": Param(
            True,
            "accept systemd-timesyncd's FallbackNTP (distribution default pool) when no NTP= "
            "is set; false requires explicitly configured, authorised servers",
        ),
        "require_synchronized": Param(
            True, "fail when timedatectl reports NTPSynchronized=no (systemd hosts only)"
        ),
    },
)
def time_synchronized(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    services = _services(facts)
    running = []
    for label, names, fact_name, sources_of in _TIME_DAEMONS:
        if services.is_running(*names):
            sources = sources_of(facts.text(fact_name), params["allow_fallback_servers"])
            running.append((label, fact_name, sources))
    desc = "; ".join(f"{label}: {_cap(src, 5) or 'no servers'}" for label, _f, src in running)
    expected = "one NTP client running with at least one server"
    if not running:
        return failed(
            "no NTP client (chrony, systemd-timesyncd, ntpd) is running",
            Evidence(expected, "none running", "services"),
        )
    if len(running) > 1:
        return failed(
            f"{len(running)} time daemons compete: {desc}", Evidence(expected, desc, "services")
        )
    label, fact_name, sources = running[0]
    if not sources:
        return failed(f"{label} runs without any time source", Evidence(expected, desc, fact_name))
    sync_fact = facts.get("timedatectl")
    sync = parse_key_values(sync_fact.text).get("NTPSynchronized") if sync_fact.ok else None
    if sync is None:
        return passed(
            f"{desc} (synchronisation state not available without timedatectl)",
            Evidence(expected, desc, fact_name),
        )
    return judge(
        sync == "yes" or not params["require_synchronized"],
        f"{desc}; NTPSynchronized={sync}",
        Evidence(
            expected + ", NTPSynchronized=yes", f"{desc}; NTPSynchronized={sync}", "timedatectl"
        ),
    )
