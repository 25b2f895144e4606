"""Account checks: what is stored per account (empty, weak or never-expiring passwords),
UID 0 accounts, root reachable with a password over SSH, and the default umask.

Thresholds are parameters, as for the password checks (:mod:`hygie.checks.password`);
the accepted hashes and what "expiry" means come from the policy both share
(:mod:`hygie.checks._password_policy`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hygie.checks import _sshd
from hygie.checks._password_policy import (
    EXPIRY_PARAMS,
    HASH_CHOICES,
    NO_EXPIRY_DAYS,
    STRONG_HASHES,
    expected_expiry,
    listing,
    login_defs,
    problems_verdict,
)
from hygie.facts.accounts import (
    ShadowEntry,
    UmaskSetting,
    parse_passwd,
    parse_shadow_summary,
    parse_umask_sources,
    parse_umask_value,
)
from hygie.facts.password import parse_pam_d
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

# umask_default judges an account default (login.defs UMASK, pam_umask, shell start-up files).
ID_PREFIXES = ("accounts_", "umask_")

# ------------------------------------------------------------------ accounts


def _shadow(facts: Facts) -> tuple[ShadowEntry, ...]:
    return facts.parsed("shadow_summary", parse_shadow_summary)


@check(
    facts=("shadow_summary", "etc_passwd"),
)
def accounts_empty_password(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    offenders = [f"{e.name} (shadow)" for e in _shadow(facts) if e.scheme == "empty"]
    offenders += [
        f"{p.name} (/etc/passwd line {p.lineno})"
        for p in facts.parsed("etc_passwd", parse_passwd)
        if p.password == ""
    ]
    return problems_verdict(
        offenders,
        "no account has an empty password field",
        "accounts with an empty password",
        "no empty password field",
        "shadow_summary",
    )


@check(
    facts=("shadow_summary",),
    params={
        "allowed": Param(list(STRONG_HASHES), "accepted hash algorithms", choices=HASH_CHOICES),
        "include_locked": Param(False, "also report weak hashes of locked accounts"),
    },
)
def accounts_weak_hash(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    allowed = set(params["allowed"])
    offenders = [
        f"{e.name} ({e.scheme}{', locked' if e.locked else ''})"
        for e in _shadow(facts)
        if e.scheme not in allowed
        and e.scheme not in ("none", "empty", "unknown")
        and (params["include_locked"] or not e.locked)
    ]
    return problems_verdict(
        offenders,
        "every stored password hash uses an accepted algorithm",
        "weak stored password hashes",
        f"hashes in {sorted(allowed)}",
        "shadow_summary",
    )


@check(
    facts=("etc_passwd",),
    params={"allowed": Param(["root"], "accounts allowed to have UID 0")},
)
def accounts_uid0_only_root(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    entries = facts.parsed("etc_passwd", parse_passwd)
    uid0 = [e.name for e in entries if e.uid == 0]
    extra = [n for n in uid0 if n not in params["allowed"]]
    return judge(
        not extra,
        f"UID 0 accounts: {listing(uid0) or 'none'}",
        Evidence(f"only {', '.join(params['allowed'])}", listing(uid0) or "none", "etc_passwd"),
    )


_ROOT_EXPECTED = (
    "root password locked, or PermitRootLogin prohibit-password, forced-commands-only or no"
)


@check(
    facts=("shadow_summary", _sshd.FACT),
)
def accounts_root_access(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    root = next((e for e in _shadow(facts) if e.name == "root"), None)
    if root is None:
        return errored(
            "/etc/shadow has no root entry: root's password cannot be assessed",
            Evidence(_ROOT_EXPECTED, "no root line in /etc/shadow", "shadow_summary"),
        )
    if root.scheme == "empty":
        return failed(
            "root has an empty password: anyone at a login prompt, or running su, becomes root "
            "without any credential",
            Evidence(_ROOT_EXPECTED, "root: empty password field", "shadow_summary"),
        )
    if root.locked or root.scheme == "none":
        state = "locked" if root.locked else "no password hash"
        return passed(
            f"root has no usable password ({state})",
            Evidence(_ROOT_EXPECTED, f"root: {state}", "shadow_summary"),
        )
    # A real (or unrecognised, so possibly real) hash: whether SSH accepts it decides.
    cfg = _sshd.sshd_config(facts)
    if cfg is None:
        return not_applicable("sshd is not installed (sshd -T: command not found)")
    mode = _sshd.root_login(cfg.value("permitrootlogin"))
    if mode not in _sshd.ROOT_ORDER:
        raise MissingFact(_sshd.FACT, f"sshd -T printed no usable permitrootlogin ({mode!r})")
    methods = _sshd.password_methods(cfg)
    password = f"root: usable {root.scheme} password"
    ssh = f"permitrootlogin {mode}; " + (", ".join(methods) or "no password authentication")
    evidence = (
        Evidence(_ROOT_EXPECTED, password, "shadow_summary"),
        Evidence(_ROOT_EXPECTED, ssh, _sshd.FACT),
    )
    if mode != "yes":
        return passed(f"root has a usable password, but sshd: permitrootlogin {mode}", *evidence)
    if not methods:
        return passed("root has a usable password, but sshd accepts no password", *evidence)
    if _sshd.publickey_required(cfg):
        return passed(
            "root has a usable password, but sshd asks for a public key first "
            f"(authenticationmethods {cfg.value('authenticationmethods')})",
            *evidence,
        )
    return failed(
        f"root has a usable {root.scheme} password and sshd accepts it from the network: {ssh}",
        *evidence,
    )


def _aging_problems(e: ShadowEntry, params: Mapping[str, Any]) -> list[str]:
    """What is wrong with one user's shadow aging fields under the policy."""
    problems = []
    never = e.max is None or e.max < 0 or e.max >= NO_EXPIRY_DAYS
    if never and params["require_expiry"]:
        problems.append("never expires")
    if not never and params["forbid_expiry"]:
        problems.append(f"forced expiry every {e.max} days")
    if not never and params["require_expiry"] and (e.max or 0) > params["max_days"]:
        problems.append(f"max {e.max}")
    if (e.min or 0) < params["min_days"]:
        problems.append(f"min {e.min if e.min is not None else 'unset'}")
    if not never:
        warn_days = params["warn_days"]  # 0: not checked, so an unset field is no problem
        if warn_days > 0 and (e.warn if e.warn is not None else -1) < warn_days:
            problems.append(f"warn {e.warn if e.warn is not None else 'unset'}")
        limit = params["inactive_days"]
        if limit >= 0 and (e.inactive is None or e.inactive < 0 or e.inactive > limit):
            problems.append(f"inactive {e.inactive if e.inactive is not None else 'unset'}")
    return problems


@check(
    facts=("shadow_summary",),
    params={
        **EXPIRY_PARAMS,
        "min_days": Param(1, "minimum days between password changes (0: not checked)", minimum=0),
        "warn_days": Param(7, "days of warning before expiry (0: not checked)", minimum=0),
        "inactive_days": Param(
            45, "max days after expiry before locking (-1: not checked)", minimum=-1
        ),
        "exempt_users": Param([], "users not judged (e.g. break-glass accounts)"),
    },
)
def accounts_password_aging(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    users = [
        e for e in _shadow(facts) if e.has_usable_password and e.name not in params["exempt_users"]
    ]
    if not users:
        return passed(
            "no account has a usable password",
            Evidence("aging per policy", "no account with a usable password", "shadow_summary"),
        )
    offenders = [f"{e.name} ({', '.join(p)})" for e in users if (p := _aging_problems(e, params))]
    return problems_verdict(
        offenders,
        f"{len(users)} account(s) with a usable password follow the aging policy",
        "password aging out of policy",
        expected_expiry(params) + f", min >= {params['min_days']}, warn >= {params['warn_days']}",
        "shadow_summary",
    )


# ------------------------------------------------------------------ umask


def _umask_settings(facts: Facts) -> list[UmaskSetting]:
    """Every place that sets a default umask: login.defs UMASK (login(1), pam_umask,
    useradd home directories), pam_umask ``umask=`` arguments and shell start-up files."""
    found: list[UmaskSetting] = []
    defs = login_defs(facts)
    if "UMASK" in defs:
        s = defs["UMASK"]
        found.append(UmaskSetting(parse_umask_value(s.value), f"UMASK {s.value}", s.source))
    pam = facts.parsed("pam_d", parse_pam_d)
    for rule in pam.all_rules():
        if rule.name == "pam_umask" and rule.option("umask") is not None:
            value = rule.option("umask") or ""
            found.append(UmaskSetting(parse_umask_value(value), rule.render(), rule.where))
    found.extend(facts.parsed("umask_sources", parse_umask_sources))
    return found


def _describe(settings: Iterable[UmaskSetting]) -> list[str]:
    return [f"{s.source}: {s.text}" for s in settings]


@check(
    facts=("login_defs", "pam_d", "umask_sources"),
    params={"umask": Param("027", "required umask, or any stricter one (octal)")},
)
def umask_default(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    required = parse_umask_value(params["umask"])
    if required is None:
        return errored(f"policy parameter umask={params['umask']!r} is not an octal umask")
    settings = _umask_settings(facts)
    known = [s for s in settings if s.value is not None]
    weak = [s for s in known if s.value is not None and s.value & required != required]
    strong = [s for s in known if s not in weak]
    unknown = [s for s in settings if s.value is None]
    expected = f"umask {params['umask']} or stricter everywhere, set at least once"
    actual = listing(_describe(settings)) or "no umask set anywhere (kernel default 022)"
    evidence = Evidence(expected, actual, "umask_sources")
    note = f"; not interpreted: {listing(_describe(unknown))}" if unknown else ""
    if weak:
        return failed(f"weaker umask set: {listing(_describe(weak))}{note}", evidence)
    if not strong:
        return failed(f"no umask {params['umask']} or stricter is set{note}", evidence)
    return passed(f"umask set by {listing(_describe(strong))}{note}", evidence)
