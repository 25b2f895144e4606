"""DICOM judged from the network: are unknown AE titles refused, is DICOM only over TLS?

A PACS that accepts any AE title hands images to whoever asks. Each check reads the
transcript of a harmless probe (see :mod:`hygie.facts.dicom`): no check ever talks to the
network.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hygie.checks._endpoints import Judgement, judge_endpoints
from hygie.facts.dicom import (
    CALLED_TEST,
    CALLING_TEST,
    PROBE,
    REJECT_CALLED_AE,
    REJECT_CALLING_AE,
    DicomAttempt,
    DicomEndpoint,
    parse_dicom,
)
from hygie.registry import ANY_FAMILY, Facts, Verdict, check

DICOM = "dicom_echo"


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


def _dicom_label(ep: DicomEndpoint) -> str:
    return f"DICOM port {ep.port}{' (TLS)' if ep.tls else ''}"


@check(
    facts=(DICOM,),
    families=(ANY_FAMILY,),
)
def dicom_called_ae_enforced(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    return judge_endpoints(
        DICOM,
        _dicom_endpoints(facts),
        _called_ae,
        _dicom_label,
        "associations to a bogus called AE title are rejected",
        "no DICOM service answered on the probed ports",
    )


@check(
    facts=(DICOM,),
    families=(ANY_FAMILY,),
)
def dicom_calling_ae_enforced(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    return judge_endpoints(
        DICOM,
        _dicom_endpoints(facts),
        _calling_ae,
        _dicom_label,
        "associations from an unknown calling AE title are rejected",
        "no DICOM service answered on the probed ports",
    )


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
    return judge_endpoints(
        DICOM,
        _dicom_endpoints(facts),
        _dicom_tls,
        _dicom_label,
        "DICOM only over TLS",
        "no DICOM service answered on the probed ports",
    )
