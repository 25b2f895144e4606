"""Transcripts recorded from the lab services (tests/lab/services/health_*.py run on
loopback), shared by the DICOM, HL7 and FHIR tests.

Fixtures are named by outcome: ``dicom_open_scp.fail.json`` is what a PACS accepting any
AE title looks like to the probe.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hygie.facts.network import SettingsError
from hygie.factspec import ProbeContext
from hygie.model import Status
from tests.unit.nmap_records import nmap_fact

FIXTURES = Path(__file__).parent.parent / "fixtures" / "health"
F, P, E, NA = Status.FAIL, Status.PASS, Status.ERROR, Status.NOT_APPLICABLE


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def doc(name: str) -> dict:
    return json.loads(raw(name))


def dumps(value: dict) -> bytes:
    return json.dumps(value).encode()


def probe_context(settings=None, tags=(), facts=None, seconds=30.0) -> ProbeContext:
    facts = facts or nmap_fact(address="127.0.0.1")
    return ProbeContext("lab", "127.0.0.1", tags, settings or {}, facts, time.monotonic() + seconds)


def assert_refused(probe: Callable[[ProbeContext], bytes], settings: dict, message: str) -> None:
    """Bad settings are refused before any packet is sent."""
    with pytest.raises(SettingsError, match=re.escape(message)):
        probe(probe_context(settings))
