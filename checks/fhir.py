"""FHIR judged from the network: anonymous reads, plain HTTP, SMART on FHIR.

A FHIR server that answers anonymous searches is an open patient index. Each check reads
the transcript of a harmless probe (see :mod:`hygie.facts.fhir`): no check ever talks to
the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hygie.checks._endpoints import Judgement, judge_endpoints
from hygie.facts.fhir import FhirBase, HttpReply, parse_fhir
from hygie.registry import ANY_FAMILY, Facts, Verdict, check

FHIR = "fhir_probe"


def _fhir_bases(facts: Facts) -> list[FhirBase]:
    return facts.parsed(FHIR, parse_fhir)


def _base_label(base: FhirBase) -> str:
    return f"FHIR base {base.base}"


def _anonymous(base: FhirBase) -> Judgement:
    reply: HttpReply | None = base.anonymous_read
    if reply is None or reply.status is None:
        return None, reply.describe() if reply else "not tested (no FHIR answer)"
    if 200 <= reply.status < 300:
        total = (reply.summary or {}).get("total")
        count = f", total {total} patients" if total is not None else ""
        return False, f"anonymous read allowed: {reply.describe()}{count}"
    if reply.status in (401, 403):
        return True, f"refused without a token: {reply.describe()}"
    return None, f"unexpected answer: {reply.describe()}"


@check(
    facts=(FHIR,),
    families=(ANY_FAMILY,),
)
def fhir_anonymous_read(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    return judge_endpoints(
        FHIR,
        _fhir_bases(facts),
        _anonymous,
        _base_label,
        "GET Patient?_summary=count without a token: 401 or 403",
        "no FHIR base configured or found",
    )


def _https(base: FhirBase) -> Judgement:
    if not base.cleartext:
        return True, "served over HTTPS"
    replies = [r for r in (base.metadata, base.anonymous_read) if r is not None]
    answered = [r for r in replies if r.status is not None]
    if answered and all(r.location.startswith("https://") for r in answered):
        return True, f"plain HTTP only redirects to HTTPS: {answered[0].describe()}"
    if answered:
        return False, f"FHIR over plain HTTP: {answered[0].describe()}"
    return None, replies[0].describe() if replies else "no reply"


@check(
    facts=(FHIR,),
    families=(ANY_FAMILY,),
)
def fhir_https_only(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    return judge_endpoints(
        FHIR,
        _fhir_bases(facts),
        _https,
        _base_label,
        "HTTPS only (plain HTTP redirects to HTTPS)",
        "no FHIR base configured or found",
    )


def _smart(base: FhirBase) -> Judgement:
    reply = base.smart
    if reply is None or reply.status is None:
        return None, reply.describe() if reply else "not tested (no FHIR answer)"
    token = (reply.summary or {}).get("token_endpoint", "") if reply.status == 200 else ""
    if not token:
        return False, f"no SMART configuration: {reply.describe()}"
    if not token.startswith("https://"):
        return False, f"token endpoint not over HTTPS: {token}"
    return True, f"SMART configuration with token endpoint {token}"


@check(
    facts=(FHIR,),
    families=(ANY_FAMILY,),
)
def fhir_smart_configuration(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    return judge_endpoints(
        FHIR,
        _fhir_bases(facts),
        _smart,
        _base_label,
        "SMART configuration with an HTTPS token endpoint",
        "no FHIR base configured or found",
    )
