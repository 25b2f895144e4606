"""Accounts and password policy checks.

Every threshold is a parameter so that one set of checks serves contradictory frameworks:
CIS (14 characters, complexity, 365-day expiry, lockout after 5 failures for 15 minutes),
NIST SP 800-63B (15 characters, no composition rules, no forced expiry, a blocklist) and
ANSSI (12/16 characters; BP-028: 3 failures / 900 s). Where a framework forbids what
another requires (expiry, composition rules) the check has both a ``require_*`` and a
``forbid_*`` switch.

PAM-based checks judge the *shared* stacks every service includes: ``common-<type>`` on
Debian/Ubuntu, ``system-auth`` and ``password-auth`` on RHEL (both must comply, since
sshd uses password-auth while console logins, su and passwd use system-auth).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from hygie.checks import _sshd
from hygie.facts.accounts import (
    FAILLOCK_DEFAULTS,
    PWHISTORY_DEFAULTS,
    PamConfig,
    PamRule,
    PamStack,
    Setting,
    ShadowEntry,
    UmaskSetting,
    module_options,
    normalise_encrypt_method,
    pam_unix_hash,
    parse_login_defs,
    parse_option_conf,
    parse_pam_d,
    parse_passwd,
    parse_pwquality_files,
    parse_shadow_summary,
    parse_shell_vars,
    parse_umask_sources,
    parse_umask_value,
    password_quality,
    shared_stacks,
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

# Hash schemes a policy may accept (names as in the shadow summary and ENCRYPT_METHOD).
HASH_CHOICES = (
    "yescrypt",
    "gost_yescrypt",
    "sha512",
    "sha256",
    "bcrypt",
    "scrypt",
    "md5",
    "des",
    "bigcrypt",
    "bsdi_des",
    "sha1",
    "sun_md5",
)
STRONG_HASHES = ["yescrypt", "sha512"]
# PASS_MAX_DAYS / shadow max at or above this is "never expires" (99999 by convention).
NO_EXPIRY_DAYS = 10000
MAX_LISTED = 50

# ------------------------------------------------------------------ reference sets


# ------------------------------------------------------------------ shared helpers


def _optional_text(facts: Facts, name: str) -> str | None:
    """A file fact's text, or None when the file is absent (``cat`` exits 1 without a
    permission error). Anything else raises MissingFact through ``facts.text``."""
    fact = facts.get(name)
    if fact.exit_status == 1 and "ermission denied" not in fact.stderr_text:
        return None
    return facts.text(name)


def _login_defs(facts: Facts) -> dict[str, Setting]:
    text = _optional_text(facts, "login_defs")
    return parse_login_defs(text) if text is not None else {}


def _conf(facts: Facts, name: str, path: str) -> dict[str, Setting]:
    text = _optional_text(facts, name)
    return parse_option_conf(text, path) if text is not None else {}


def _listing(items: Sequence[str], limit: int = MAX_LISTED) -> str:
    """Offenders joined for evidence, capped so one bad host cannot flood a report."""
    shown = ", ".join(items[:limit])
    return f"{shown} (+{len(items) - limit} more)" if len(items) > limit else shown


def _int_setting(
    values: Mapping[str, Setting], key: str, default: int, origin: str
) -> tuple[int | None, str]:
    """(value, where it came from); absent keys get the tool's default, unparsable None."""
    setting = values.get(key)
    if setting is None:
        return default, f"{key} not set ({origin} default {default})"
    return setting.as_int(), f"{key}={setting.value} ({setting.source})"


StackAssessment = Callable[[PamStack], tuple[bool, str]]


def _judge_stacks(
    facts: Facts, ptype: str, assess: StackAssessment, expected: str, what: str
) -> Verdict:
    """Apply ``assess`` to every shared stack of ``ptype``: all must comply.

    One evidence line per stack so that a RHEL host with a compliant system-auth but a
    weak password-auth (what sshd uses) is reported precisely.
    """
    pam = parse_pam_d(facts.text("pam_d"))
    stacks = shared_stacks(pam, ptype)
    if not stacks:
        return errored(
            f"no shared PAM {ptype} stack (common-{ptype}, system-auth, password-auth) "
            "was collected: cannot assess",
            Evidence(expected, "no shared PAM stack found", "pam_d"),
        )
    outcomes = []
    for stack in stacks:
        ok, detail = assess(stack)
        if stack.unresolved:
            detail += f" [includes not collected: {', '.join(stack.unresolved)}]"
        outcomes.append((ok, stack.service, detail))
    bad = [f"{svc}: {d}" for ok, svc, d in outcomes if not ok]
    evidence = [Evidence(expected, f"{svc}: {d}", "pam_d") for _, svc, d in outcomes]
    if bad:
        return failed(f"{what}: " + "; ".join(bad), *evidence)
    return passed(f"{what}: " + "; ".join(f"{s}: {d}" for _, s, d in outcomes), *evidence)


def _problems_verdict(
    problems: list[str], ok_message: str, fail_prefix: str, expected: str, fact: str
) -> Verdict:
    """One fail listing every offender, or a pass, with the same evidence shape."""
    if problems:
        return failed(
            f"{fail_prefix}: {_listing(problems)}",
            Evidence(expected, _listing(problems), fact),
        )
    return passed(ok_message, Evidence(expected, ok_message, fact))


# ------------------------------------------------------------------ password quality


@check(
    facts=("pam_d", "pwquality_conf", "login_defs"),
    params={
        "min_length": Param(14, "shortest acceptable password length", minimum=6, maximum=128),
        "count_credits": Param(
            True,
            "judge the shortest length pwquality accepts once positive dcredit/ucredit/"
            "lcredit/ocredit credits are counted (a password earns length for classes)",
        ),
    },
)
def password_min_length(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    pwq = parse_pwquality_files(facts.text("pwquality_conf"))
    defs = _login_defs(facts)
    wanted = params["min_length"]

    def assess(stack: PamStack) -> tuple[bool, str]:
        q = password_quality(stack, pwq)
        if not q.module:
            return False, "no password rule in the stack"
        minlen = q.get("minlen")
        source = minlen.source if minlen else "default"
        detail = f"{q.module} minlen={q.minlen} ({source})"
        if not q.enforced:
            return False, detail + " but not enforced (enforcing=0 or a non-failing control)"
        length = q.shortest_accepted if params["count_credits"] else q.minlen
        if q.positive_credits and params["count_credits"]:
            detail += f", class credits {q.positive_credits} -> shortest accepted {length}"
        if length < wanted:
            return False, f"{detail} -> {length} < {wanted}"
        return True, detail

    verdict = _judge_stacks(
        facts, "password", assess, f"minimum length >= {wanted}", "password minimum length"
    )
    if "PASS_MIN_LEN" in defs:
        s = defs["PASS_MIN_LEN"]
        note = f"login.defs PASS_MIN_LEN={s.value} ({s.source}) ignored: PAM decides"
        return Verdict(verdict.status, f"{verdict.message}; {note}", verdict.evidence)
    return verdict


@check(
    facts=("pam_d", "pwquality_conf"),
    params={
        "require_complexity": Param(True, "require character-class rules (CIS, ANSSI)"),
        "min_classes": Param(3, "character classes a password must mix", minimum=1, maximum=4),
        "forbid_complexity": Param(
            False, "fail when composition rules are imposed (NIST SP 800-63B)"
        ),
        "require_dictcheck": Param(True, "require the dictionary/blocklist check"),
    },
)
def password_complexity(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    need_cls, forbid, need_dict = (
        params["require_complexity"],
        params["forbid_complexity"],
        params["require_dictcheck"],
    )
    if not (need_cls or forbid or need_dict):
        return not_applicable("the policy requires neither composition rules nor a blocklist")
    pwq = parse_pwquality_files(facts.text("pwquality_conf"))
    wanted = []
    if need_cls:
        wanted.append(f">= {params['min_classes']} character classes")
    if forbid:
        wanted.append("no composition rules")
    if need_dict:
        wanted.append("dictcheck on")

    def assess(stack: PamStack) -> tuple[bool, str]:
        q = password_quality(stack, pwq)
        if q.module not in ("pam_pwquality", "pam_cracklib"):
            ok = not (need_cls or need_dict)
            return ok, "no pam_pwquality/pam_cracklib in the password stack"
        classes, named = q.required_classes
        minclass = q.get("minclass")
        detail = f"{q.module}: minclass={classes}"
        if minclass:
            detail += f" ({minclass.source})"
        if named:
            detail += f", required classes: {', '.join(named)}"
        detail += f", dictcheck={'on' if q.dictcheck else 'off'}"
        if not q.enforced:
            return not (need_cls or need_dict), detail + ", not enforced"
        problems = []
        if need_cls and classes < params["min_classes"]:
            problems.append(f"{classes} classes < {params['min_classes']}")
        if forbid and (classes >= 2 or named):
            problems.append("composition rules imposed")
        if need_dict and not q.dictcheck:
            problems.append("no dictionary check")
        if problems:
            return False, f"{detail} -> {'; '.join(problems)}"
        return True, detail

    return _judge_stacks(facts, "password", assess, ", ".join(wanted), "password complexity")


@check(
    facts=("pam_d", "pwhistory_conf"),
    params={"remember": Param(24, "previous passwords that cannot be reused", minimum=1)},
)
def password_history(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    conf = _conf(facts, "pwhistory_conf", "/etc/security/pwhistory.conf")
    wanted = params["remember"]

    def assess(stack: PamStack) -> tuple[bool, str]:
        best, details = 0, []
        for rule in stack.modules("pam_pwhistory"):
            opts = module_options(rule, conf, PWHISTORY_DEFAULTS)
            value = opts["remember"].as_int() or 0
            if not rule.enforcing:
                details.append(f"pam_pwhistory at {rule.where} cannot fail ({rule.control})")
                continue
            best = max(best, value)
            details.append(f"pam_pwhistory remember={value} ({opts['remember'].source})")
        for rule in stack.modules("pam_unix"):
            value = rule.option("remember")
            if value is not None and value.isdigit():
                best = max(best, int(value))
                details.append(f"pam_unix remember={value} ({rule.where}, MD5 history)")
        if not details:
            return False, "no pam_pwhistory and no pam_unix remember="
        if best < wanted:
            return False, f"{'; '.join(details)} -> {best} < {wanted}"
        return True, "; ".join(details)

    return _judge_stacks(facts, "password", assess, f"remember >= {wanted}", "password history")


# ------------------------------------------------------------------ login.defs aging


def _max_days_verdict(
    value: int | None, where: str, params: Mapping[str, Any], fact: str, who: str
) -> tuple[bool, str]:
    """Shared max-age logic for login.defs defaults: (ok, description)."""
    never = value is None or value < 0 or value >= NO_EXPIRY_DAYS
    if params["forbid_expiry"] and not never:
        return False, f"{who} forces a password change every {value} days ({where})"
    if never:
        return not params["require_expiry"], f"{who}: passwords never expire ({where})"
    if params["require_expiry"] and value is not None and value > params["max_days"]:
        return False, f"{who}: maximum age {value} days ({where})"
    return True, f"{who}: maximum age {value} days ({where})"


def _expected_expiry(params: Mapping[str, Any]) -> str:
    if params["forbid_expiry"]:
        return "no forced periodic password change"
    if params["require_expiry"]:
        return f"maximum password age <= {params['max_days']} days"
    return "any maximum age (expiry not required)"


_EXPIRY_PARAMS = {
    "max_days": Param(365, "longest allowed password lifetime in days", minimum=1),
    "require_expiry": Param(True, "passwords must expire (CIS, ANSSI); False for NIST"),
    "forbid_expiry": Param(
        False, "fail when periodic expiry is forced (NIST SP 800-63B: SHALL NOT)"
    ),
}


@check(
    facts=("login_defs",),
    params=dict(_EXPIRY_PARAMS),
)
def password_max_age(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    defs = _login_defs(facts)
    value, where = _int_setting(defs, "PASS_MAX_DAYS", -1, "shadow")
    ok, detail = _max_days_verdict(value, where, params, "login_defs", "PASS_MAX_DAYS")
    return judge(ok, detail, Evidence(_expected_expiry(params), detail, "login_defs"))


def _login_defs_minimum(facts: Facts, key: str, default: int, minimum: int, what: str) -> Verdict:
    """``key`` in login.defs must be at least ``minimum`` (absent -> shadow's default)."""
    value, where = _int_setting(_login_defs(facts), key, default, "shadow")
    ok = value is not None and value >= minimum
    return judge(ok, f"{what}: {where}", Evidence(f"{key} >= {minimum}", where, "login_defs"))


@check(
    facts=("login_defs",),
    params={"min_days": Param(1, "days before a password may be changed again", minimum=0)},
)
def password_min_age(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    return _login_defs_minimum(
        facts, "PASS_MIN_DAYS", 0, params["min_days"], "minimum password age"
    )


@check(
    facts=("login_defs",),
    params={"warn_days": Param(7, "days of warning before expiry", minimum=0)},
)
def password_warn_age(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    return _login_defs_minimum(
        facts, "PASS_WARN_AGE", -1, params["warn_days"], "password expiry warning"
    )


@check(
    facts=("useradd_defaults", "login_defs"),
    params={"max_days": Param(45, "days after expiry before the account locks", minimum=0)},
)
def password_inactive_lock(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    text = _optional_text(facts, "useradd_defaults")
    values = parse_shell_vars(text, "/etc/default/useradd") if text is not None else {}
    value, where = _int_setting(values, "INACTIVE", -1, "useradd")
    ok = value is not None and 0 <= value <= params["max_days"]
    message = f"inactivity lock: {where}"
    max_age, _ = _int_setting(_login_defs(facts), "PASS_MAX_DAYS", -1, "shadow")
    if max_age is None or max_age < 0 or max_age >= NO_EXPIRY_DAYS:
        message += " (note: PASS_MAX_DAYS sets no expiry, so inactivity never starts)"
    return judge(
        ok, message, Evidence(f"0 <= INACTIVE <= {params['max_days']}", where, "useradd_defaults")
    )


# ------------------------------------------------------------------ lockout


def _lockout_problems(
    rule: PamRule, opts: Mapping[str, Setting], params: Mapping[str, Any]
) -> tuple[list[str], str]:
    """Problems with one lockout module instance's deny/unlock_time, and a description."""
    deny = opts.get("deny")
    unlock = opts.get("unlock_time")
    deny_v = deny.as_int() if deny else 0
    unlock_raw = unlock.value if unlock else "0"
    unlock_v = 0 if unlock_raw == "never" else (unlock.as_int() if unlock else 0)
    desc = (
        f"deny={deny_v} ({deny.source if deny else 'not set'}), "
        f"unlock_time={unlock_raw} ({unlock.source if unlock else 'not set: never'})"
    )
    problems = []
    if not deny_v:
        problems.append("deny not set: no lockout")
    elif deny_v > params["max_deny"]:
        problems.append(f"deny={deny_v} > {params['max_deny']}")
    if unlock_v is None:
        problems.append(f"unlock_time={unlock_raw} unparsable")
    elif unlock_v == 0 and not params["allow_never_unlock"]:
        problems.append("unlock_time=0 (admin unlock) not allowed by policy")
    elif 0 < unlock_v < params["min_unlock_time"]:
        problems.append(f"unlock_time={unlock_v} < {params['min_unlock_time']}")
    if params["require_even_deny_root"] and "even_deny_root" not in opts:
        problems.append("root is not locked (even_deny_root absent)")
    return problems, desc


@check(
    facts=("pam_d", "faillock_conf"),
    params={
        "max_deny": Param(5, "failures allowed before lockout (deny)", minimum=1),
        "min_unlock_time": Param(900, "minimum automatic unlock delay in seconds", minimum=0),
        "allow_never_unlock": Param(True, "accept unlock_time=0 (only an administrator unlocks)"),
        "require_even_deny_root": Param(False, "require even_deny_root (root is locked too)"),
    },
)
def password_lockout(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    conf = _conf(facts, "faillock_conf", "/etc/security/faillock.conf")

    def assess(stack: PamStack) -> tuple[bool, str]:
        faillock = list(stack.modules("pam_faillock"))
        tally = stack.modules("pam_tally2", "pam_tally")
        problems: list[str] = []
        descs: list[str] = []
        if faillock:
            modes = {a for r in faillock for a in r.args}
            if "authfail" not in modes:
                problems.append("no `pam_faillock authfail` line: failures are not counted")
            if not modes & {"preauth", "authsucc"}:
                problems.append("neither preauth nor authsucc: locked users still get in")
            for rule in faillock:
                own_conf = rule.option("conf")
                file_conf = conf if own_conf in (None, "/etc/security/faillock.conf") else {}
                if own_conf and not file_conf:
                    problems.append(f"{rule.where} reads {own_conf}, which was not collected")
                found, desc = _lockout_problems(
                    rule, module_options(rule, file_conf, FAILLOCK_DEFAULTS), params
                )
                problems += found
                descs.append(desc)
        elif tally:
            for rule in tally:
                found, desc = _lockout_problems(rule, rule.settings(), params)
                problems += found
                descs.append(desc)
        else:
            return False, "no pam_faillock or pam_tally2 in the auth stack"
        rules = faillock or list(tally)
        modes = [a for r in rules for a in r.args if a in ("preauth", "authfail", "authsucc")]
        label = " ".join([rules[0].name, "/".join(dict.fromkeys(modes))]).strip()
        detail = f"{label}: " + "; ".join(dict.fromkeys(descs))
        if problems:
            return False, f"{detail} -> {'; '.join(dict.fromkeys(problems))}"
        return True, detail

    expected = f"deny <= {params['max_deny']}, unlock_time >= {params['min_unlock_time']}"
    if params["allow_never_unlock"]:
        expected += " or 0"
    return _judge_stacks(facts, "auth", assess, expected, "account lockout")


# ------------------------------------------------------------------ pam_unix


@check(
    facts=("pam_d",),
)
def password_nullok_absent(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    pam: PamConfig = parse_pam_d(facts.text("pam_d"))
    offenders = [
        f"{r.where} ({r.type} {' '.join(a for a in r.args if a.startswith('nullok'))})"
        for r in pam.all_rules()
        if r.name == "pam_unix" and any(a in ("nullok", "nullok_secure") for a in r.args)
    ]
    return _problems_verdict(
        offenders,
        "no pam_unix line carries nullok",
        "pam_unix accepts empty passwords",
        "no nullok on pam_unix",
        "pam_d",
    )


@check(
    facts=("login_defs", "pam_d"),
    params={
        "allowed": Param(list(STRONG_HASHES), "accepted hash algorithms", choices=HASH_CHOICES)
    },
)
def password_hash_method(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    allowed = set(params["allowed"])
    defs = _login_defs(facts)
    method = defs.get("ENCRYPT_METHOD")
    defs_hash = normalise_encrypt_method(method.value) if method else "des"
    defs_where = (
        f"ENCRYPT_METHOD={method.value} ({method.source})"
        if method
        else ("ENCRYPT_METHOD not set (shadow default DES)")
    )
    evidence = [Evidence(f"one of {sorted(allowed)}", f"login.defs {defs_where}", "login_defs")]
    bad = [f"login.defs {defs_where}"] if defs_hash not in allowed else []
    pam = parse_pam_d(facts.text("pam_d"))
    for stack in shared_stacks(pam, "password"):
        for rule in stack.modules("pam_unix"):
            algo = pam_unix_hash(rule)
            where = (
                f"{stack.service} pam_unix {algo} ({rule.where})"
                if algo
                else f"{stack.service} pam_unix has no hash option ({rule.where}): "
                f"uses ENCRYPT_METHOD -> {defs_hash}"
            )
            evidence.append(Evidence(f"one of {sorted(allowed)}", where, "pam_d"))
            if (algo or defs_hash) not in allowed:
                bad.append(where)
    if bad:
        return failed(f"weak password hashing: {'; '.join(bad)}", *evidence)
    return passed("passwords are hashed with " + ", ".join(e.actual for e in evidence), *evidence)


# ------------------------------------------------------------------ accounts


def _shadow(facts: Facts) -> tuple[ShadowEntry, ...]:
    return parse_shadow_summary(facts.text("shadow_summary"))


@check(
    facts=("shadow_summary", "etc_passwd"),
)
def accounts_empty_password(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    offenders = [f"{e.name} (shadow)" for e in _shadow(facts) if e.scheme == "empty"]
    offenders += [
        f"{p.name} (/etc/passwd line {p.lineno})"
        for p in parse_passwd(facts.text("etc_passwd"))
        if p.password == ""
    ]
    return _problems_verdict(
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
    return _problems_verdict(
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
    entries = parse_passwd(facts.text("etc_passwd"))
    uid0 = [e.name for e in entries if e.uid == 0]
    extra = [n for n in uid0 if n not in params["allowed"]]
    return judge(
        not extra,
        f"UID 0 accounts: {_listing(uid0) or 'none'}",
        Evidence(f"only {', '.join(params['allowed'])}", _listing(uid0) or "none", "etc_passwd"),
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
        **_EXPIRY_PARAMS,
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
    return _problems_verdict(
        offenders,
        f"{len(users)} account(s) with a usable password follow the aging policy",
        "password aging out of policy",
        _expected_expiry(params) + f", min >= {params['min_days']}, warn >= {params['warn_days']}",
        "shadow_summary",
    )


# ------------------------------------------------------------------ umask


def _umask_settings(facts: Facts) -> list[UmaskSetting]:
    """Every place that sets a default umask: login.defs UMASK (login(1), pam_umask,
    useradd home directories), pam_umask ``umask=`` arguments and shell start-up files."""
    found: list[UmaskSetting] = []
    defs = _login_defs(facts)
    if "UMASK" in defs:
        s = defs["UMASK"]
        found.append(UmaskSetting(parse_umask_value(s.value), f"UMASK {s.value}", s.source))
    pam = parse_pam_d(facts.text("pam_d"))
    for rule in pam.all_rules():
        if rule.name == "pam_umask" and rule.option("umask") is not None:
            value = rule.option("umask") or ""
            found.append(UmaskSetting(parse_umask_value(value), rule.render(), rule.where))
    found.extend(parse_umask_sources(facts.text("umask_sources")))
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
    actual = _listing(_describe(settings)) or "no umask set anywhere (kernel default 022)"
    evidence = Evidence(expected, actual, "umask_sources")
    note = f"; not interpreted: {_listing(_describe(unknown))}" if unknown else ""
    if weak:
        return failed(f"weaker umask set: {_listing(_describe(weak))}{note}", evidence)
    if not strong:
        return failed(f"no umask {params['umask']} or stricter is set{note}", evidence)
    return passed(f"umask set by {_listing(_describe(strong))}{note}", evidence)
