"""OpenSSH server hardening, judged on the effective configuration (``sshd -T``).

SSH is the administration path of nearly every Linux server holding patient data, so its
settings decide who can reach a root shell and how well the channel resists interception.
Every check reads what the daemon would actually apply, not what a file appears to say.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from fnmatch import fnmatchcase
from typing import Any

from hygie.checks._ssh_crypto import CRYPTO_REFS, WEAK_CIPHERS, WEAK_KEX, WEAK_MACS
from hygie.checks._sshd import (
    FACT,
    ROOT_LOGIN_REFS,
    ROOT_ORDER,
    TEST_FACT,
    password_methods,
    publickey_required,
    root_login,
    sshd_config,
    sshd_trace,
)
from hygie.facts.ssh import (
    BannerFile,
    ConfigLine,
    SshdConfig,
    parse_banner_file,
    parse_file_modes,
    parse_host_keys,
    parse_sshd_test,
)
from hygie.model import Evidence
from hygie.registry import (
    Facts,
    MissingFact,
    Param,
    Verdict,
    check,
    errored,
    failed,
    judge,
    not_applicable,
    passed,
)

BANNER_FACT = "sshd_banner_file"
#: What checks that judge sshd -T keywords read: the trace only adds the lines of a
#: keyword set twice to their evidence.
FACTS = (FACT, TEST_FACT)
RELOAD = "then validate with `sshd -t` and reload: `systemctl reload ssh` (Debian) or `sshd`"

# Shared framework references, narrowed per check below.
_AUTH_REFS: dict[str, list[str]] = {
    "gdpr": ["32(1)(b)"],
    "hipaa": ["164.312(a)(1)", "164.312(d)"],
    "nist_800_53r5": ["AC-17", "IA-2"],
    "nist_csf_2_0": ["PR.AA-03"],
    "iso27001_2022": ["A.8.5"],
    "nis2": ["21(2)(i)"],
}
_CONFIG_REFS: dict[str, list[str]] = {
    "gdpr": ["32(1)(b)"],
    "nist_800_53r5": ["CM-6", "CM-7"],
    "nist_csf_2_0": ["PR.PS-01"],
    "iso27001_2022": ["A.8.9"],
    "cis_controls_v8": ["4.1"],
}


def _refs(base: Mapping[str, list[str]], **extra: list[str]) -> dict[str, list[str]]:
    return {**base, **extra}


def _absent() -> Verdict:
    return not_applicable("sshd is not installed (sshd -T: command not found)")


def _evidence(expected: str, actual: str) -> Evidence:
    return Evidence(expected=expected, actual=actual, fact=FACT)


def _capped(items: Iterable[str], limit: int = 50, sep: str = ", ") -> str:
    items = list(items)
    text = sep.join(items[:limit])
    if len(items) > limit:
        text += f" (+{len(items) - limit} more)"
    return text or "none"


def _conflict_evidence(keyword: str, lines: Iterable[ConfigLine]) -> Evidence:
    return Evidence(
        f"{keyword} set once, or always to the same value",
        _capped((f"{ln.where} {ln.keyword} {ln.value}" for ln in lines), sep="; "),
        TEST_FACT,
    )


def _with_conflicts(verdict: Verdict, facts: Facts, *keywords: str) -> Verdict:
    """``verdict`` plus the file:line of every setting of ``keywords`` that the
    configuration gives more than once with different values.

    The verdict stays the one ``sshd -T`` supports (which line wins depends on the keyword
    and on Include order); the lines show an admin why the file seems to say otherwise.
    """
    trace = sshd_trace(facts)
    conflicts = trace.conflicts() if trace is not None else {}
    found = {k: conflicts[k] for k in keywords if k in conflicts}
    if not found:
        return verdict
    note = "; ".join(
        f"{k} is set {len(lines)} times with different values" for k, lines in found.items()
    )
    return replace(
        verdict,
        message=f"{verdict.message} ({note}: sshd -T shows the one applied)",
        evidence=(*verdict.evidence, *(_conflict_evidence(k, ln) for k, ln in found.items())),
    )


def _keyword_check(facts: Facts, keyword: str, ok: Callable[[str], bool], expected: str) -> Verdict:
    """The common shape: one keyword, one predicate on its value."""
    cfg = sshd_config(facts)
    if cfg is None:
        return _absent()
    actual = cfg.value(keyword, "<unset>")
    good = ok(actual)
    state = "compliant" if good else "not compliant"
    verdict = judge(
        good,
        f"{keyword} is {actual} ({state}; expected {expected})",
        _evidence(f"{keyword} {expected}", f"{keyword} {actual}"),
    )
    return _with_conflicts(verdict, facts, keyword)


def _int(value: str, default: int = -1) -> int:
    try:
        return int(value)
    except ValueError:
        return default


# -- configuration ---------------------------------------------------------------------


@check(
    title="sshd accepts its configuration",
    severity="high",
    rationale=(
        "A configuration sshd rejects (unknown keyword, invalid value) stops the daemon at "
        "its next restart, locking administrators out of servers holding patient data, and "
        "means the hardening written in the files is not what runs. A keyword set twice "
        "with different values is accepted, but which line applies depends on the keyword "
        "and the Include order, so the file no longer says what the server does."
    ),
    remediation=(
        "Fix each file and line sshd quotes, run `sshd -t` until it prints nothing, then "
        "reload: `systemctl reload ssh` (Debian) or `sshd` (RHEL). Where a keyword is set in "
        "several places, keep one line (drop-ins in /etc/ssh/sshd_config.d/ are read first)."
    ),
    references=_refs(_CONFIG_REFS, nist_800_53r5=["CM-6"]),
    facts=(TEST_FACT,),
)
def ssh_config_valid(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    fact = facts.get(TEST_FACT)
    if fact.command_missing:
        return _absent()
    trace = parse_sshd_test(fact.text)
    expected = "sshd -t accepts the configuration"
    if not fact.ok:
        if not trace.errors:
            last = trace.messages[-1] if trace.messages else "no message"
            raise MissingFact(TEST_FACT, f"sshd -t exited {fact.exit_status}: {last}")
        quoted = _capped(trace.errors, 10, sep="; ")
        return failed(
            f"sshd rejects its configuration: {quoted}", Evidence(expected, quoted, TEST_FACT)
        )
    evidence = [Evidence(expected, f"accepted; {len(trace.settings)} global settings", TEST_FACT)]
    notes = []
    if trace.warnings:
        notes.append(f"sshd warns: {_capped(trace.warnings, 10, sep='; ')}")
    conflicts = trace.conflicts()
    if conflicts:
        notes.append(
            f"set more than once with different values (sshd -T shows the one applied): "
            f"{_capped(conflicts)}"
        )
        evidence += [_conflict_evidence(k, lines) for k, lines in conflicts.items()]
    return passed("; ".join(["sshd accepts its configuration", *notes]), *evidence)


# -- authentication --------------------------------------------------------------------


@check(
    title="SSH root login is disabled",
    severity="high",
    rationale=(
        "Direct root logins over SSH leave no trace of which administrator acted, defeating "
        "the individual accountability HIPAA audit controls rely on, and give password "
        "guessing a known account name with full privileges."
    ),
    remediation=(
        "Set `PermitRootLogin no` in /etc/ssh/sshd_config (or a file in "
        f"/etc/ssh/sshd_config.d/ read before others), {RELOAD}. Administrators log in with "
        "their own account and use sudo."
    ),
    references=ROOT_LOGIN_REFS,
    facts=FACTS,
    params={
        "allowed": Param(
            "no",
            "least strict PermitRootLogin value accepted",
            choices=("no", "forced-commands-only", "prohibit-password"),
        )
    },
)
def ssh_root_login(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    limit = ROOT_ORDER.index(params["allowed"])

    def ok(value: str) -> bool:
        value = root_login(value)
        return value in ROOT_ORDER and ROOT_ORDER.index(value) <= limit

    return _keyword_check(facts, "permitrootlogin", ok, f"{params['allowed']} or stricter")


@check(
    title="SSH password authentication is disabled",
    severity="medium",
    rationale=(
        "Passwords sent to sshd can be guessed, sprayed or replayed from other breaches; "
        "key-based (or key plus second factor) authentication removes the most common "
        "initial-access path to servers holding health data."
    ),
    remediation=(
        "Set `PasswordAuthentication no` and `KbdInteractiveAuthentication no` (older "
        "releases: `ChallengeResponseAuthentication no`) in /etc/ssh/sshd_config, "
        f"{RELOAD}. Deploy user keys first. To keep passwords as a second factor use "
        "`AuthenticationMethods publickey,password`."
    ),
    references=_refs(
        _AUTH_REFS,
        nist_800_53r5=["AC-17", "IA-2", "IA-5"],
        anssi_hygiene=["13"],
    ),
    facts=FACTS,
    params={"allow": Param(False, "accept password logins (not recommended)")},
)
def ssh_password_authentication(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    cfg = sshd_config(facts)
    if cfg is None:
        return _absent()
    verdict = _password_verdict(cfg, params["allow"])
    return _with_conflicts(
        verdict, facts, "passwordauthentication", "kbdinteractiveauthentication", "usepam"
    )


def _password_verdict(cfg: SshdConfig, allow: bool) -> Verdict:
    enabled = password_methods(cfg)
    actual = ", ".join(enabled) or "passwordauthentication no, kbdinteractiveauthentication no"
    expected = "passwordauthentication no, kbdinteractiveauthentication no"
    if not enabled:
        return passed("password authentication is disabled", _evidence(expected, actual))
    if publickey_required(cfg):
        methods = cfg.value("authenticationmethods")
        return passed(
            f"passwords are only accepted after a public key (authenticationmethods {methods})",
            _evidence(expected, f"{actual}; authenticationmethods {methods}"),
        )
    if allow:
        return passed(f"password logins accepted by policy ({actual})", _evidence(expected, actual))
    return failed(f"sshd accepts passwords alone: {actual}", _evidence(expected, actual))


@check(
    title="SSH refuses empty passwords",
    severity="high",
    rationale=(
        "With PermitEmptyPasswords yes an account whose password is empty can be reached "
        "from the network with no credential at all."
    ),
    remediation=f"Set `PermitEmptyPasswords no` in /etc/ssh/sshd_config, {RELOAD}.",
    references=_refs(
        _AUTH_REFS,
        nist_800_53r5=["AC-17", "IA-2", "IA-5"],
        anssi_hygiene=["10"],
        cis_ubuntu_2204_v2_0_0=["5.1.19"],
    ),
    facts=FACTS,
)
def ssh_permit_empty_passwords(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    return _keyword_check(facts, "permitemptypasswords", lambda v: v.lower() == "no", "no")


@check(
    title="SSH limits authentication attempts per connection",
    severity="medium",
    rationale=(
        "A low MaxAuthTries slows online password guessing and makes each attempt burst "
        "visible in the logs (every failure beyond half the limit is logged)."
    ),
    remediation=f"Set `MaxAuthTries 4` (or lower) in /etc/ssh/sshd_config, {RELOAD}.",
    references={
        "gdpr": ["32(1)(b)"],
        "hipaa": ["164.308(a)(5)(ii)(C)", "164.312(a)(1)"],
        "nist_800_53r5": ["AC-7"],
        "nist_csf_2_0": ["PR.AA-03"],
        "iso27001_2022": ["A.8.5"],
        "nis2": ["21(2)(i)"],
        "cis_ubuntu_2204_v2_0_0": ["5.1.16"],
    },
    facts=FACTS,
    params={"maximum": Param(4, "highest accepted MaxAuthTries", minimum=1, maximum=100)},
)
def ssh_max_auth_tries(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    limit = params["maximum"]
    return _keyword_check(facts, "maxauthtries", lambda v: 0 < _int(v) <= limit, f"<= {limit}")


@check(
    title="SSH login grace time is short",
    severity="low",
    rationale=(
        "Unauthenticated connections held open for minutes let an attacker exhaust the "
        "daemon's connection slots and lock administrators out during an incident."
    ),
    remediation=f"Set `LoginGraceTime 60` (seconds, not 0) in /etc/ssh/sshd_config, {RELOAD}.",
    references=_refs(
        _CONFIG_REFS,
        nist_800_53r5=["SC-5", "CM-6"],
        cis_ubuntu_2204_v2_0_0=["5.1.13"],
    ),
    facts=FACTS,
    params={"maximum": Param(60, "highest accepted LoginGraceTime (s)", minimum=1)},
)
def ssh_login_grace_time(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    limit = params["maximum"]
    return _keyword_check(
        facts, "logingracetime", lambda v: 0 < _int(v) <= limit, f"1..{limit} s (0 = unlimited)"
    )


def _startups(value: str) -> tuple[int, int, int] | None:
    """``start:rate:full`` (sshd -T always prints the three fields; a bare N means N:100:N)."""
    parts = value.split(":")
    if len(parts) == 1:
        parts = [parts[0], "100", parts[0]]
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    start, rate, full = (int(p) for p in parts)
    return start, rate, full


@check(
    title="SSH throttles concurrent unauthenticated connections",
    severity="low",
    rationale=(
        "MaxStartups drops excess pre-authentication connections early, which blunts "
        "connection-flood denial of service against the administration path."
    ),
    remediation=f"Set `MaxStartups 10:30:60` in /etc/ssh/sshd_config, {RELOAD}.",
    references=_refs(
        _CONFIG_REFS,
        nist_800_53r5=["SC-5", "CM-6"],
        cis_ubuntu_2204_v2_0_0=["5.1.18"],
    ),
    facts=FACTS,
    params={
        "limit": Param(
            "10:30:60",
            "start:rate:full; start and full at most these, rate at least this",
        )
    },
)
def ssh_max_startups(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    limit = _startups(params["limit"])
    if limit is None:
        raise ValueError(f"parameter limit {params['limit']!r} is not start:rate:full")

    def ok(value: str) -> bool:
        actual = _startups(value)
        return (
            actual is not None
            and actual[0] <= limit[0]
            and actual[1] >= limit[1]
            and actual[2] <= limit[2]
        )

    return _keyword_check(facts, "maxstartups", ok, f"{params['limit']} or stricter")


@check(
    title="SSH drops unresponsive sessions",
    severity="medium",
    rationale=(
        "ClientAliveInterval/CountMax end sessions whose client has gone away (closed "
        "laptop, lost network), so an abandoned administrator session on a server holding "
        "patient data does not stay open indefinitely."
    ),
    remediation=(
        "Set `ClientAliveInterval 300` and `ClientAliveCountMax 3` (or stricter, count at "
        "least 1: 0 disables the check since OpenSSH 8.2) in /etc/ssh/sshd_config, "
        f"{RELOAD}. For a true inactivity logout also set TMOUT in the shell profile."
    ),
    references={
        "gdpr": ["32(1)(b)"],
        "hipaa": ["164.312(a)(2)(iii)"],
        "nist_800_53r5": ["AC-12", "SC-10"],
        "nist_csf_2_0": ["PR.AA-05"],
        "iso27001_2022": ["A.8.5"],
        "nis2": ["21(2)(i)"],
        "anssi_bp028": ["R32"],
        "cis_controls_v8": ["4.3"],
        "cis_ubuntu_2204_v2_0_0": ["5.1.7"],
    },
    facts=FACTS,
    params={
        "max_interval": Param(300, "highest accepted ClientAliveInterval (s)", minimum=1),
        "max_count": Param(3, "highest accepted ClientAliveCountMax", minimum=1),
    },
)
def ssh_idle_timeout(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    cfg = sshd_config(facts)
    if cfg is None:
        return _absent()
    interval = _int(cfg.value("clientaliveinterval", "0"), 0)
    count = _int(cfg.value("clientalivecountmax", "3"), 0)
    expected = (
        f"clientaliveinterval 1..{params['max_interval']}, "
        f"clientalivecountmax 1..{params['max_count']}"
    )
    actual = f"clientaliveinterval {interval}, clientalivecountmax {count}"
    problems = []
    if not 0 < interval <= params["max_interval"]:
        problems.append(
            "interval 0 disables keep-alive probing"
            if interval == 0
            else f"interval {interval}s is above {params['max_interval']}s"
        )
    if not 0 < count <= params["max_count"]:
        problems.append(
            "count 0 disables disconnection (OpenSSH >= 8.2)"
            if count == 0
            else f"count {count} is above {params['max_count']}"
        )
    verdict = (
        failed("; ".join(problems), _evidence(expected, actual))
        if problems
        else passed(
            f"unresponsive sessions are dropped after about {interval * count}s",
            _evidence(expected, actual),
        )
    )
    return _with_conflicts(verdict, facts, "clientaliveinterval", "clientalivecountmax")


def _forwarding_check(facts: Facts, keyword: str, allowed: Iterable[str]) -> Verdict:
    """``DisableForwarding yes`` overrides every forwarding keyword."""
    cfg = sshd_config(facts)
    if cfg is None:
        return _absent()
    allowed = {a.lower() for a in allowed}
    if cfg.flag("disableforwarding"):
        verdict = passed(
            "DisableForwarding yes disables all forwarding",
            _evidence(f"{keyword} in {sorted(allowed)}", "disableforwarding yes"),
        )
    else:
        actual = cfg.value(keyword, "<unset>").lower()
        actual = "yes" if actual == "all" else actual
        verdict = judge(
            actual in allowed,
            f"{keyword} is {actual}",
            _evidence(
                f"{keyword} in {sorted(allowed)} (or disableforwarding yes)", f"{keyword} {actual}"
            ),
        )
    return _with_conflicts(verdict, facts, keyword, "disableforwarding")


@check(
    title="SSH X11 forwarding is disabled",
    severity="low",
    rationale=(
        "X11 forwarding exposes the administrator's workstation display to the server: a "
        "compromised server can then log keystrokes on the workstation. Servers need no GUI."
    ),
    remediation=f"Set `X11Forwarding no` (or `DisableForwarding yes`), {RELOAD}.",
    references=_refs(_CONFIG_REFS, cis_ubuntu_2204_v2_0_0=["5.1.8"]),
    facts=FACTS,
)
def ssh_x11_forwarding(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    return _forwarding_check(facts, "x11forwarding", ("no",))


@check(
    title="SSH TCP forwarding is disabled",
    severity="medium",
    rationale=(
        "TCP forwarding turns any SSH account into a tunnel that bypasses network "
        "segmentation, e.g. from the internet-facing zone to the database holding records."
    ),
    remediation=(
        f"Set `AllowTcpForwarding no` (or `DisableForwarding yes`), {RELOAD}; grant "
        "forwarding to named bastion users only with a `Match User` block."
    ),
    references=_refs(
        _CONFIG_REFS,
        nist_800_53r5=["CM-7", "AC-17", "SC-7"],
        iso27001_2022=["A.8.9", "A.8.22"],
        cis_ubuntu_2204_v2_0_0=["5.1.8"],
    ),
    facts=FACTS,
    params={
        "allowed": Param(
            ["no"],
            "accepted AllowTcpForwarding values",
            choices=("no", "local", "remote", "yes"),
        )
    },
)
def ssh_tcp_forwarding(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    return _forwarding_check(facts, "allowtcpforwarding", params["allowed"])


@check(
    title="SSH shows a pre-login warning banner",
    severity="low",
    rationale=(
        "A legal notice before authentication states that access is restricted and "
        "monitored, which supports prosecution and is expected by most health-sector "
        "security policies."
    ),
    remediation=(
        "Write the approved notice to /etc/issue.net (no OS or version details) and set "
        f"`Banner /etc/issue.net` in /etc/ssh/sshd_config, {RELOAD}."
    ),
    references={
        "nist_800_53r5": ["AC-8"],
        "iso27001_2022": ["A.8.5"],
        "cis_ubuntu_2204_v2_0_0": ["5.1.5"],
    },
    facts=(*FACTS, BANNER_FACT),
)
def ssh_banner(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    cfg = sshd_config(facts)
    if cfg is None:
        return _absent()
    value = cfg.value("banner", "none")
    if value.lower() == "none":
        verdict = failed(
            "banner is none: sshd shows no notice before login",
            _evidence(_BANNER_EXPECTED, "banner none"),
        )
    else:
        verdict = _banner_file_verdict(value, parse_banner_file(facts.text(BANNER_FACT)))
    return _with_conflicts(verdict, facts, "banner")


_BANNER_EXPECTED = "banner naming an existing, non-empty file"
# Why sshd shows nothing (it skips a banner it cannot read, silently) for each file state.
_BANNER_PROBLEMS = {
    "missing": "does not exist",
    "not-a-file": "is not a regular file",
    "unreadable": "cannot be read",
}


def _banner_file_verdict(value: str, banner: BannerFile) -> Verdict:
    """Judge the file sshd would send: sshd -T only proves a path is configured."""
    if banner.path != value:
        return errored(
            f"sshd -T named banner {value} but the banner fact read {banner.path}: the "
            "configuration changed during the scan",
            Evidence(_BANNER_EXPECTED, f"banner {banner.path}", BANNER_FACT),
        )
    if banner.state in _BANNER_PROBLEMS:
        problem = _BANNER_PROBLEMS[banner.state]
        return failed(
            f"banner {value} {problem}: sshd shows no notice before login",
            Evidence(_BANNER_EXPECTED, f"{value}: {problem}", BANNER_FACT),
        )
    if banner.state != "file" or banner.size is None:
        return errored(
            f"banner {value}: the banner fact is incomplete (state {banner.state or 'absent'})",
            Evidence(_BANNER_EXPECTED, f"{value}: state {banner.state or 'absent'}", BANNER_FACT),
        )
    actual = f"{value}: {banner.size} bytes" + ("" if banner.has_text else ", no visible text")
    if not banner.has_text:
        return failed(
            f"banner {value} is {'empty' if banner.size == 0 else 'blank'}: it says nothing",
            Evidence(_BANNER_EXPECTED, actual, BANNER_FACT),
        )
    return passed(
        f"banner {value} ({banner.size} bytes)", Evidence(_BANNER_EXPECTED, actual, BANNER_FACT)
    )


_ACCESS_KEYS = ("allowusers", "allowgroups", "denyusers", "denygroups")


@check(
    title="SSH access is restricted to named users or groups",
    severity="medium",
    rationale=(
        "AllowUsers/AllowGroups make SSH access an explicit list, so service accounts and "
        "new local users cannot log in remotely just because they have a password or key."
    ),
    remediation=(
        "Create a group (e.g. `sshusers`), add the administrators and set "
        f"`AllowGroups sshusers` in /etc/ssh/sshd_config, {RELOAD}."
    ),
    references={
        "gdpr": ["32(1)(b)"],
        "hipaa": ["164.312(a)(1)", "164.308(a)(4)(ii)(B)"],
        "nist_800_53r5": ["AC-3", "AC-17"],
        "nist_csf_2_0": ["PR.AA-05"],
        "iso27001_2022": ["A.5.15", "A.8.3"],
        "nis2": ["21(2)(i)"],
        "anssi_hygiene": ["9"],
        "cis_ubuntu_2204_v2_0_0": ["5.1.4"],
    },
    facts=(FACT,),
)
def ssh_access_restricted(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    cfg = sshd_config(facts)
    if cfg is None:
        return _absent()
    present = [f"{k} {' '.join(cfg[k])}" for k in _ACCESS_KEYS if k in cfg]
    return judge(
        bool(present),
        f"SSH access limited by {_capped(present)}"
        if present
        else "no AllowUsers/AllowGroups/DenyUsers/DenyGroups: every local account may log in",
        _evidence("one of " + "/".join(_ACCESS_KEYS), _capped(present)),
    )


@check(
    title="SSH logs at INFO or VERBOSE level",
    severity="medium",
    rationale=(
        "Login successes, failures and key fingerprints are the audit trail for who "
        "accessed a server with patient data; QUIET/FATAL/ERROR levels drop them, DEBUG "
        "levels can log private user data."
    ),
    remediation=f"Set `LogLevel VERBOSE` (or INFO) in /etc/ssh/sshd_config, {RELOAD}.",
    references={
        "gdpr": ["32(1)(b)"],
        "hipaa": ["164.312(b)"],
        "nist_800_53r5": ["AU-2", "AU-3", "AU-12"],
        "nist_csf_2_0": ["PR.PS-04"],
        "iso27001_2022": ["A.8.15"],
        "anssi_hygiene": ["36"],
        "cis_controls_v8": ["8.2"],
        "cis_ubuntu_2204_v2_0_0": ["5.1.14"],
    },
    facts=FACTS,
    params={
        "allowed": Param(
            ["INFO", "VERBOSE"],
            "accepted LogLevel values",
            choices=(
                "QUIET",
                "FATAL",
                "ERROR",
                "INFO",
                "VERBOSE",
                "DEBUG",
                "DEBUG1",
                "DEBUG2",
                "DEBUG3",
            ),
        )
    },
)
def ssh_log_level(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    # sshd -T prints QUIET as SILENT.
    allowed = {a.upper().replace("QUIET", "SILENT") for a in params["allowed"]}
    return _keyword_check(
        facts, "loglevel", lambda v: v.upper() in allowed, " or ".join(params["allowed"])
    )


# -- cryptography ----------------------------------------------------------------------


def _weak_algorithms(
    facts: Facts, keywords: Iterable[str], patterns: Iterable[str], what: str
) -> Verdict:
    """Offered algorithms matching any weak pattern (shell-style, case-insensitive)."""
    cfg = sshd_config(facts)
    if cfg is None:
        return _absent()
    patterns = [p.lower() for p in patterns]
    offered = [a for k in keywords for a in cfg.get(k, ())]
    weak = [a for a in offered if any(fnmatchcase(a.lower(), p) for p in patterns)]
    expected = f"no {what} matching {', '.join(patterns)}"
    verdict = (
        failed(f"weak {what} offered: {_capped(weak)}", _evidence(expected, _capped(weak)))
        if weak
        else passed(
            f"no weak {what} among {len(offered)} offered", _evidence(expected, _capped(offered))
        )
    )
    return _with_conflicts(verdict, facts, *keywords)


_CRYPTO_REMEDIATION = (
    "List only strong algorithms explicitly in /etc/ssh/sshd_config (Debian/Ubuntu) or "
    "choose a crypto policy without them on RHEL (`update-crypto-policies --set DEFAULT` "
    f"or FUTURE, or a policy module), {RELOAD}."
)


@check(
    title="SSH offers no weak ciphers",
    severity="medium",
    rationale=(
        "CBC-mode, 3DES, RC4 (arcfour), Blowfish and CAST ciphers have practical attacks "
        "(plaintext recovery, Sweet32, Terrapin on CBC-EtM) against the channel that "
        "carries administrator credentials and data exports."
    ),
    remediation=(
        "Example: `Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,"
        "aes128-gcm@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr`. " + _CRYPTO_REMEDIATION
    ),
    references=_refs(CRYPTO_REFS, cis_ubuntu_2204_v2_0_0=["5.1.6"]),
    facts=FACTS,
    params={
        "weak": Param(
            list(WEAK_CIPHERS),
            "shell patterns of forbidden ciphers",
        )
    },
)
def ssh_weak_ciphers(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    return _weak_algorithms(facts, ("ciphers",), params["weak"], "ciphers")


@check(
    title="SSH offers no weak MACs",
    severity="medium",
    rationale=(
        "MD5 and SHA-1 based MACs, RIPEMD-160 and 64-bit tags (umac-64) are below the "
        "integrity strength ANSSI, BSI and ssh-audit recommend for administration traffic."
    ),
    remediation=(
        "Example: `MACs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com,"
        "umac-128-etm@openssh.com`. " + _CRYPTO_REMEDIATION
    ),
    references=_refs(CRYPTO_REFS, cis_ubuntu_2204_v2_0_0=["5.1.15"]),
    facts=FACTS,
    params={
        "weak": Param(
            list(WEAK_MACS),
            "shell patterns of forbidden MACs",
        )
    },
)
def ssh_weak_macs(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    return _weak_algorithms(facts, ("macs",), params["weak"], "MACs")


@check(
    title="SSH offers no weak key exchange algorithms",
    severity="medium",
    rationale=(
        "SHA-1 based and 1024-bit Diffie-Hellman key exchanges (group1, group14-sha1, "
        "group-exchange-sha1) are within reach of well-funded attackers (Logjam) and "
        "undermine the confidentiality of every session."
    ),
    remediation=(
        "Example: `KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,"
        "curve25519-sha256@libssh.org,diffie-hellman-group16-sha512,"
        "diffie-hellman-group18-sha512,diffie-hellman-group-exchange-sha256`. "
        + _CRYPTO_REMEDIATION
    ),
    references=_refs(CRYPTO_REFS, cis_ubuntu_2204_v2_0_0=["5.1.12"]),
    facts=FACTS,
    params={
        "weak": Param(
            list(WEAK_KEX),
            "shell patterns of forbidden key exchange algorithms",
        )
    },
)
def ssh_weak_kex(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    cfg = sshd_config(facts)
    keywords = ["kexalgorithms"]
    # GSSAPI key exchange algorithms are only offered when GSSAPIKeyExchange is on.
    if cfg is not None and cfg.flag("gssapikeyexchange"):
        keywords.append("gssapikexalgorithms")
    return _weak_algorithms(facts, keywords, params["weak"], "key exchange algorithms")


@check(
    title="SSH host keys are strong",
    severity="medium",
    rationale=(
        "The host key is what lets administrators detect a man-in-the-middle; DSA keys "
        "(1024-bit, removed from OpenSSH) and short RSA keys can be forged or factored."
    ),
    remediation=(
        "Remove DSA/short RSA HostKey lines and files, create a new key with "
        "`ssh-keygen -t ed25519 -f /etc/ssh/ssh_host_ed25519_key -N ''` (or "
        "`-t rsa -b 3072`), reference it with HostKey, "
        f"{RELOAD}; publish the new fingerprint to users."
    ),
    references=_refs(
        CRYPTO_REFS,
        nist_800_53r5=["SC-12", "SC-13", "IA-3"],
    ),
    facts=(FACT, "ssh_host_keys"),
    params={"min_rsa_bits": Param(2048, "smallest accepted RSA host key", minimum=1024)},
)
def ssh_weak_host_keys(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    cfg = sshd_config(facts)
    if cfg is None:
        return _absent()
    keys = parse_host_keys(facts.text("ssh_host_keys"))
    configured = set(cfg.get("hostkey", ()))
    # Only the keys sshd actually loads matter; unreferenced files are judged when
    # sshd -T lists no HostKey (never the case on OpenSSH >= 7, kept for safety).
    in_use = [k for k in keys if not configured or k.private_path in configured]
    unverified = sorted(configured - {k.private_path for k in keys})
    weak = [
        f"{k.private_path} ({k.type} {k.bits})"
        for k in in_use
        if k.type in ("DSA", "RSA1")
        or (k.type == "RSA" and k.bits < params["min_rsa_bits"])
        or k.type == "UNKNOWN"
    ]
    described = _capped(f"{k.private_path} ({k.type} {k.bits})" for k in in_use)
    expected = f"no DSA, RSA >= {params['min_rsa_bits']} bits"
    note = f"; no public key to assess for {', '.join(unverified)}" if unverified else ""
    if weak:
        return failed(
            f"weak host keys in use: {_capped(weak)}{note}",
            Evidence(expected, _capped(weak), "ssh_host_keys"),
        )
    if not in_use:
        return failed(
            f"no assessable host key found{note}",
            Evidence(expected, "no public host key files", "ssh_host_keys"),
        )
    return passed(f"host keys: {described}{note}", Evidence(expected, described, "ssh_host_keys"))


# -- files -----------------------------------------------------------------------------


@check(
    title="SSH configuration and host keys have safe ownership and modes",
    severity="medium",
    rationale=(
        "Whoever can write sshd_config or a drop-in can grant themselves root access at the "
        "next reload; whoever can read a private host key can impersonate the server."
    ),
    remediation=(
        "`chown root:root /etc/ssh/sshd_config /etc/ssh/sshd_config.d/*; "
        "chmod 0600 /etc/ssh/sshd_config /etc/ssh/sshd_config.d/*` (0644 is accepted by "
        "the default max_config_mode); `chown root:root /etc/ssh/ssh_host_*_key; "
        "chmod 0600 /etc/ssh/ssh_host_*_key` (RHEL: root:ssh_keys 0640 is accepted)."
    ),
    references={
        "gdpr": ["32(1)(b)"],
        "nist_800_53r5": ["AC-3", "AC-6", "CM-6"],
        "nist_csf_2_0": ["PR.AA-05", "PR.PS-01"],
        "iso27001_2022": ["A.8.3", "A.8.9"],
        "cis_ubuntu_2204_v2_0_0": ["5.1.1", "5.1.2"],
    },
    facts=(FACT, "sshd_file_modes"),
    params={
        "max_config_mode": Param(
            "0644",
            "most permissive mode for sshd_config and drop-ins (CIS: 0600)",
            choices=("0600", "0640", "0644"),
        ),
        "key_groups": Param(
            ["root", "ssh_keys"], "groups that may have read access to private host keys"
        ),
    },
)
def ssh_config_permissions(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    if facts.get(FACT).command_missing:
        return _absent()
    entries = parse_file_modes(facts.text("sshd_file_modes"))
    max_config = int(params["max_config_mode"], 8)
    problems = []
    for e in entries:
        is_key = "/ssh_host_" in e.path and e.path.endswith("_key")
        if e.owner != "root":
            problems.append(f"{e.path} owned by {e.owner}")
        if is_key:
            allowed = 0o640 if e.group in params["key_groups"] else 0o600
            if e.mode & ~allowed & 0o7777:
                problems.append(f"{e.path} mode {e.mode:04o} group {e.group}")
        elif e.is_dir:
            if e.mode & 0o022:
                problems.append(f"{e.path} mode {e.mode:04o} (group/world writable)")
        elif e.mode & ~max_config & 0o7777:
            problems.append(f"{e.path} mode {e.mode:04o}")
    expected = (
        f"config root-owned, mode <= {params['max_config_mode']}; private keys root-owned "
        f"0600 (0640 with group in {params['key_groups']})"
    )
    if not entries:
        return failed(
            "/etc/ssh/sshd_config not found", Evidence(expected, "no files", "sshd_file_modes")
        )
    if problems:
        return failed(
            f"unsafe SSH file permissions: {_capped(problems)}",
            Evidence(expected, _capped(problems), "sshd_file_modes"),
        )
    return passed(
        f"{len(entries)} SSH configuration/key paths have safe ownership and modes",
        Evidence(
            expected,
            _capped(f"{e.mode:04o} {e.owner}:{e.group} {e.path}" for e in entries),
            "sshd_file_modes",
        ),
    )
