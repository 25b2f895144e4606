"""SSH judged on the wire: what each SSH port offers to any client (fact ``ssh_wire``).

These checks see every SSH service the scanner reaches, including appliances and devices
that cannot be logged into, and they judge what the server really negotiates rather than
its configuration. The version banner is recorded but never judged: distributions
backport fixes (Terrapin's strict key exchange, for one) without changing it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from hygie.checks._ssh_crypto import WEAK_CIPHERS, WEAK_KEX, WEAK_MACS
from hygie.facts.ssh_wire import STRICT_KEX_SERVER, SshEndpoint, parse_ssh_wire
from hygie.model import Evidence
from hygie.registry import (
    ANY_FAMILY,
    Facts,
    Param,
    Verdict,
    check,
    errored,
    failed,
    not_applicable,
    passed,
)

#: SSH as seen on the wire is judged from the network: net_, like checks/network.py.
ID_PREFIXES = ("net_",)

FACT = "ssh_wire"


def _evidence(expected: str, actual: str) -> Evidence:
    return Evidence(expected=expected, actual=actual, fact=FACT)


def _endpoints(facts: Facts) -> tuple[list[SshEndpoint], Verdict | None]:
    """Parsed endpoints, or the verdict when they cannot be judged (none, unreadable)."""
    endpoints = facts.parsed(FACT, parse_ssh_wire)
    if not endpoints:
        return [], not_applicable("no SSH service found on the host")
    broken = [e for e in endpoints if e.error]
    if broken:
        actual = "; ".join(f"{e.label}: {e.error}" for e in broken)
        return [], errored(
            f"could not read the SSH handshake: {actual}", _evidence("server KEXINIT", actual)
        )
    return endpoints, None


@dataclass(frozen=True)
class AlgorithmRule:
    """One algorithm family of the KEXINIT and the shell patterns that are weak in it."""

    id: str
    what: str
    offered: Callable[[SshEndpoint], tuple[str, ...]]
    weak: tuple[str, ...]


def judge_algorithms(rule: AlgorithmRule, facts: Facts, patterns: list[str]) -> Verdict:
    endpoints, verdict = _endpoints(facts)
    if verdict:
        return verdict
    patterns = [p.lower() for p in patterns]
    expected = f"no {rule.what} matching {', '.join(patterns)}"
    weak = {
        e.label: [a for a in rule.offered(e) if any(fnmatchcase(a.lower(), p) for p in patterns)]
        for e in endpoints
    }
    bad = {port: algs for port, algs in weak.items() if algs}
    if bad:
        actual = "; ".join(f"{port}: {', '.join(algs)}" for port, algs in bad.items())
        return failed(
            f"weak {rule.what} offered on the wire: {actual}", _evidence(expected, actual)
        )
    actual = "; ".join(f"{e.label}: {', '.join(rule.offered(e))}" for e in endpoints)
    return passed(f"no weak {rule.what} offered", _evidence(expected, actual))


def _register(rule: AlgorithmRule) -> None:
    def run(facts: Facts, params: Mapping[str, Any]) -> Verdict:
        return judge_algorithms(rule, facts, params["weak"])

    run.__name__ = run.__qualname__ = rule.id
    run.__doc__ = f"no weak {rule.what}"
    check(
        facts=(FACT,),
        families=(ANY_FAMILY,),
        params={"weak": Param(list(rule.weak), f"shell patterns of forbidden {rule.what}")},
    )(run)
    globals()[rule.id] = run


ALGORITHMS = (
    AlgorithmRule(
        id="net_ssh_weak_kex",
        what="key exchange algorithms",
        offered=lambda e: e.kex,
        weak=WEAK_KEX,
    ),
    AlgorithmRule(
        id="net_ssh_weak_ciphers",
        what="ciphers",
        offered=lambda e: e.ciphers,
        weak=WEAK_CIPHERS,
    ),
    AlgorithmRule(
        id="net_ssh_weak_macs",
        what="MACs",
        offered=lambda e: e.macs,
        weak=WEAK_MACS,
    ),
    AlgorithmRule(
        id="net_ssh_weak_host_key_algorithms",
        what="host key algorithms",
        offered=lambda e: e.host_keys,
        weak=(
            "ssh-dss*",
            "ssh-rsa",
            "ssh-rsa-cert-v01@openssh.com",
            "x509v3-ssh-dss",
            "x509v3-sign-rsa",
            "x509v3-sign-dss",
        ),
    ),
)

for _rule in ALGORITHMS:
    _register(_rule)


@check(
    facts=(FACT,),
    families=(ANY_FAMILY,),
)
def net_ssh_terrapin(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    endpoints, verdict = _endpoints(facts)
    if verdict:
        return verdict
    expected = f"{STRICT_KEX_SERVER} offered, or neither chacha20-poly1305 nor *-etm MACs"
    exposed, safe = [], []
    for e in endpoints:
        modes = [c for c in e.ciphers if c.startswith("chacha20-poly1305")]
        modes += [m for m in e.macs if m.endswith("-etm@openssh.com")]
        state = f"{e.label}: strict kex {'offered' if e.strict_kex else 'absent'}"
        state += f", {', '.join(modes) or 'no chacha20/EtM'}"
        (exposed if modes and not e.strict_kex else safe).append(state)
    if exposed:
        actual = "; ".join(exposed)
        return failed(f"Terrapin-exposed: {actual}", _evidence(expected, actual))
    return passed("no SSH service is exposed to Terrapin", _evidence(expected, "; ".join(safe)))


@check(
    facts=(FACT,),
    families=(ANY_FAMILY,),
    params={
        "flag_keyboard_interactive": Param(
            True, "treat keyboard-interactive as password authentication"
        )
    },
)
def net_ssh_password_auth(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    endpoints, verdict = _endpoints(facts)
    if verdict:
        return verdict
    unread = [e for e in endpoints if e.auth_methods is None]
    if unread:
        actual = "; ".join(f"{e.label}: {e.auth_error}" for e in unread)
        return errored(f"auth methods not read: {actual}", _evidence("auth methods", actual))
    bad = {"password", "none"} | (
        {"keyboard-interactive"} if params["flag_keyboard_interactive"] else set()
    )
    expected = f"none of {', '.join(sorted(bad))} offered for the first step"
    offered = {e.label: e.auth_methods or () for e in endpoints}
    hits = {port: [m for m in methods if m in bad] for port, methods in offered.items()}
    hits = {port: methods for port, methods in hits.items() if methods}
    actual = "; ".join(f"{port}: {', '.join(m)}" for port, m in offered.items())
    if hits:
        return failed(
            "password-style authentication offered: "
            + "; ".join(f"{port}: {', '.join(m)}" for port, m in hits.items()),
            _evidence(expected, actual),
        )
    return passed(f"only key-based methods offered ({actual})", _evidence(expected, actual))
