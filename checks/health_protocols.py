"""Health protocols judged from the network: DICOM, HL7 v2 over MLLP, FHIR.

Imaging and interface engines are where patient data moves in bulk. A PACS that accepts any
AE title hands images to whoever asks; an MLLP feed in cleartext carries names, diagnoses
and results readable on the wire; a FHIR server that answers anonymous searches is an open
patient index. Each check reads the transcript of a harmless probe (see
:mod:`hygie.facts.health_protocols`): no check ever talks to the network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hygie.facts.health_protocols import (
    CALLED_TEST,
    CALLING_TEST,
    PROBE,
    REJECT_CALLED_AE,
    REJECT_CALLING_AE,
    DicomAttempt,
    DicomEndpoint,
    FhirBase,
    HttpReply,
    parse_dicom,
    parse_fhir,
    parse_hl7,
)
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

DICOM = "dicom_echo"
HL7 = "hl7_mllp"
FHIR = "fhir_probe"


# -- DICOM ----------------------------------------------------------------------------------

#: A per-endpoint judgement: True enforced, False not, None undetermined; and why.
Judgement = tuple[bool | None, str]


def _called_ae(ep: DicomEndpoint) -> Judgement:
    """Does the endpoint refuse an association addressed to an AE title it is not?"""
    probe, called = ep.attempt(PROBE), ep.attempt(CALLED_TEST)
    if probe is not None and probe.accepted:
        return False, f"accepted the bogus called AE title {probe.called_ae!r}"
    if probe is not None and probe.refused_for(REJECT_CALLED_AE):
        return True, "refused the bogus called AE title (called AE title not recognised)"
    if called is not None and called.accepted:
        return False, f"accepted the bogus called AE title from {called.calling_ae!r}"
    if called is not None and called.refused:
        return True, f"refused the bogus called AE title from {called.calling_ae!r}"
    return None, "refused the probe for another reason; set network.dicom_calling_ae to test"


def _calling_ae(ep: DicomEndpoint) -> Judgement:
    """Does the endpoint refuse a calling AE title it does not know?"""
    probe, calling = ep.attempt(PROBE), ep.attempt(CALLING_TEST)
    if probe is not None and probe.accepted:
        return False, f"accepted the unknown calling AE title {probe.calling_ae!r}"
    if probe is not None and probe.refused_for(REJECT_CALLING_AE):
        return True, "refused the unknown calling AE title (calling AE title not recognised)"
    if calling is not None and calling.accepted:
        return False, f"accepted the unknown calling AE title {calling.calling_ae!r}"
    if calling is not None and calling.refused:
        return True, f"refused the unknown calling AE title {calling.calling_ae!r}"
    return None, "refused the probe for another reason; set network.dicom_ae_title to test"


def _dicom_endpoints(facts: Facts) -> list[DicomEndpoint]:
    """Endpoints that answered DICOM (a closed port or a non-DICOM service is not one)."""
    return [ep for ep in facts.parsed(DICOM, parse_dicom) if ep.speaks_dicom]


def _judge_endpoints(
    fact: str, items: list[Any], judge: Callable[[Any], Judgement],
    label: Callable[[Any], str], expected: str, nothing: str,
) -> Verdict:  # fmt: skip
    """Fail if any item fails, error if any is undetermined, pass if all pass."""
    if not items:
        return not_applicable(nothing)
    judged = [(item, *judge(item)) for item in items]
    evidence = tuple(Evidence(expected, f"{label(i)}: {why}", fact) for i, _, why in judged)
    if any(ok is False for _, ok, _ in judged):
        return failed("; ".join(f"{label(i)} {why}" for i, ok, why in judged if ok is False),
                      *evidence)  # fmt: skip
    if any(ok is None for _, ok, _ in judged):
        return errored("; ".join(f"{label(i)}: cannot tell, {why}"
                                 for i, ok, why in judged if ok is None), *evidence)  # fmt: skip
    return passed(f"{len(items)} endpoint(s): {expected}", *evidence)


def _dicom_label(ep: DicomEndpoint) -> str:
    return f"DICOM port {ep.port}{' (TLS)' if ep.tls else ''}"


@check(
    facts=(DICOM,),
    families=(ANY_FAMILY,),
)
def dicom_called_ae_enforced(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    return _judge_endpoints(
        DICOM, _dicom_endpoints(facts), _called_ae, _dicom_label,
        "associations to a bogus called AE title are rejected",
        "no DICOM service answered on the probed ports",
    )  # fmt: skip


@check(
    facts=(DICOM,),
    families=(ANY_FAMILY,),
)
def dicom_calling_ae_enforced(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    return _judge_endpoints(
        DICOM, _dicom_endpoints(facts), _calling_ae, _dicom_label,
        "associations from an unknown calling AE title are rejected",
        "no DICOM service answered on the probed ports",
    )  # fmt: skip


def _dicom_tls(ep: DicomEndpoint) -> Judgement:
    if ep.tls:
        return True, "DICOM over TLS"
    first: DicomAttempt = ep.attempts[0]
    return False, f"DICOM in cleartext ({first.outcome} an association without TLS)"


@check(
    facts=(DICOM,),
    families=(ANY_FAMILY,),
)
def dicom_tls(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    return _judge_endpoints(
        DICOM, _dicom_endpoints(facts), _dicom_tls, _dicom_label,
        "DICOM only over TLS", "no DICOM service answered on the probed ports",
    )  # fmt: skip


# -- HL7 v2 MLLP ----------------------------------------------------------------------------


@check(
    facts=(HL7,),
    families=(ANY_FAMILY,),
)
def hl7_mllp_tls(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    endpoints = [e for e in parse_hl7(facts.text(HL7)) if e.outcome != "closed"]
    return _judge_endpoints(
        HL7, endpoints,
        lambda e: (e.outcome == "tls", e.detail if e.outcome == "tls"
                   else f"no TLS: {e.detail}"),
        lambda e: f"MLLP port {e.port}", "TLS handshake completes",
        "no listener on the HL7 MLLP ports",
    )  # fmt: skip


# -- FHIR -------------------------------------------------------------------------------------


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
    return _judge_endpoints(
        FHIR, _fhir_bases(facts), _anonymous, _base_label,
        "GET Patient?_summary=count without a token: 401 or 403",
        "no FHIR base configured or found",
    )  # fmt: skip


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
    return _judge_endpoints(
        FHIR, _fhir_bases(facts), _https, _base_label,
        "HTTPS only (plain HTTP redirects to HTTPS)", "no FHIR base configured or found",
    )  # fmt: skip


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
    return _judge_endpoints(
        FHIR, _fhir_bases(facts), _smart, _base_label,
        "SMART configuration with an HTTPS token endpoint", "no FHIR base configured or found",
    )  # fmt: skip
