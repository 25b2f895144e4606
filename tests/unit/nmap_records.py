"""Minimal ``nmap_services`` facts for unit tests: one discovery run that demonstrably
scanned the address (host up, address, port states), as the parser requires."""

from __future__ import annotations

import json

from hygie.model import Fact


def nmap_record(
    ports_xml: str = "",
    address: str = "192.0.2.7",
    argv: list[str] | None = None,
    safe: bool = False,
    privileged: bool = True,
) -> bytes:
    host = f'<status state="up"/><address addr="{address}" addrtype="ipv4"/>'
    xml = f'<?xml version="1.0"?><nmaprun><host>{host}<ports>{ports_xml}</ports></host></nmaprun>'
    run = {"phase": "discovery", "argv": argv or ["nmap", "-sS", "-p", "T:22", "x"], "xml": xml}
    doc = {
        "format": "hygie-nmap/1",
        "address": address,
        "privileged": privileged,
        "safe_mode": safe,
        "runs": [run],
    }
    return json.dumps(doc).encode()


def nmap_fact(ports_xml: str = "", address: str = "192.0.2.7", **kwargs) -> dict[str, Fact]:
    return {"nmap_services": Fact("nmap_services", nmap_record(ports_xml, address, **kwargs))}
