"""HL7 v2 over MLLP judged from the network: does every listener require TLS?

An MLLP feed in cleartext carries names, diagnoses and results readable on the wire. The
check reads the transcript of a harmless probe (see :mod:`hygie.facts.hl7`): no check
ever talks to the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hygie.checks._endpoints import judge_endpoints
from hygie.facts.hl7 import parse_hl7
from hygie.registry import ANY_FAMILY, Facts, Verdict, check

HL7 = "hl7_mllp"


@check(
    facts=(HL7,),
    families=(ANY_FAMILY,),
)
def hl7_mllp_tls(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    endpoints = [e for e in parse_hl7(facts.text(HL7)) if e.outcome != "closed"]
    return judge_endpoints(
        HL7,
        endpoints,
        lambda e: (e.outcome == "tls", e.detail if e.outcome == "tls" else f"no TLS: {e.detail}"),
        lambda e: f"MLLP port {e.port}",
        "TLS handshake completes",
        "no listener on the HL7 MLLP ports",
    )
