"""HL7 v2 over MLLP seen from the network: does the listener speak TLS?

The probe sends a TLS ClientHello and nothing else. A listener that does not answer it with
TLS is cleartext; no HL7 message is ever sent (an interface engine would route it). The
JSON transcript is the evidence the check judges. Bounds and port sources:
:mod:`hygie.facts._probe_io`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from hygie.facts._probe_io import (
    NMAP_FACT,
    budget,
    nmap_ports,
    port_sources,
    tcp_ports,
    tls_handshake,
    transcript_json,
)
from hygie.factspec import ProbeContext, probe_fact

HL7_PORTS = (2575,)
NMAP_HL7 = frozenset({"hl7"})


# -- HL7 v2 MLLP ----------------------------------------------------------------------------


@probe_fact(
    "hl7_mllp",
    "TLS handshake attempts (never an HL7 message) on the HL7 MLLP ports (JSON transcript)",
    requires=(NMAP_FACT,),
    timeout=60,
    setting_keys=("hl7_ports",),
    settings=lambda settings, tags=(): tcp_ports(settings, "hl7_ports"),
    scan_ports=HL7_PORTS,
    port_settings=("hl7_ports",),
    version_probes=False,
)
def probe_hl7(ctx: ProbeContext) -> bytes:
    ports = port_sources(
        ("default", HL7_PORTS),
        ("settings", tcp_ports(ctx.settings, "hl7_ports")),
        ("nmap", tuple(p.port for p in nmap_ports(ctx) if p.name in NMAP_HL7)),
    )
    endpoints = []
    for port, found_by in ports.items():
        outcome, details = tls_handshake(ctx.address, port, budget(ctx))
        endpoints.append({"port": port, "found_by": found_by, "outcome": outcome, **details})
    tls = [e["port"] for e in endpoints if e["outcome"] == "tls"]
    return transcript_json({"address": ctx.address, "endpoints": endpoints, "tls_candidates": tls})


@dataclass(frozen=True)
class MllpEndpoint:
    port: int
    outcome: str  # tls | not_tls | closed
    detail: str

    def describe(self) -> str:
        return f"port {self.port}: {self.outcome} ({self.detail})"


def parse_hl7(raw: str | bytes) -> list[MllpEndpoint]:
    endpoints = []
    for e in json.loads(raw)["endpoints"]:
        detail = e.get("error") or f"{e.get('version')} {e.get('cipher')}"
        endpoints.append(MllpEndpoint(e["port"], e["outcome"], detail))
    return endpoints
