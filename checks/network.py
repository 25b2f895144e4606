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
from dataclasses import dataclass, field
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

NMAP = "nmap_services"
POLICY = "network_port_policy"
HTTP = "http_cleartext"

_CLEARTEXT_REFS: dict[str, list[str]] = {
    "hipaa": ["164.312(e)(1)"],
    "gdpr": ["32(1)(a)"],
    "nist_800_53r5": ["SC-8", "SC-8(1)", "CM-7"],
    "nist_csf_2_0": ["PR.DS-02"],
    "iso27001_2022": ["A.8.20", "A.8.24"],
    "nis2": ["21(2)(h)"],
    "cis_controls_v8": ["3.10", "4.8"],
}
_EXPOSURE_REFS: dict[str, list[str]] = {
    "hipaa": ["164.312(a)(1)"],
    "gdpr": ["32(1)(b)"],
    "nist_800_53r5": ["SC-7", "CM-7"],
    "nist_csf_2_0": ["PR.IR-01"],
    "iso27001_2022": ["A.8.20", "A.8.22"],
    "nis2": ["21(2)(i)"],
    "cis_controls_v8": ["4.4", "4.8"],
}


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
    title: str
    severity: str
    rationale: str
    remediation: str
    references: Mapping[str, list[str]]
    ports: frozenset[int]
    names: frozenset[str]
    product: str = ""
    waivable: bool = False
    cleartext_only: bool = True
    extra_refs: Mapping[str, list[str]] = field(default_factory=dict)

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
    run.__doc__ = rule.title
    check(
        title=rule.title,
        severity=rule.severity,
        rationale=rule.rationale,
        remediation=rule.remediation,
        references={**rule.references, **rule.extra_refs},
        facts=(NMAP, POLICY) if rule.waivable else (NMAP,),
        families=(ANY_FAMILY,),
    )(run)
    globals()[rule.id] = run


EXPOSURES = (
    Exposure(
        id="net_telnet_exposed",
        what="telnet service",
        title="No telnet service is reachable",
        severity="high",
        rationale=(
            "Telnet sends the login, the password and the whole session in clear text: "
            "anyone on the path (a compromised workstation, a mirrored switch port) reads "
            "administrator credentials and the patient data on screen."
        ),
        remediation=(
            "Disable the telnet daemon (Debian: `apt purge telnetd inetutils-telnetd`, "
            "remove the telnet line from /etc/inetd.conf; devices: disable telnet in the "
            "management settings) and administer over SSH."
        ),
        references=_CLEARTEXT_REFS,
        ports=frozenset({23}),
        names=frozenset({"telnet"}),
        extra_refs={"anssi_hygiene": ["21"]},
    ),
    Exposure(
        id="net_ftp_cleartext",
        what="cleartext FTP service",
        title="No cleartext FTP service is reachable",
        severity="high",
        rationale=(
            "Plain FTP carries the account password and every transferred file (exports, "
            "images, reports) unencrypted; FTP with optional AUTH TLS still accepts clients "
            "that never ask for it."
        ),
        remediation=(
            "Replace FTP with SFTP (OpenSSH's internal-sftp, chrooted), or require TLS for "
            "every session (vsftpd: `ssl_enable=YES`, `force_local_logins_ssl=YES`, "
            "`force_local_data_ssl=YES`, `allow_anon_ssl=NO`)."
        ),
        references=_CLEARTEXT_REFS,
        ports=frozenset({21}),
        names=frozenset({"ftp"}),
    ),
    Exposure(
        id="net_rsh_exposed",
        what="r-service (rsh, rlogin, rexec)",
        title="No rsh, rlogin or rexec service is reachable",
        severity="critical",
        rationale=(
            "The Berkeley r-services authenticate by source address (.rhosts) or a "
            "cleartext password and encrypt nothing: a spoofed or sniffed connection is a "
            "shell on the host."
        ),
        remediation=(
            "Remove rsh-server / rsh-redone-server and their inetd lines; use SSH instead."
        ),
        references=_CLEARTEXT_REFS,
        ports=frozenset({512, 513, 514}),
        names=frozenset({"exec", "login", "shell", "rlogin", "rsh", "rexec"}),
    ),
    Exposure(
        id="net_database_exposed",
        what="database or cache service",
        title="No database or cache service is reachable from the scanner",
        severity="high",
        rationale=(
            "MySQL/MariaDB, PostgreSQL, SQL Server, Redis, MongoDB and Elasticsearch hold "
            "the patient records themselves; reachable from a user network they are one "
            "weak or default password (or none: Redis, Elasticsearch) away from a breach."
        ),
        remediation=(
            "Bind the service to localhost or the application VLAN only (PostgreSQL "
            "`listen_addresses`, MySQL `bind-address`, Redis `bind` and `protected-mode "
            "yes`), and filter the port on the host and network firewalls. When a group "
            "must reach it, list the port in that group's `network.allowed_ports`."
        ),
        references=_EXPOSURE_REFS,
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
        title="No remote desktop (RDP) service is reachable from the scanner",
        severity="medium",
        rationale=(
            "RDP is the most common initial-access path of ransomware in hospitals "
            "(password spraying, BlueKeep-class flaws); it belongs behind a VPN or a "
            "remote-access gateway with MFA."
        ),
        remediation=(
            "Disable Remote Desktop or restrict TCP 3389 to an administration bastion / RD "
            "Gateway with MFA and Network Level Authentication. When a group must expose "
            "it, list 3389 in that group's `network.allowed_ports`."
        ),
        references=_EXPOSURE_REFS,
        ports=frozenset({3389}),
        names=frozenset({"ms-wbt-server"}),
        waivable=True,
        cleartext_only=False,
    ),
    Exposure(
        id="net_smb_exposed",
        what="SMB / NetBIOS file sharing",
        title="No SMB or NetBIOS file sharing is reachable from the scanner",
        severity="medium",
        rationale=(
            "SMB shares spread ransomware laterally (EternalBlue, credential relay) and "
            "often hold scanned documents and exports; NetBIOS session service leaks "
            "host and user names."
        ),
        remediation=(
            "Stop file sharing where it is not needed (Samba: `systemctl disable --now "
            "smbd nmbd`) or restrict TCP 139/445 to the clients that need it; require SMB "
            "signing and SMB3 encryption. List the port in `network.allowed_ports` for "
            "groups that are file servers."
        ),
        references=_EXPOSURE_REFS,
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
    title="No port forbidden for the host's group is open",
    severity="high",
    rationale=(
        "Network segmentation of a hospital is written as port rules per zone (imaging "
        "VLAN, biomedical devices, servers); a port the zone forbids that answers means "
        "the segmentation or the device configuration is not what was approved."
    ),
    remediation=(
        "Stop the service or filter the port on the host and the zone firewall; if the "
        "rule is wrong, change `network.forbidden_ports` in the inventory."
    ),
    references=_EXPOSURE_REFS,
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
    title="Only the ports allowed for the host's group are open",
    severity="medium",
    rationale=(
        "An allow-list of ports per zone is the baseline of network least functionality: "
        "every other listening service is unreviewed attack surface."
    ),
    remediation=(
        "Stop or filter the unexpected services; if one is legitimate, add it to the "
        "group's `network.allowed_ports` in the inventory (the review is then recorded)."
    ),
    references={**_EXPOSURE_REFS, "nist_800_53r5": ["CM-7", "SC-7", "SC-7(5)"]},
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
    title="SNMP does not answer v1/v2c community requests",
    severity="medium",
    rationale=(
        "SNMP v1 and v2c authenticate with a community string sent in clear text (and "
        "'public' is still the factory default on many devices); they disclose "
        "configuration, interfaces and sometimes allow writes. SNMPv3 with authPriv "
        "authenticates and encrypts."
    ),
    remediation=(
        "Disable SNMP v1/v2c and use SNMPv3 with authPriv (net-snmp: remove `rocommunity`/"
        "`rwcommunity` lines, add `createUser` + `rouser ... priv`); at least change the "
        "community and restrict it to the monitoring server."
    ),
    references=_CLEARTEXT_REFS,
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
    title="No VNC server accepts sessions without authentication",
    severity="critical",
    rationale=(
        "A VNC server offering security type None gives its screen and keyboard to anyone "
        "who connects: on a workstation or a modality console that is an open session on "
        "patient data."
    ),
    remediation=(
        "Require authentication (VNC password at least, better: VNC only on localhost "
        "through an SSH tunnel or a remote-access gateway); disable VNC where unused."
    ),
    references={
        **_EXPOSURE_REFS,
        "nist_800_53r5": ["AC-17", "IA-2", "CM-7"],
        "nist_csf_2_0": ["PR.AA-03"],
    },
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
    title="No web login is served over plain HTTP",
    severity="high",
    rationale=(
        "A login form or HTTP Basic authentication served over plain HTTP sends the "
        "password in clear text to anyone on the path; web consoles of PACS, RIS, "
        "devices and appliances are frequent offenders."
    ),
    remediation=(
        "Serve the application over HTTPS only and make the HTTP port answer with a "
        "permanent redirect to https:// (nginx: `return 301 https://$host$request_uri;`), "
        "then add HSTS."
    ),
    references={**_CLEARTEXT_REFS, "nist_800_53r5": ["SC-8", "SC-8(1)", "IA-2"]},
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
