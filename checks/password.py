"""Password policy checks: quality, history, aging defaults, lockout and hashing.

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

from collections.abc import Callable, Mapping
from typing import Any

from hygie.checks._password_policy import (
    EXPIRY_PARAMS,
    HASH_CHOICES,
    NO_EXPIRY_DAYS,
    STRONG_HASHES,
    expected_expiry,
    login_defs,
    optional_text,
    problems_verdict,
)
from hygie.facts.password import (
    FAILLOCK_DEFAULTS,
    PWHISTORY_DEFAULTS,
    PamConfig,
    PamRule,
    PamStack,
    PasswordQuality,
    Setting,
    module_options,
    normalise_encrypt_method,
    pam_unix_hash,
    parse_option_conf,
    parse_pam_d,
    parse_pwquality_files,
    parse_shell_vars,
    password_quality,
    shared_stacks,
)
from hygie.model import Evidence
from hygie.registry import (
    Facts,
    Param,
    Verdict,
    check,
    errored,
    failed,
    judge,
    not_applicable,
    passed,
)

# ------------------------------------------------------------------ shared helpers


def _conf(facts: Facts, name: str, path: str) -> dict[str, Setting]:
    text = optional_text(facts, name)
    return parse_option_conf(text, path) if text is not None else {}


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
    pam = facts.parsed("pam_d", parse_pam_d)
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
    pwq = facts.parsed("pwquality_conf", parse_pwquality_files)
    defs = login_defs(facts)
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


def _complexity_detail(q: PasswordQuality) -> str:
    """The classes a quality module demands (minclass, and where it is set; classes made
    mandatory by negative credits) and whether it checks a dictionary."""
    classes, named = q.required_classes
    minclass = q.get("minclass")
    detail = f"{q.module}: minclass={classes}"
    if minclass:
        detail += f" ({minclass.source})"
    if named:
        detail += f", required classes: {', '.join(named)}"
    return detail + f", dictcheck={'on' if q.dictcheck else 'off'}"


def _complexity_problems(q: PasswordQuality, params: Mapping[str, Any]) -> list[str]:
    """What an enforcing quality module gets wrong under the policy's composition rules."""
    classes, named = q.required_classes
    problems = []
    if params["require_complexity"] and classes < params["min_classes"]:
        problems.append(f"{classes} classes < {params['min_classes']}")
    if params["forbid_complexity"] and (classes >= 2 or named):
        problems.append("composition rules imposed")
    if params["require_dictcheck"] and not q.dictcheck:
        problems.append("no dictionary check")
    return problems


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
    pwq = facts.parsed("pwquality_conf", parse_pwquality_files)
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
        detail = _complexity_detail(q)
        if not q.enforced:
            return not (need_cls or need_dict), detail + ", not enforced"
        problems = _complexity_problems(q, params)
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


@check(
    facts=("login_defs",),
    params=dict(EXPIRY_PARAMS),
)
def password_max_age(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    defs = login_defs(facts)
    value, where = _int_setting(defs, "PASS_MAX_DAYS", -1, "shadow")
    ok, detail = _max_days_verdict(value, where, params, "login_defs", "PASS_MAX_DAYS")
    return judge(ok, detail, Evidence(expected_expiry(params), detail, "login_defs"))


def _login_defs_minimum(facts: Facts, key: str, default: int, minimum: int, what: str) -> Verdict:
    """``key`` in login.defs must be at least ``minimum`` (absent -> shadow's default)."""
    value, where = _int_setting(login_defs(facts), key, default, "shadow")
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
    text = optional_text(facts, "useradd_defaults")
    values = parse_shell_vars(text, "/etc/default/useradd") if text is not None else {}
    value, where = _int_setting(values, "INACTIVE", -1, "useradd")
    ok = value is not None and 0 <= value <= params["max_days"]
    message = f"inactivity lock: {where}"
    max_age, _ = _int_setting(login_defs(facts), "PASS_MAX_DAYS", -1, "shadow")
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


def _faillock_problems(
    faillock: list[PamRule], conf: Mapping[str, Setting], params: Mapping[str, Any]
) -> tuple[list[str], list[str]]:
    """(problems, descriptions) of the pam_faillock lines of one auth stack: the modes
    they run in, then each line's deny/unlock_time with faillock.conf under its arguments."""
    problems: list[str] = []
    descs: list[str] = []
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
    return problems, descs


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
            problems, descs = _faillock_problems(faillock, conf, params)
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
    pam: PamConfig = facts.parsed("pam_d", parse_pam_d)
    offenders = [
        f"{r.where} ({r.type} {' '.join(a for a in r.args if a.startswith('nullok'))})"
        for r in pam.all_rules()
        if r.name == "pam_unix" and any(a in ("nullok", "nullok_secure") for a in r.args)
    ]
    return problems_verdict(
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
    defs = login_defs(facts)
    method = defs.get("ENCRYPT_METHOD")
    defs_hash = normalise_encrypt_method(method.value) if method else "des"
    defs_where = (
        f"ENCRYPT_METHOD={method.value} ({method.source})"
        if method
        else ("ENCRYPT_METHOD not set (shadow default DES)")
    )
    evidence = [Evidence(f"one of {sorted(allowed)}", f"login.defs {defs_where}", "login_defs")]
    bad = [f"login.defs {defs_where}"] if defs_hash not in allowed else []
    pam = facts.parsed("pam_d", parse_pam_d)
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
