"""TLS profiles and cipher-suite classification: what the TLS checks judge against.

Data and vocabulary, not checks: a profile (Mozilla intermediate or modern, ANSSI, NIST SP
800-52r2) is a YAML file in ``hygie/data/tls_profiles`` naming the protocols, suites and
key sizes it allows; the classifiers read an IANA suite name (as sslyze records it) for
what it says of the cipher, key exchange and curve. Kept apart from ``checks/tls.py`` so
that the checks read as verdicts and a profile or a suite family changes in one place.
The leading underscore keeps this module out of check discovery: it declares no check
and has no data file of texts.
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml

# --------------------------------------------------------------------------- profiles

_PROFILE_KEYS = {
    "name",
    "title",
    "source",
    "protocols",
    "cipher_suites",
    "tls13_cipher_suites",
    "cbc_allowed",
    "min_dh_bits",
    "min_rsa_bits",
    "min_ec_bits",
    "hsts_min_age",
}


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    protocols: frozenset[str]
    cipher_suites: frozenset[str]
    cbc_allowed: bool
    min_dh_bits: int
    min_rsa_bits: int
    min_ec_bits: int
    hsts_min_age: int


def _profiles_dir():
    return importlib.resources.files("hygie") / "data" / "tls_profiles"


@cache
def profiles() -> dict[str, Profile]:
    """The shipped TLS profiles by name, validated once."""
    found = {}
    for entry in sorted(_profiles_dir().iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        doc = yaml.safe_load(entry.read_text("utf-8"))
        if set(doc) != _PROFILE_KEYS or doc["name"] != entry.name.removesuffix(".yaml"):
            raise ValueError(f"tls profile {entry.name}: keys must be {sorted(_PROFILE_KEYS)}")
        found[doc["name"]] = Profile(
            name=doc["name"],
            title=doc["title"],
            protocols=frozenset(doc["protocols"]),
            cipher_suites=frozenset(doc["cipher_suites"]) | frozenset(doc["tls13_cipher_suites"]),
            cbc_allowed=bool(doc["cbc_allowed"]),
            min_dh_bits=int(doc["min_dh_bits"]),
            min_rsa_bits=int(doc["min_rsa_bits"]),
            min_ec_bits=int(doc["min_ec_bits"]),
            hsts_min_age=int(doc["hsts_min_age"]),
        )
    return found


# --------------------------------------------------------------------------- suites


def _cipher_part(name: str) -> str:
    """``AES_128_CBC_SHA`` of ``TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA``; SSLv2 and TLS 1.3
    names have no ``_WITH_``."""
    if name.startswith("SSL_CK_"):  # SSLv2: SSL_CK_<cipher>_WITH_<mac>
        return name.removeprefix("SSL_CK_").split("_WITH_", 1)[0]
    if "_WITH_" in name:
        return name.split("_WITH_", 1)[1]
    return name.removeprefix("TLS_")


def broken_reasons(suite: Mapping[str, Any]) -> list[str]:
    """Why a suite gives no real protection: NULL, EXPORT, anonymous, RC4/RC2, DES, 3DES."""
    name = suite["name"]
    tokens = _cipher_part(name).split("_")
    reasons = []
    if tokens[0] == "NULL":
        reasons.append("NULL cipher")
    if "EXPORT" in name:
        reasons.append("EXPORT")
    if suite.get("is_anonymous") or "_anon_" in name:
        reasons.append("anonymous")
    if {"RC4", "RC2"} & set(tokens):
        reasons.append("RC4/RC2")
    if "3DES" in tokens or "EDE3" in tokens:
        reasons.append("3DES")
    elif {"DES", "DES40"} & set(tokens):
        reasons.append("DES")
    return reasons


def forward_secret(name: str, protocol: str) -> bool:
    """TLS 1.3 suites always are; older ones only with an ephemeral (EC)DHE exchange."""
    if protocol == "TLSv1.3":
        return True
    if "_WITH_" not in name:
        return False
    exchange = name.split("_WITH_", 1)[0].removeprefix("TLS_").removeprefix("SSL_")
    return exchange.startswith(("ECDHE", "DHE"))


def is_cbc(name: str) -> bool:
    return "CBC" in _cipher_part(name).split("_")


def curve_bits(name: str) -> int | None:
    """Strength of a named curve in key bits (X25519 counts as 256: 128-bit security)."""
    special = {"X25519": 256, "X448": 448}
    if name in special:
        return special[name]
    m = re.search(r"(\d{3})", name)
    return int(m.group(1)) if m else None
