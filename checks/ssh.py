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

from hygie.checks._ssh_crypto import WEAK_CIPHERS, WEAK_KEX, WEAK_MACS
from hygie.checks._sshd import (
    FACT,
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
    FileMode,
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
from hygie.text import capped

BANNER_FACT = "sshd_banner_file"
#: What checks that judge sshd -T keywords read: the trace only adds the lines of a
#: keyword set twice to their evidence.
FACTS = (FACT, TEST_FACT)


def _absent() -> Verdict:
    return not_applicable("sshd is not installed (sshd -T: command not found)")


def _evidence(expected: str, actual: str) -> Evidence:
    return Evidence(expected=expected, actual=actual, fact=FACT)


def _capped(items: Iterable[str], limit: int = 50, sep: str = ", ") -> str:
    return capped(items, limit, sep) or "none"


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
    facts=FACTS,
)
def ssh_permit_empty_passwords(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    return _keyword_check(facts, "permitemptypasswords", lambda v: v.lower() == "no", "no")


@check(
    facts=FACTS,
    params={"maximum": Param(4, "highest accepted MaxAuthTries", minimum=1, maximum=100)},
)
def ssh_max_auth_tries(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    limit = params["maximum"]
    return _keyword_check(facts, "maxauthtries", lambda v: 0 < _int(v) <= limit, f"<= {limit}")


@check(
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
    facts=FACTS,
)
def ssh_x11_forwarding(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    return _forwarding_check(facts, "x11forwarding", ("no",))


@check(
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
        verdict = _banner_file_verdict(value, facts.parsed(BANNER_FACT, parse_banner_file))
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


@check(
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
    facts=(FACT, "ssh_host_keys"),
    params={"min_rsa_bits": Param(2048, "smallest accepted RSA host key", minimum=1024)},
)
def ssh_weak_host_keys(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    cfg = sshd_config(facts)
    if cfg is None:
        return _absent()
    keys = facts.parsed("ssh_host_keys", parse_host_keys)
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


def _mode_problems(e: FileMode, max_config: int, key_groups: list[str]) -> list[str]:
    """What is unsafe about one SSH path: every path root-owned; a private host key readable
    only by root (or by a group in ``key_groups``); a directory not group/world writable; a
    configuration file no more permissive than ``max_config``."""
    problems = [f"{e.path} owned by {e.owner}"] if e.owner != "root" else []
    if "/ssh_host_" in e.path and e.path.endswith("_key"):
        allowed = 0o640 if e.group in key_groups else 0o600
        if e.mode & ~allowed & 0o7777:
            problems.append(f"{e.path} mode {e.mode:04o} group {e.group}")
    elif e.is_dir:
        if e.mode & 0o022:
            problems.append(f"{e.path} mode {e.mode:04o} (group/world writable)")
    elif e.mode & ~max_config & 0o7777:
        problems.append(f"{e.path} mode {e.mode:04o}")
    return problems


@check(
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
    entries = facts.parsed("sshd_file_modes", parse_file_modes)
    max_config = int(params["max_config_mode"], 8)
    problems = [p for e in entries for p in _mode_problems(e, max_config, params["key_groups"])]
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
