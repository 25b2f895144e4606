"""Password policy facts: login.defs, the PAM stacks, pwquality, faillock, pwhistory and
useradd defaults, with the parsers that turn them into effective settings.

Why parsers and "effective value" helpers live here: the same PAM option may be set on the
module line or in the module's configuration file (the module line wins), and several
checks need the same answer. Computing it once, with the winning source attached, keeps
every check's evidence honest about *where* a value came from.

The umask check (:mod:`hygie.checks.accounts`) reads login.defs (``UMASK``) and the PAM
stacks (``pam_umask``) through these same parsers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from hygie.factspec import file_fact, files_fact, split_files

# --------------------------------------------------------------------------- facts

LOGIN_DEFS = file_fact(
    "login_defs", "/etc/login.defs", "login.defs(5): shadow suite defaults (aging, UMASK, hash)"
)
PAM_D = files_fact(
    "pam_d",
    "/etc/pam.d/*",
    "every PAM service file (Debian common-*, RHEL system-auth/password-auth, services)",
)
PWQUALITY_CONF = files_fact(
    "pwquality_conf",
    "/etc/security/pwquality.conf /etc/security/pwquality.conf.d/*.conf",
    "libpwquality configuration and drop-ins",
)
FAILLOCK_CONF = file_fact(
    "faillock_conf", "/etc/security/faillock.conf", "pam_faillock configuration"
)
PWHISTORY_CONF = file_fact(
    "pwhistory_conf", "/etc/security/pwhistory.conf", "pam_pwhistory configuration (PAM >= 1.5)"
)
USERADD_DEFAULTS = file_fact(
    "useradd_defaults", "/etc/default/useradd", "useradd defaults (INACTIVE, EXPIRE)"
)

# --------------------------------------------------------------------------- key/values


@dataclass(frozen=True)
class Setting:
    """One effective option value and where it came from (``path:line``, or a default)."""

    value: str
    source: str

    def as_int(self) -> int | None:
        try:
            return int(self.value, 0) if self.value.lower().startswith("0x") else int(self.value)
        except ValueError:
            return None


Settings = Mapping[str, Setting]


def strip_comment(line: str) -> str:
    """The line before its first ``#``, stripped; no quoting is honoured (unlike
    :func:`hygie.facts.logging.strip_comment`)."""
    return line.split("#", 1)[0].strip()


def parse_login_defs(text: str, path: str = "/etc/login.defs") -> dict[str, Setting]:
    """``KEY value`` lines; the last occurrence wins, as in shadow's getdef."""
    values: dict[str, Setting] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, *rest = line.split(None, 1)
        value = rest[0].strip().strip('"') if rest else ""
        values[key] = Setting(value, f"{path}:{lineno}")
    return values


def parse_option_conf(text: str, path: str) -> dict[str, Setting]:
    """``name = value`` or bare ``flag`` lines (pwquality.conf, faillock.conf,
    pwhistory.conf). A flag is recorded with an empty value; the last occurrence wins."""
    values: dict[str, Setting] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = strip_comment(raw)
        if not line:
            continue
        key, sep, value = line.partition("=")
        values[key.strip().lower()] = Setting(value.strip() if sep else "", f"{path}:{lineno}")
    return values


def parse_shell_vars(text: str, path: str) -> dict[str, Setting]:
    """``KEY=value`` shell assignments (/etc/default/useradd)."""
    values: dict[str, Setting] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = Setting(value.strip().strip("'\""), f"{path}:{lineno}")
    return values


def parse_pwquality_files(text: str) -> dict[str, Setting]:
    """The ``pwquality_conf`` fact, merged as libpwquality does: drop-ins in ASCII order
    first, then ``pwquality.conf`` itself, later values overriding earlier ones."""
    files = split_files(text)
    main = "/etc/security/pwquality.conf"
    merged: dict[str, Setting] = {}
    for path in sorted(p for p in files if p != main):
        merged.update(parse_option_conf(files[path], path))
    if main in files:
        merged.update(parse_option_conf(files[main], main))
    return merged


# --------------------------------------------------------------------------- PAM

PAM_DIR = "/etc/pam.d"


@dataclass(frozen=True)
class PamRule:
    """One PAM line. ``type`` is lower-case without the leading ``-`` (kept in
    ``quiet_missing``); ``@include`` lines have type ``@include`` and the target as module.
    ``via`` is the include chain that brought the rule into a resolved stack."""

    path: str
    lineno: int
    type: str
    control: str
    module: str
    args: tuple[str, ...] = ()
    quiet_missing: bool = False
    via: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """``pam_unix`` for ``pam_unix.so`` or ``/usr/lib/.../pam_unix.so``."""
        return self.module.rsplit("/", 1)[-1].removesuffix(".so")

    @property
    def where(self) -> str:
        return f"{self.path}:{self.lineno}"

    def option(self, key: str) -> str | None:
        """Value of the last ``key=value`` argument, or None."""
        found = None
        for arg in self.args:
            k, sep, v = arg.partition("=")
            if sep and k == key:
                found = v
        return found

    def flag(self, key: str) -> bool:
        return key in self.args

    def settings(self) -> dict[str, Setting]:
        """Arguments as settings (flags get an empty value), for merging over conf files."""
        src = f"{self.where} (module argument)"
        out: dict[str, Setting] = {}
        for arg in self.args:
            k, sep, v = arg.partition("=")
            out[k] = Setting(v if sep else "", src)
        return out

    @property
    def enforcing(self) -> bool:
        """Whether a failure of this module can make the stack fail.

        ``required``/``requisite`` can; ``optional``/``sufficient`` cannot; a bracket
        control can when some return value maps to ``bad`` or ``die``.
        """
        if self.control in ("required", "requisite"):
            return True
        if self.control.startswith("["):
            actions = re.findall(r"=\s*([A-Za-z]+)", self.control)
            return any(a.lower() in ("bad", "die") for a in actions)
        return False

    def render(self) -> str:
        return " ".join((self.type, self.control, self.module, *self.args))


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """Comment-stripped lines with ``\\`` continuations joined (as libpam assembles them:
    everything after the first ``#`` is a comment, then a trailing backslash continues)."""
    buf, start = "", 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].rstrip()
        if not buf:
            start = lineno
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        if buf.strip():
            yield start, buf.strip()
        buf = ""
    if buf.strip():
        yield start, buf.strip()


def _take_bracketed(tokens: list[str], i: int) -> tuple[str, int]:
    """Join tokens from ``tokens[i]`` (which starts with ``[``) up to the closing ``]``."""
    parts = [tokens[i]]
    while not parts[-1].endswith("]") and i + 1 < len(tokens):
        i += 1
        parts.append(tokens[i])
    return " ".join(parts), i + 1


def parse_pam_file(path: str, text: str) -> tuple[PamRule, ...]:
    """One PAM service file (pam.d(5) syntax: ``type control module [args]``)."""
    rules: list[PamRule] = []
    for lineno, line in _logical_lines(text):
        tokens = line.split()
        if tokens[0] == "@include":
            if len(tokens) > 1:
                rules.append(PamRule(path, lineno, "@include", "include", tokens[1]))
            continue
        if len(tokens) < 3:
            continue
        quiet = tokens[0].startswith("-")
        ptype = tokens[0].lstrip("-").lower()
        if tokens[1].startswith("["):
            control, i = _take_bracketed(tokens, 1)
        else:
            control, i = tokens[1].lower(), 2
        if i >= len(tokens):
            continue
        module = tokens[i]
        args: list[str] = []
        j = i + 1
        while j < len(tokens):
            if tokens[j].startswith("["):
                arg, j = _take_bracketed(tokens, j)
                args.append(arg[1:-1] if arg.endswith("]") else arg[1:])
            else:
                args.append(tokens[j])
                j += 1
        rules.append(PamRule(path, lineno, ptype, control, module, tuple(args), quiet))
    return tuple(rules)


@dataclass(frozen=True)
class PamStack:
    """The rules of one type reached from one service file, includes resolved.

    ``unresolved`` lists include targets that were not collected (or form a loop), so a
    check can say its view of the stack is incomplete instead of judging it whole.
    """

    service: str
    type: str
    rules: tuple[PamRule, ...]
    unresolved: tuple[str, ...] = ()

    def modules(self, *names: str) -> tuple[PamRule, ...]:
        return tuple(r for r in self.rules if r.name in names)

    def first(self, *names: str) -> PamRule | None:
        found = self.modules(*names)
        return found[0] if found else None


@dataclass(frozen=True)
class PamConfig:
    """All collected PAM files, keyed by full path, parsed."""

    files: Mapping[str, tuple[PamRule, ...]] = field(default_factory=dict)

    def path_of(self, name: str) -> str:
        return name if name.startswith("/") else f"{PAM_DIR}/{name}"

    def has(self, name: str) -> bool:
        return self.path_of(name) in self.files

    def stack(self, service: str, ptype: str) -> PamStack:
        """Rules of ``ptype`` for ``service``, expanding ``@include`` (all of the target's
        rules of that type) and ``include``/``substack`` controls."""
        rules: list[PamRule] = []
        unresolved: list[str] = []

        def walk(path: str, chain: tuple[str, ...]) -> None:
            if path not in self.files or path in chain or len(chain) > 10:
                unresolved.append(path)
                return
            for rule in self.files[path]:
                nested = rule.control in ("include", "substack")
                if rule.type == "@include" or (rule.type == ptype and nested):
                    walk(self.path_of(rule.module), (*chain, path))
                elif rule.type == ptype:
                    rules.append(
                        PamRule(
                            rule.path,
                            rule.lineno,
                            rule.type,
                            rule.control,
                            rule.module,
                            rule.args,
                            rule.quiet_missing,
                            chain,
                        )
                    )

        walk(self.path_of(service), ())
        return PamStack(service, ptype, tuple(rules), tuple(dict.fromkeys(unresolved)))

    def all_rules(self) -> Iterable[PamRule]:
        for rules in self.files.values():
            yield from rules


def parse_pam_d(text: str) -> PamConfig:
    """The ``pam_d`` fact (``==> path <==`` framed files) into a :class:`PamConfig`."""
    return PamConfig({path: parse_pam_file(path, body) for path, body in split_files(text).items()})


# Which shared stacks govern a PAM type: Debian includes common-<type> from every service;
# RHEL services include system-auth (local logins, su, passwd) and password-auth (sshd...).
SHARED_STACKS = {
    "auth": ("common-auth", "system-auth", "password-auth"),
    "account": ("common-account", "system-auth", "password-auth"),
    "password": ("common-password", "system-auth", "password-auth"),
    "session": ("common-session", "system-auth", "password-auth"),
}


def shared_stacks(pam: PamConfig, ptype: str) -> tuple[PamStack, ...]:
    """The resolved shared stacks of ``ptype`` present on this host (empty if none)."""
    return tuple(pam.stack(name, ptype) for name in SHARED_STACKS[ptype] if pam.has(name))


# --------------------------------------------------------------------------- effective options

PWQUALITY_DEFAULTS = {
    "minlen": "8",
    "dcredit": "0",
    "ucredit": "0",
    "lcredit": "0",
    "ocredit": "0",
    "minclass": "0",
    "dictcheck": "1",
    "enforcing": "1",
    "maxrepeat": "0",
    "usercheck": "1",
}
CRACKLIB_DEFAULTS = {
    "minlen": "9",
    "dcredit": "1",
    "ucredit": "1",
    "lcredit": "1",
    "ocredit": "1",
    "minclass": "0",
}
FAILLOCK_DEFAULTS = {"deny": "3", "unlock_time": "600", "fail_interval": "900"}
PWHISTORY_DEFAULTS = {"remember": "10"}


def _defaults(values: Mapping[str, str], module: str) -> dict[str, Setting]:
    return {k: Setting(v, f"{module} built-in default") for k, v in values.items()}


def module_options(
    rule: PamRule, conf: Settings | None = None, defaults: Mapping[str, str] | None = None
) -> dict[str, Setting]:
    """Effective options of a module: built-in defaults < configuration file < module
    arguments (every one of pam_pwquality, pam_faillock and pam_pwhistory gives the module
    line precedence over its file)."""
    merged = _defaults(defaults or {}, rule.name)
    merged.update(conf or {})
    merged.update(rule.settings())
    return merged


CREDITS = {"dcredit": "digit", "ucredit": "upper-case", "lcredit": "lower-case", "ocredit": "other"}


@dataclass(frozen=True)
class PasswordQuality:
    """What the password-change stack demands of a new password.

    ``module`` is ``pam_pwquality``, ``pam_cracklib``, ``pam_unix`` (no quality module) or
    empty when the stack has no password rule at all.
    """

    module: str
    rule: PamRule | None
    options: Mapping[str, Setting]
    stack: PamStack

    def get(self, key: str) -> Setting | None:
        return self.options.get(key)

    def num(self, key: str, fallback: int = 0) -> int:
        setting = self.options.get(key)
        value = setting.as_int() if setting else None
        return fallback if value is None else value

    @property
    def enforced(self) -> bool:
        """False when the quality module only warns (``enforcing=0``) or cannot fail."""
        if self.rule is None:
            return False
        if self.module == "pam_unix":
            return True  # it sets the password: its own minlen check cannot be skipped
        if self.module == "pam_pwquality" and self.num("enforcing", 1) == 0:
            return False
        return self.rule.enforcing

    @property
    def minlen(self) -> int:
        floor = 6 if self.module in ("pam_pwquality", "pam_cracklib") else 0
        return max(floor, self.num("minlen", 6))

    @property
    def positive_credits(self) -> int:
        """Length credits a password earns for character classes (lowering its minimum)."""
        if self.module not in ("pam_pwquality", "pam_cracklib"):
            return 0
        return sum(max(self.num(k), 0) for k in CREDITS)

    @property
    def shortest_accepted(self) -> int:
        """The shortest password the module accepts once class credits are counted."""
        floor = 6 if self.module in ("pam_pwquality", "pam_cracklib") else 1
        return max(floor, self.minlen - self.positive_credits)

    @property
    def required_classes(self) -> tuple[int, tuple[str, ...]]:
        """(classes demanded, named classes demanded by negative credits)."""
        if self.module not in ("pam_pwquality", "pam_cracklib"):
            return 0, ()
        named = tuple(cls for key, cls in CREDITS.items() if self.num(key) < 0)
        return max(self.num("minclass"), len(named)), named

    @property
    def dictcheck(self) -> bool:
        if self.module == "pam_cracklib":
            return True  # cracklib always checks its dictionary
        if self.module == "pam_pwquality":
            return self.num("dictcheck", 1) != 0
        return False


def password_quality(stack: PamStack, pwquality: Settings) -> PasswordQuality:
    """Effective password-quality rules of one password stack.

    The first pam_pwquality or pam_cracklib line decides; without one, pam_unix's own
    ``minlen`` (default 6) is what remains. login.defs PASS_MIN_LEN is never consulted:
    passwd(1) on Debian and RHEL changes passwords through PAM.
    """
    rule = stack.first("pam_pwquality", "pam_cracklib")
    if rule is not None and rule.name == "pam_pwquality":
        return PasswordQuality(
            rule.name, rule, module_options(rule, pwquality, PWQUALITY_DEFAULTS), stack
        )
    if rule is not None:
        return PasswordQuality(rule.name, rule, module_options(rule, {}, CRACKLIB_DEFAULTS), stack)
    unix = stack.first("pam_unix")
    if unix is not None:
        return PasswordQuality("pam_unix", unix, module_options(unix, {}, {"minlen": "6"}), stack)
    return PasswordQuality("", None, {}, stack)


# pam_unix hash options and login.defs ENCRYPT_METHOD values, normalised to the names the
# shadow summary uses.
PAM_UNIX_HASHES = {
    "md5": "md5",
    "bigcrypt": "bigcrypt",
    "sha256": "sha256",
    "sha512": "sha512",
    "blowfish": "bcrypt",
    "gost_yescrypt": "gost_yescrypt",
    "yescrypt": "yescrypt",
}


def pam_unix_hash(rule: PamRule) -> str | None:
    """The hash option on a pam_unix password line (the last one given wins), or None."""
    found = None
    for arg in rule.args:
        if arg in PAM_UNIX_HASHES:
            found = PAM_UNIX_HASHES[arg]
    return found


def normalise_encrypt_method(value: str) -> str:
    return value.strip().lower().replace("-", "_")
