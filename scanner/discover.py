"""Find the live hosts of a CIDR range and turn them into network-only targets.

Hospitals rarely have a complete inventory of what sits on a VLAN (modalities, printers,
badge readers, forgotten test servers); ``hygie discover`` finds it with an nmap ping
sweep and writes an inventory of ``transport: none`` targets that ``hygie scan`` can
then audit from the network. Only the addresses of the range given are ever probed.
The scanner's own addresses (nmap's ``localhost-response``) are left out.
"""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime

import yaml
from defusedxml import ElementTree

from hygie.facts.network import ProbePorts, nmap_binary
from hygie.inventory import Target

#: Refuse ranges larger than a /16: a typo in a prefix must not become a sweep of a /8.
MAX_ADDRESSES = 65536
GROUP = "discovered"
#: TCP ports whose SYN (or connect) counts as a sign of life, besides ICMP/ARP: devices
#: that drop pings usually still answer on their service ports (plus the health ports the
#: probes declare).
COMMON_PORTS = (22, 23, 80, 443, 445, 3389)


def liveness_ports() -> tuple[int, ...]:
    return tuple(sorted({*COMMON_PORTS, *ProbePorts.declared({}).scanned}))


class DiscoveryError(Exception):
    """A range that cannot be swept, or nmap failed."""


@dataclass(frozen=True)
class Discovery:
    network: str
    addresses: tuple[str, ...]
    seconds: float
    xml: str


def parse_network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError as exc:
        raise DiscoveryError(f"{cidr!r} is not a CIDR range: {exc}") from None
    if network.num_addresses > MAX_ADDRESSES:
        raise DiscoveryError(
            f"{network} has {network.num_addresses} addresses; "
            f"sweep at most a /16 ({MAX_ADDRESSES}) at a time"
        )
    return network


def sweep_argv(network: str, timeout: float) -> list[str]:
    return [
        nmap_binary(),
        "-n",
        "-sn",
        "-oX",
        "-",
        "-PE",
        "-PS" + ",".join(map(str, liveness_ports())),
        "--max-retries",
        "1",
        "--host-timeout",
        f"{max(1, int(timeout))}s",
        *(["-6"] if ":" in network else []),
        network,
    ]


def live_hosts(xml: str) -> tuple[str, ...]:
    """Addresses nmap found up, excluding the scanner's own, in address order."""
    root = ElementTree.fromstring(xml.encode())
    found = []
    for host in root.iterfind("host"):
        status = host.find("status")
        if status is None or status.get("state") != "up":
            continue
        if status.get("reason") == "localhost-response":
            continue
        for addr in host.iterfind("address"):
            if addr.get("addrtype") in ("ipv4", "ipv6"):
                found.append(addr.get("addr", ""))
    return tuple(sorted(set(found), key=ipaddress.ip_address))


def discover(cidr: str, timeout: float = 120.0) -> Discovery:
    network = str(parse_network(cidr))
    started = datetime.now(UTC)
    try:
        proc = subprocess.run(
            sweep_argv(network, timeout),
            capture_output=True,
            check=False,
            timeout=timeout + 5,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise DiscoveryError(f"nmap sweep of {network} did not finish in {timeout:.0f}s") from None
    if proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["?"]
        raise DiscoveryError(f"nmap sweep of {network} failed: {detail[0]}")
    xml = proc.stdout.decode("utf-8", "replace")
    seconds = (datetime.now(UTC) - started).total_seconds()
    return Discovery(network, live_hosts(xml), seconds, xml)


def targets(found: Discovery) -> list[Target]:
    """Network-only targets: probed from the scanner, never logged into."""
    return [
        Target(name=a, address=a, transport="none", tags=(GROUP,), groups=(GROUP,))
        for a in found.addresses
    ]


def inventory_yaml(found: list[Discovery]) -> str:
    """An inventory file for ``hygie scan -i``, with where the hosts came from."""
    hosts = {a: {"address": a} for d in found for a in d.addresses}
    doc = {"groups": {GROUP: {"vars": {"transport": "none", "tags": [GROUP]}, "hosts": hosts}}}
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    header = "".join(
        f"# hygie discover {d.network} at {stamp}: {len(d.addresses)} live host(s) "
        f"in {d.seconds:.1f}s\n"
        for d in found
    )
    if not hosts:
        return header + "# no live host found\n"
    return header + yaml.safe_dump(doc, sort_keys=False)
