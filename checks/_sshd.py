"""Reading the OpenSSH server's effective configuration, shared by every check that judges it.

The SSH checks and the account checks (root reachable over SSH with a password) must
agree on three things: when ``sshd -T`` is unusable and why, which settings let a password
in, and how strict a PermitRootLogin value is. Keeping them here gives one answer.
"""

from __future__ import annotations

from hygie.facts.ssh import SshdConfig, SshdTest, config_errors, parse_sshd_t, parse_sshd_test
from hygie.registry import Facts, MissingFact

FACT = "sshd_effective"
TEST_FACT = "sshd_config_test"


# Strictest first; without-password is the old spelling of prohibit-password, still
# printed by sshd -T on OpenSSH 9.x.
ROOT_ORDER = ("no", "forced-commands-only", "prohibit-password", "yes")
_ROOT_ALIASES = {"without-password": "prohibit-password"}


def sshd_config(facts: Facts) -> SshdConfig | None:
    """The effective config, or None when sshd is not installed (exit 127).

    When sshd refuses its own configuration, ``sshd -T`` prints nothing to judge: the
    check is ``error`` quoting sshd's complaint (file and line), which is what an admin
    must fix. Any other failure (not root, missing /run/sshd) raises MissingFact through
    ``facts.text`` with sshd's last message: a broken read is never a pass.
    """
    fact = facts.get(FACT)
    if fact.command_missing:
        return None
    if not fact.ok:
        errors = config_errors(fact.stderr_text)
        if errors:
            raise MissingFact(FACT, f"sshd rejects its configuration: {'; '.join(errors)}")
    return facts.parsed(FACT, parse_sshd_t)


def sshd_trace(facts: Facts) -> SshdTest | None:
    """The ``sshd -t`` trace when the check declared it and it was collected whole.

    Only for supplementary evidence (which lines set a keyword): a check whose verdict
    rests on ``sshd -T`` still judges without it, e.g. on a scan stored before it existed.
    """
    if TEST_FACT not in facts:
        return None
    try:
        fact = facts.get(TEST_FACT)
    except MissingFact:  # truncated: the trace is incomplete, so it shows nothing
        return None
    return parse_sshd_test(fact.text) if fact.ok else None


def root_login(value: str) -> str:
    """A PermitRootLogin value, lower-cased, old spelling folded."""
    value = value.lower()
    return _ROOT_ALIASES.get(value, value)


def password_methods(cfg: SshdConfig) -> list[str]:
    """The settings that let a password through, as ``keyword yes``.

    PAM keyboard-interactive asks for the same password; older releases call it
    challengeresponseauthentication. Without PAM it has no password device on Linux.
    """
    kbd = cfg.value("kbdinteractiveauthentication") or cfg.value(
        "challengeresponseauthentication", "no"
    )
    settings = {
        "passwordauthentication": cfg.flag("passwordauthentication"),
        "kbdinteractiveauthentication": kbd.lower() == "yes" and cfg.flag("usepam"),
    }
    return [f"{k} yes" for k, on in settings.items() if on]


def publickey_required(cfg: SshdConfig) -> bool:
    """True when every AuthenticationMethods list includes publickey (key + password MFA)."""
    methods = cfg.value("authenticationmethods", "any")
    if methods == "any":
        return False
    return all("publickey" in chain.split(",") for chain in methods.split())
