"""What a host exposes on the network: port policy, cleartext logins, reachable databases.

Judged from the scanner's vantage point (the ``nmap_services`` fact): a service is
"reachable" when the scanner completed a handshake with it. Where nmap identified the
service (``-sV``), the verdict follows the identified protocol whatever the port; where
it did not (safe mode for fragile devices, a service that never answered), the port
number decides and the evidence says so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hygie.facts.cleartext_http import parse_http_cleartext
from hygie.facts.network import NmapServices, Port, parse_nmap_services, parse_port_policy
from hygie.model import Evidence
from hygie.registry import (
    ANY_FAMILY,
    Facts,
    Verdict,
    check,
    errored,
    failed,
    not_applicable,
    passed,
)

#: Public ids are never renamed: network checks were net_ before this module's name.
ID_PREFIXES = ("net_",)

NMAP = "nmap_services"
POLICY = "network_port_policy"
HTTP = "http_cleartext"


def services(facts: Facts) -> NmapServices:
    return facts.parsed(NMAP, parse_nmap_services)


def _evidence(expected: str, actual: str, fact: str = NMAP) -> Evidence:
    return Evidence(expected=expected, actual=actual, fact=fact)


def _listing(ports: list[Port] | tuple[Port, ...]) -> str:
    return "; ".join(p.describe for p in ports) or "no open port"


def _open_summary(scan: NmapServices) -> str:
    return f"{len(scan.open_ports)} open port(s) on {scan.address}: {_listing(scan.open_ports)}"


# -- exposed services, one rule each --------------------------------------------------------


@dataclass(frozen=True)
class Exposure:
    """A kind of service that must not be reachable. ``ports`` decide when nmap could not
    identify the service; ``names`` (nmap service names) and ``product`` when it did.
    ``waivable``: an explicit ``network.allowed_ports`` entry accepts the exposure (a
    database port a group's application servers must reach); cleartext logins are never
    waived."""

    id: str
    what: str
    ports: frozenset[int]
    names: frozenset[str]
    product: str = ""
    waivable: bool = False
    cleartext_only: bool = True

    def matches(self, port: Port) -> bool:
        if port.protocol != "tcp" or (self.cleartext_only and port.tunnel == "ssl"):
            return False
        if port.name in self.names:
            return True
        if port.method == "probed":
            return bool(self.product and re.search(self.product, port.product, re.I))
        return port.port in self.ports


def judge_exposure(rule: Exposure, facts: Facts) -> Verdict:
    scan = services(facts)
    found = [p for p in scan.open_ports if rule.matches(p)]
    waived: list[Port] = []
    if rule.waivable and found:
        allowed = facts.parsed(POLICY, parse_port_policy)["allowed_ports"] or frozenset()
        waived = [p for p in found if p.label in allowed]
        found = [p for p in found if p not in waived]
    expected = f"no {rule.what} reachable from the scanner"
    if found:
        return failed(
            f"{rule.what} reachable: {_listing(found)}", _evidence(expected, _listing(found))
        )
    note = f"; accepted by network.allowed_ports: {_listing(waived)}" if waived else ""
    return passed(f"no {rule.what} reachable{note}", _evidence(expected, _open_summary(scan)))


def _register(rule: Exposure) -> None:
    def run(facts: Facts, params: Mapping[str, Any]) -> Verdict:
        return judge_exposure(rule, facts)

    run.__name__ = run.__qualname__ = rule.id
    run.__doc__ = f"no exposed {rule.what}"
    check(
        facts=(NMAP, POLICY) if rule.waivable else (NMAP,),
        families=(ANY_FAMILY,),
    )(run)
    globals()[rule.id] = run


EXPOSURES = (
    Exposure(
        id="net_telnet_exposed",
        what="telnet service",
        ports=frozenset({23}),
        names=frozenset({"telnet"}),
    ),
    Exposure(
        id="net_ftp_cleartext",
        what="cleartext FTP service",
        ports=frozenset({21}),
        names=frozenset({"ftp"}),
    ),
    Exposure(
        id="net_rsh_exposed",
        what="r-service (rsh, rlogin, rexec)",
        ports=frozenset({512, 513, 514}),
        names=frozenset({"exec", "login", "shell", "rlogin", "rsh", "rexec"}),
    ),
    Exposure(
        id="net_database_exposed",
        what="database or cache service",
        ports=frozenset({3306, 5432, 1433, 6379, 27017, 9200}),
        names=frozenset(
            {"mysql", "postgresql", "ms-sql-s", "redis", "mongodb", "mongod", "elasticsearch"}
        ),
        product=r"elasticsearch|opensearch|mariadb|mysql|postgresql|redis|mongodb",
        waivable=True,
        cleartext_only=False,
    ),
    Exposure(
        id="net_rdp_exposed",
        what="remote desktop (RDP) service",
        ports=frozenset({3389}),
        names=frozenset({"ms-wbt-server"}),
        waivable=True,
        cleartext_only=False,
    ),
    Exposure(
        id="net_smb_exposed",
        what="SMB / NetBIOS file sharing",
        ports=frozenset({139, 445}),
        names=frozenset({"microsoft-ds", "netbios-ssn"}),
        product=r"samba|smb",
        waivable=True,
        cleartext_only=False,
    ),
)

for _rule in EXPOSURES:
    _register(_rule)


# -- port policy from the inventory -----------------------------------------------------------


def _policy_ports(facts: Facts, key: str) -> frozenset[str] | None:
    return facts.parsed(POLICY, parse_port_policy)[key]


@check(
    facts=(NMAP, POLICY),
    families=(ANY_FAMILY,),
)
def net_ports_forbidden(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    forbidden = _policy_ports(facts, "forbidden_ports")
    if forbidden is None:
        return not_applicable("no network.forbidden_ports set for this host in the inventory")
    scan = services(facts)
    hits = [p for p in scan.open_ports if p.label in forbidden]
    expected = f"none of {', '.join(sorted(forbidden))} open"
    if hits:
        return failed(
            f"forbidden port(s) open: {_listing(hits)}", _evidence(expected, _listing(hits))
        )
    return passed("no forbidden port is open", _evidence(expected, _open_summary(scan)))


@check(
    facts=(NMAP, POLICY),
    families=(ANY_FAMILY,),
)
def net_ports_allowed(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    allowed = _policy_ports(facts, "allowed_ports")
    if allowed is None:
        return not_applicable("no network.allowed_ports set for this host in the inventory")
    scan = services(facts)
    extra = [p for p in scan.open_ports if p.label not in allowed]
    expected = f"only {', '.join(sorted(allowed)) or 'no port'} open"
    if extra:
        return failed(
            f"port(s) open outside network.allowed_ports: {_listing(extra)}",
            _evidence(expected, _listing(extra)),
        )
    return passed("every open port is allowed", _evidence(expected, _open_summary(scan)))


# -- protocol-specific findings -----------------------------------------------------------


@check(
    facts=(NMAP,),
    families=(ANY_FAMILY,),
)
def net_snmp_v1_v2c(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    scan = services(facts)
    expected = "no SNMP v1/v2c answer to community 'public' on 161/udp"
    if 161 not in scan.udp_scanned:
        return errored(
            "161/udp was not scanned: UDP scanning needs root on the scanner",
            _evidence(expected, "UDP not scanned (nmap run without -sU)"),
        )
    port = next((p for p in scan.ports if p.label == "161/udp"), None)
    if port is None or port.state not in ("open", "open|filtered"):
        state = port.state if port else "closed"
        return passed(f"no SNMP agent on 161/udp ({state})", _evidence(expected, state))
    answered = port.scripts.get("snmp-sysdescr", "").strip()
    if answered or "SNMPv1" in port.product:
        actual = f"{port.describe}: {answered[:200] or 'SNMPv1 server, community public'}"
        return failed(
            f"SNMP v1/v2c answers community 'public': {actual}", _evidence(expected, actual)
        )
    if scan.safe_mode or port.version_note or port.method != "probed":
        why = port.version_note or "safe mode: no community probe sent"
        return errored(
            f"161/udp is {port.state} but v1/v2c could not be tested ({why})",
            _evidence(expected, f"{port.describe}; {why}"),
        )
    return passed(
        f"SNMP answers on 161/udp but refuses v1/v2c community 'public' ({port.describe})",
        _evidence(expected, port.describe),
    )


_VNC_NONE = re.compile(r"^\s*None \(1\)\s*$", re.M)


@check(
    facts=(NMAP,),
    families=(ANY_FAMILY,),
)
def net_vnc_no_auth(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    scan = services(facts)
    vnc = [p for p in scan.open_tcp() if p.name == "vnc" or "vnc-info" in p.scripts]
    expected = "no VNC server offering security type None"
    if not vnc:
        return passed("no VNC server reachable", _evidence(expected, _open_summary(scan)))
    unread = [p for p in vnc if "vnc-info" not in p.scripts]
    noauth = [p for p in vnc if _VNC_NONE.search(p.scripts.get("vnc-info", ""))]
    if noauth:
        actual = "; ".join(f"{p.describe}: {p.scripts['vnc-info'].strip()}" for p in noauth)
        return failed(
            f"VNC without authentication: {_listing(noauth)}", _evidence(expected, actual)
        )
    if unread:
        return errored(
            f"VNC security types not read on {_listing(unread)}",
            _evidence(expected, "; ".join(f"{p.describe} {p.version_note}" for p in unread)),
        )
    actual = "; ".join(f"{p.describe}: {p.scripts['vnc-info'].strip()}" for p in vnc)
    return passed("every VNC server requires authentication", _evidence(expected, actual))


@check(
    facts=(HTTP,),
    families=(ANY_FAMILY,),
)
def net_http_login_cleartext(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    pages = facts.parsed(HTTP, parse_http_cleartext)
    expected = "plain-HTTP endpoints redirect to HTTPS or serve no login"
    if not pages:
        return passed("no plain-HTTP service found", _evidence(expected, "none", HTTP))
    logins = [p for p in pages if p.login]
    unread = [p for p in pages if p.error]
    if logins:
        actual = "; ".join(f"{p.url}: {p.login}" for p in logins)
        return failed(f"login served over plain HTTP: {actual}", _evidence(expected, actual, HTTP))
    summary = "; ".join(p.summary for p in pages)
    if unread:
        return errored(
            f"could not read {', '.join(p.url for p in unread)}", _evidence(expected, summary, HTTP)
        )
    return passed(
        f"no login served over plain HTTP ({summary})", _evidence(expected, summary, HTTP)
    )
