"""TLS on every endpoint of a host, judged on sslyze's recorded audit (fact ``tls_scan``).

Patient data crosses the network to portals, PACS viewers, HL7/FHIR interfaces and mail
relays; the TLS those services accept decides whether that traffic can be read or forged
by anyone on the path. Each check covers one weakness on every endpoint of the host: it
fails when any endpoint shows it, reports ``error`` when an endpoint could not be audited
(a timeout never reads as a pass), and is not applicable on hosts without TLS endpoints.

Thresholds come from a profile chosen in the policy (param ``profile``): Mozilla
intermediate or modern, ANSSI, NIST SP 800-52r2, shipped as data in
``hygie/data/tls_profiles``. Certificate dates are judged at the scan time recorded in
the fact, so re-judging an old scan gives the same answer.
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import yaml

from hygie.facts.tls import FACT, Endpoint, Skipped, TlsScan, Unaudited, parse_tls_scan
from hygie.model import Evidence
from hygie.registry import (
    ANY_FAMILY,
    Facts,
    Param,
    Verdict,
    check,
    errored,
    failed,
    not_applicable,
    passed,
)

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


PROFILE_PARAM = Param(
    "mozilla-intermediate",
    "TLS profile the thresholds come from (hygie/data/tls_profiles)",
    choices=tuple(profiles()),
)


def _profile(params: Mapping[str, Any]) -> Profile:
    return profiles()[params["profile"]]


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


# --------------------------------------------------------------------------- judging

Inspect = Callable[[Endpoint], list[str]]


def _scan(facts: Facts) -> TlsScan:
    return facts.parsed(FACT, parse_tls_scan)


def _endpoints_verdict(
    facts: Facts,
    expected: str,
    inspect: Inspect,
    *,
    ok: str,
    bad: str,
    applies: Callable[[Endpoint], bool] = lambda e: True,
    nothing: str = "no TLS endpoint on this host",
) -> Verdict:
    """Fail if any endpoint has findings, error if one could not be audited, not
    applicable when no endpoint concerns the check, else pass."""
    scan = _scan(facts)
    findings, unknown, skipped, clean = [], [], [], []
    for endpoint in scan.tls_endpoints:
        try:
            if not applies(endpoint):
                continue
            problems = inspect(endpoint)
        except Skipped as exc:
            skipped.append(str(exc))
            continue
        except Unaudited as exc:
            unknown.append(str(exc))
            continue
        if problems:
            findings.append(Evidence(expected, f"{endpoint.label}: {'; '.join(problems)}", FACT))
        else:
            clean.append(endpoint.label)
    if findings:
        return failed(f"{bad} on {len(findings)} endpoint(s)", *findings)
    if unknown:
        return errored(
            "could not audit: " + "; ".join(unknown), Evidence(expected, "; ".join(unknown), FACT)
        )
    if not clean:
        where = f"{scan.address}: {_ports(scan)}"
        return not_applicable("; ".join(skipped) or nothing, Evidence(expected, where, FACT))
    return passed(ok, Evidence(expected, f"{', '.join(clean)}: none", FACT))


def _ports(scan: TlsScan) -> str:
    if not scan.endpoints:
        return "no TLS endpoint found"
    return ", ".join(f"{e.label} ({e.status})" for e in scan.endpoints)


def _capped(items: Iterable[str], limit: int = 12) -> str:
    items = list(dict.fromkeys(items))
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _accepted(endpoint: Endpoint) -> Iterable[tuple[str, Mapping[str, Any]]]:
    for protocol, suites in endpoint.accepted_suites().items():
        for accepted in suites:
            yield protocol, accepted


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _chains(endpoint: Endpoint) -> list[list[Mapping[str, Any]]]:
    return [list(d["received_certificate_chain"]) for d in endpoint.deployments()]


def _judged_certs(chain: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The leaf and the intermediates: a self-signed root the server also sends is a trust
    anchor, judged by the trust store, not by its own signature or key."""
    return [chain[0]] + [
        c for c in chain[1:] if c["subject"]["rfc4514_string"] != c["issuer"]["rfc4514_string"]
    ]


def _cn(cert: Mapping[str, Any]) -> str:
    return cert["subject"]["rfc4514_string"] or "(empty subject)"


# --------------------------------------------------------------------------- references

_TRANSIT = {
    "hipaa": ["164.312(e)(1)", "164.312(e)(2)(ii)"],
    "gdpr": ["32(1)(a)"],
    "nis2": ["21(2)(h)"],
    "iso27001_2022": ["A.8.24", "A.8.20"],
    "nist_800_53r5": ["SC-8", "SC-8(1)", "SC-13"],
    "nist_csf_2_0": ["PR.DS-02"],
    "anssi_hygiene": ["21"],
    "cis_controls_v8": ["3.10"],
}
_PKI = {
    "hipaa": ["164.312(e)(1)", "164.312(d)"],
    "gdpr": ["32(1)(a)"],
    "nis2": ["21(2)(h)"],
    "iso27001_2022": ["A.8.24"],
    "nist_800_53r5": ["SC-12", "SC-8(1)"],
    "nist_csf_2_0": ["PR.DS-02"],
    "anssi_hygiene": ["21"],
    "cis_controls_v8": ["3.10"],
}
_FLAW = {
    "hipaa": ["164.308(a)(1)(ii)(B)", "164.312(e)(1)"],
    "gdpr": ["32(1)(b)"],
    "nis2": ["21(2)(e)"],
    "iso27001_2022": ["A.8.8"],
    "nist_800_53r5": ["SI-2", "RA-5"],
    "nist_csf_2_0": ["ID.RA-01"],
    "anssi_hygiene": ["34"],
    "cis_controls_v8": ["7.1"],
}
_NGINX = "e.g. nginx `ssl_protocols`/`ssl_ciphers`, Apache `SSLProtocol`/`SSLCipherSuite`"
_MOZILLA = "generate a configuration at https://ssl-config.mozilla.org for the chosen profile"


def _tls_check(**kwargs):
    """Every TLS check reads the one fact and applies to any OS and to devices."""
    return check(facts=(FACT,), families=(ANY_FAMILY,), **kwargs)


# --------------------------------------------------------------------------- protocol


@_tls_check(
    title="TLS endpoints accept only the protocol versions of the profile",
    severity="high",
    rationale="""
SSLv2 and SSLv3 are broken (DROWN, POODLE) and TLS 1.0/1.1 were deprecated by RFC 8996:
they rely on MD5/SHA-1 and CBC constructions with practical attacks. An endpoint that still
accepts them lets an attacker on the path downgrade a client handling patient data.
""",
    remediation=f"""
Allow only TLS 1.2 and 1.3 (TLS 1.3 only for the modern profile): {_NGINX}; {_MOZILLA}.
""",
    references=_TRANSIT,
    params={"profile": PROFILE_PARAM},
)
def tls_protocol_versions(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    profile = _profile(params)

    def inspect(endpoint: Endpoint) -> list[str]:
        enabled = [p for p, suites in endpoint.accepted_suites().items() if suites]
        return [f"{p} enabled" for p in enabled if p not in profile.protocols]

    return _endpoints_verdict(
        facts,
        f"only {', '.join(sorted(profile.protocols))} ({profile.name})",
        inspect,
        ok="no endpoint accepts a protocol version outside the profile",
        bad="outdated protocol versions accepted",
    )


# --------------------------------------------------------------------------- suites


@_tls_check(
    title="No NULL, EXPORT, anonymous, RC4, DES or 3DES cipher suite is accepted",
    severity="critical",
    rationale="""
These suites give no confidentiality (NULL), no authentication (anonymous: any machine in
the middle can impersonate the server), or ciphers broken in practice (EXPORT 40/56-bit
keys, RC4 biases, DES brute force, 3DES 64-bit blocks: Sweet32). Traffic protected by them
must be considered cleartext.
""",
    remediation=f"""
Remove them from the server's cipher list ({_NGINX}); {_MOZILLA}.
""",
    references=_TRANSIT,
)
def tls_broken_cipher_suites(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    def inspect(endpoint: Endpoint) -> list[str]:
        found = []
        for _, accepted in _accepted(endpoint):
            reasons = broken_reasons(accepted["cipher_suite"])
            if reasons:
                found.append(f"{accepted['cipher_suite']['name']} ({'/'.join(reasons)})")
        return [_capped(found)] if found else []

    return _endpoints_verdict(
        facts,
        "no NULL/EXPORT/anon/RC4/DES/3DES suite",
        inspect,
        ok="no broken cipher suite is accepted",
        bad="broken cipher suites accepted",
    )


@_tls_check(
    title="Every accepted cipher suite has forward secrecy",
    severity="high",
    rationale="""
With static RSA or static DH key exchange, whoever obtains the server's private key later
(a stolen backup, a decommissioned appliance) decrypts every recorded session: years of
patient traffic at once. Ephemeral (EC)DHE, and every TLS 1.3 suite, prevent that.
""",
    remediation=f"""
Keep only ECDHE/DHE suites for TLS 1.2 and older ({_NGINX}); {_MOZILLA}.
""",
    references=_TRANSIT,
)
def tls_forward_secrecy(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    def inspect(endpoint: Endpoint) -> list[str]:
        found = [
            f"{a['cipher_suite']['name']} ({protocol})"
            for protocol, a in _accepted(endpoint)
            if not forward_secret(a["cipher_suite"]["name"], protocol)
        ]
        return [_capped(found)] if found else []

    return _endpoints_verdict(
        facts,
        "only (EC)DHE or TLS 1.3 suites",
        inspect,
        ok="every accepted suite has forward secrecy",
        bad="suites without forward secrecy",
    )


@_tls_check(
    title="No CBC-mode cipher suite is accepted where the profile forbids it",
    severity="low",
    rationale="""
CBC-mode suites in TLS use MAC-then-encrypt, the source of a long line of padding-oracle
attacks (Lucky13, POODLE-TLS, Zombie POODLE); AEAD suites (GCM, CCM, ChaCha20-Poly1305)
avoid the construction. Mozilla's profiles exclude CBC; ANSSI and NIST SP 800-52r2 still
tolerate AES-CBC with SHA-2.
""",
    remediation=f"""
Prefer AEAD suites only (AES-GCM, ChaCha20-Poly1305) ({_NGINX}); {_MOZILLA}.
""",
    references=_TRANSIT,
    params={"profile": PROFILE_PARAM},
)
def tls_cbc_cipher_suites(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    profile = _profile(params)

    def inspect(endpoint: Endpoint) -> list[str]:
        if profile.cbc_allowed:
            return []
        found = [
            a["cipher_suite"]["name"]
            for _, a in _accepted(endpoint)
            if is_cbc(a["cipher_suite"]["name"])
        ]
        return [_capped(found)] if found else []

    allowed = "allowed" if profile.cbc_allowed else "forbidden"
    return _endpoints_verdict(
        facts,
        f"CBC suites {allowed} ({profile.name})",
        inspect,
        ok=f"no CBC suite accepted, or the {profile.name} profile allows them",
        bad="CBC cipher suites accepted",
    )


@_tls_check(
    title="Accepted cipher suites are those of the TLS profile",
    severity="medium",
    rationale="""
Each profile lists the suites its authors reviewed; anything else (CAMELLIA, ARIA, SEED,
SHA-1 MACs, static DH, PSK...) is outside what the organisation decided to accept and
usually survives only because a default was never tightened.
""",
    remediation=f"""
Set the server's cipher list to the profile's ({_NGINX}); {_MOZILLA}.
""",
    references=_TRANSIT,
    params={"profile": PROFILE_PARAM},
)
def tls_profile_cipher_suites(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    profile = _profile(params)

    def inspect(endpoint: Endpoint) -> list[str]:
        found = [
            a["cipher_suite"]["name"]
            for protocol, a in _accepted(endpoint)
            if protocol in profile.protocols
            and a["cipher_suite"]["name"] not in profile.cipher_suites
        ]
        return [_capped(found)] if found else []

    return _endpoints_verdict(
        facts,
        f"only the suites of {profile.name}",
        inspect,
        ok=f"every suite accepted on an allowed protocol is in {profile.name}",
        bad=f"suites outside {profile.name} accepted",
    )


@_tls_check(
    title="Key exchange groups are strong: DH >= 2048 bits, no weak elliptic curve",
    severity="high",
    rationale="""
A 1024-bit Diffie-Hellman group can be broken by a well-funded attacker (Logjam; the
precomputation is shared by every server using the same group), and curves below 256 bits
fall short of 128-bit security. The key exchange protects every session key.
""",
    remediation="""
Use 2048-bit or larger DH groups (`ssl_dhparam` with `openssl dhparam 2048`, or the RFC 7919
ffdhe groups) or disable DHE; restrict curves to X25519, P-256, P-384 (`ssl_ecdh_curve`).
""",
    references=_TRANSIT,
    params={"profile": PROFILE_PARAM},
)
def tls_key_exchange_strength(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    profile = _profile(params)

    def inspect(endpoint: Endpoint) -> list[str]:
        found = []
        for _, accepted in _accepted(endpoint):
            key = accepted.get("ephemeral_key") or {}
            if key.get("type_name") == "DH" and key["size"] < profile.min_dh_bits:
                found.append(f"DH {key['size']} bits")
        curves = endpoint.command("elliptic_curves")["supported_curves"] or []
        for curve in curves:
            bits = curve_bits(curve["name"])
            if bits is not None and bits < profile.min_ec_bits:
                found.append(f"curve {curve['name']} ({bits} bits)")
        return [_capped(found)] if found else []

    return _endpoints_verdict(
        facts,
        f"DH >= {profile.min_dh_bits} bits, curves >= {profile.min_ec_bits} bits",
        inspect,
        ok="key exchange groups are strong",
        bad="weak key exchange groups",
    )


# --------------------------------------------------------------------------- certificate


@_tls_check(
    title="Certificates are within their validity period at scan time",
    severity="critical",
    rationale="""
An expired (or not yet valid) certificate breaks authentication: clients either refuse the
connection (an outage of a clinical service) or, worse, users and interfaces are trained to
click through certificate warnings, which is exactly what an interception needs.
""",
    remediation="""
Renew the certificate and automate renewal (ACME, or the internal PKI's enrolment), then
reload the service; monitor expiry.
""",
    references=_PKI,
)
def tls_certificate_validity(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    at = _scan(facts).scanned_at

    def inspect(endpoint: Endpoint) -> list[str]:
        found = []
        for chain in _chains(endpoint):
            for cert in _judged_certs(chain):
                start, end = _when(cert["not_valid_before"]), _when(cert["not_valid_after"])
                if end < at:
                    found.append(f"{_cn(cert)} expired {end:%Y-%m-%d} ({(at - end).days} d ago)")
                elif start > at:
                    found.append(f"{_cn(cert)} not valid before {start:%Y-%m-%d}")
        return found

    return _endpoints_verdict(
        facts,
        f"valid at the scan time {at:%Y-%m-%d %H:%M} UTC",
        inspect,
        ok="every certificate is valid at scan time",
        bad="certificate outside its validity",
    )


@_tls_check(
    title="No certificate expires within the warning window",
    severity="medium",
    rationale="""
Expiry is the most common cause of TLS outages; a certificate that expires within weeks
needs a renewal now, while there is time to go through change management on clinical
systems.
""",
    remediation="""
Renew the certificate (and automate renewal); lower the window only if renewal is automated.
""",
    references=_PKI,
    params={
        "days": Param(
            30, "warn when a certificate expires within this many days", minimum=1, maximum=365
        )
    },
)
def tls_certificate_expiring(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    at = _scan(facts).scanned_at
    days = params["days"]

    def inspect(endpoint: Endpoint) -> list[str]:
        found = []
        for chain in _chains(endpoint):
            for cert in _judged_certs(chain):
                left = (_when(cert["not_valid_after"]) - at).days
                if left < days:
                    state = "expired" if left < 0 else f"expires in {left} d"
                    found.append(f"{_cn(cert)} {state} ({cert['not_valid_after'][:10]})")
        return found

    return _endpoints_verdict(
        facts,
        f"more than {days} days of validity left at scan time",
        inspect,
        ok=f"no certificate expires within {days} days",
        bad="certificates expiring soon",
    )


@_tls_check(
    title="Certificate chains lead to the trust store (no self-signed or untrusted chain)",
    severity="high",
    rationale="""
A self-signed certificate, or one from an unknown CA, cannot be told apart from an
attacker's: clients either fail or are configured to accept anything, and then any
machine on the path can impersonate the PACS, the portal or the interface engine. The
trust store used (a site CA bundle given as network.ca_bundle, else Mozilla's) is recorded
in the fact.
""",
    remediation="""
Issue the certificate from a public CA or from the organisation's PKI, send the full chain
(leaf then intermediates), and give hygie the PKI's CA bundle as network.ca_bundle.
""",
    references=_PKI,
)
def tls_certificate_trusted(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    scan = _scan(facts)
    store = scan.trust_store or {}
    store_name = f"{store.get('name', '?')} {store.get('version') or store.get('sha256', '')}"

    def inspect(endpoint: Endpoint) -> list[str]:
        found = []
        for chain, trust in zip(_chains(endpoint), endpoint.trust, strict=False):
            if trust["trusted"]:
                continue
            leaf = chain[0]
            selfsigned = leaf["subject"]["rfc4514_string"] == leaf["issuer"]["rfc4514_string"]
            kind = "self-signed" if selfsigned else "untrusted"
            found.append(f"{kind} certificate {_cn(leaf)}: {trust['error']}")
        return found

    return _endpoints_verdict(
        facts,
        f"a chain to the trust store {store_name.strip()}",
        inspect,
        ok="every certificate chain leads to the trust store",
        bad="untrusted certificates",
    )


def hostname_matches(name: str, cert: Mapping[str, Any]) -> bool:
    """RFC 6125 matching against the subjectAltName (the CN is ignored, as browsers do):
    a wildcard stands for exactly one leftmost label."""
    san = cert["subject_alternative_name"]
    if name in (san.get("ip_addresses") or []):
        return True
    name = name.lower().rstrip(".")
    for pattern in (p.lower().rstrip(".") for p in san.get("dns_names") or []):
        if pattern == name:
            return True
        if pattern.startswith("*.") and "." in name:
            head, rest = name.split(".", 1)
            if head and rest == pattern[2:]:
                return True
    return False


@_tls_check(
    title="Certificates match the host name clients use",
    severity="high",
    rationale="""
A certificate for another name is refused by clients that check names, and accepted by
those that do not check at all: either way users learn to ignore warnings. The name is
network.tls_hostname, or the inventory address when it is a name.
""",
    remediation="""
Issue the certificate with every name clients use in its subjectAltName; set
network.tls_hostname in the inventory when the host is addressed by IP.
""",
    references=_PKI,
)
def tls_certificate_hostname(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    scan = _scan(facts)
    if scan.server_name_source == "ip":
        return not_applicable(
            f"{scan.address} is an IP address and network.tls_hostname is not set: the "
            "name clients use is unknown",
            Evidence("network.tls_hostname set", "not set", FACT),
        )

    def inspect(endpoint: Endpoint) -> list[str]:
        return [
            f"{scan.server_name} not in {_cn(chain[0])} SAN "
            f"{chain[0]['subject_alternative_name'].get('dns_names') or []}"
            for chain in _chains(endpoint)
            if not hostname_matches(scan.server_name, chain[0])
        ]

    return _endpoints_verdict(
        facts,
        f"subjectAltName covers {scan.server_name}",
        inspect,
        ok=f"every certificate covers {scan.server_name}",
        bad="certificate name mismatch",
    )


@_tls_check(
    title="Certificate keys are strong: RSA >= 2048 bits, EC >= 256 bits, no DSA",
    severity="high",
    rationale="""
A 1024-bit RSA key is within reach of factoring by a well-resourced attacker, and the
certificate key authenticates the server for its whole lifetime; DSA is deprecated.
""",
    remediation="""
Generate a new key (RSA 2048/3072 or ECDSA P-256/P-384) and have the certificate reissued.
""",
    references=_PKI,
    params={"profile": PROFILE_PARAM},
)
def tls_certificate_key_strength(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    profile = _profile(params)
    minimum = {"RSAPublicKey": profile.min_rsa_bits, "EllipticCurvePublicKey": profile.min_ec_bits}

    def inspect(endpoint: Endpoint) -> list[str]:
        found = []
        for chain in _chains(endpoint):
            for cert in _judged_certs(chain):
                key = cert["public_key"]
                algorithm, size = key["algorithm"], key.get("key_size") or 0
                if algorithm == "DSAPublicKey":
                    found.append(f"{_cn(cert)}: DSA key")
                elif algorithm in minimum and size < minimum[algorithm]:
                    found.append(f"{_cn(cert)}: {algorithm.removesuffix('PublicKey')} {size} bits")
        return found

    return _endpoints_verdict(
        facts,
        f"RSA >= {profile.min_rsa_bits}, EC >= {profile.min_ec_bits} bits",
        inspect,
        ok="every certificate key is strong enough",
        bad="weak certificate keys",
    )


@_tls_check(
    title="Certificates are not signed with SHA-1 or MD5",
    severity="medium",
    rationale="""
SHA-1 and MD5 signatures allow chosen-prefix collisions (SHAttered, Flame): a forged
certificate can carry a valid-looking signature. Browsers reject them; internal clients
often do not.
""",
    remediation="Have the certificate (and any intermediate) reissued with SHA-256 or better.",
    references=_PKI,
)
def tls_certificate_signature(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    def inspect(endpoint: Endpoint) -> list[str]:
        found = []
        for chain in _chains(endpoint):
            for cert in _judged_certs(chain):
                digest = (cert.get("signature_hash_algorithm") or {}).get("name", "")
                if digest in ("sha1", "md5"):
                    found.append(f"{_cn(cert)} signed with {digest.upper()}")
        return found

    return _endpoints_verdict(
        facts,
        "SHA-256 or stronger signatures",
        inspect,
        ok="no certificate is signed with SHA-1 or MD5",
        bad="weak certificate signatures",
    )


# --------------------------------------------------------------------------- HTTPS, protocol


def _is_https(endpoint: Endpoint) -> bool:
    """The endpoint answered sslyze's HTTP request: it serves HTTP over TLS."""
    if endpoint.starttls:
        return False
    return endpoint.command("http_headers").get("http_error_trace") is None


@_tls_check(
    title="HTTPS endpoints send a long-lived Strict-Transport-Security header",
    severity="medium",
    rationale="""
Without HSTS a browser's first request may go over plain HTTP, where an attacker on the
path strips TLS (sslstrip) from a portal login or a web PACS viewer; a short max-age lets
the protection lapse between visits.
""",
    remediation="""
Send `Strict-Transport-Security: max-age=63072000` (nginx `add_header ... always`) on every
HTTPS response.
""",
    references=_TRANSIT,
    params={"profile": PROFILE_PARAM},
)
def tls_hsts(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    minimum = _profile(params).hsts_min_age

    def inspect(endpoint: Endpoint) -> list[str]:
        header = endpoint.command("http_headers").get("strict_transport_security_header")
        if header is None:
            return ["no Strict-Transport-Security header"]
        age = header.get("max_age") or 0
        return [f"max-age={age} (< {minimum})"] if age < minimum else []

    return _endpoints_verdict(
        facts,
        f"Strict-Transport-Security max-age >= {minimum}",
        inspect,
        ok="every HTTPS endpoint sends a long-lived HSTS header",
        bad="HSTS missing or short",
        applies=_is_https,
        nothing="no HTTPS endpoint on this host",
    )


def _flag(command: str, key: str, message: str) -> Inspect:
    """An inspection that reports ``message`` when a boolean result field is true."""

    def inspect(endpoint: Endpoint) -> list[str]:
        return [message] if endpoint.command(command)[key] else []

    return inspect


@_tls_check(
    title="TLS compression is disabled",
    severity="high",
    rationale="""
TLS-level compression leaks secrets through the size of compressed records (CRIME): a
session cookie or token can be recovered byte by byte.
""",
    remediation="Disable TLS compression (OpenSSL: SSL_OP_NO_COMPRESSION; default since 1.1.0).",
    references=_TRANSIT,
)
def tls_compression(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    return _endpoints_verdict(
        facts,
        "compression disabled",
        _flag("tls_compression", "supports_compression", "TLS compression enabled (CRIME)"),
        ok="no endpoint compresses TLS records",
        bad="TLS compression enabled",
    )


@_tls_check(
    title="Renegotiation is secure (RFC 5746) and not client-initiated",
    severity="medium",
    rationale="""
Without the RFC 5746 extension an attacker can splice his own request in front of a
client's (CVE-2009-3555); accepting client-initiated renegotiations lets one client burn
the server's CPU (renegotiation DoS).
""",
    remediation="""
Update the TLS library and disable client-initiated renegotiation (OpenSSL:
SSL_OP_NO_RENEGOTIATION; nginx does so by default).
""",
    references=_TRANSIT,
)
def tls_renegotiation(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    def inspect(endpoint: Endpoint) -> list[str]:
        result = endpoint.command("session_renegotiation")
        found = []
        if not result["supports_secure_renegotiation"]:
            found.append("no secure renegotiation (RFC 5746)")
        if result["is_vulnerable_to_client_renegotiation_dos"]:
            found.append("accepts client-initiated renegotiation")
        return found

    return _endpoints_verdict(
        facts,
        "secure renegotiation, no client-initiated renegotiation",
        inspect,
        ok="renegotiation is secure everywhere",
        bad="insecure renegotiation",
    )


# --------------------------------------------------------------------------- known attacks

_ATTACK_REMEDIATION = """
Update the TLS library (OpenSSL, the appliance firmware) to a fixed release and restart the
service; on an appliance, ask the vendor for the fixed firmware.
"""


@_tls_check(
    title="Not vulnerable to Heartbleed (CVE-2014-0160)",
    severity="critical",
    rationale="""
Heartbleed lets anyone read the server's memory 64 KB at a time: private keys, session
cookies, passwords and the patient data the process handled, without leaving a trace.
""",
    remediation=_ATTACK_REMEDIATION,
    references=_FLAW,
)
def tls_heartbleed(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    return _endpoints_verdict(
        facts,
        "not vulnerable",
        _flag("heartbleed", "is_vulnerable_to_heartbleed", "vulnerable to Heartbleed"),
        ok="no endpoint is vulnerable to Heartbleed",
        bad="Heartbleed",
    )


@_tls_check(
    title="Not vulnerable to ROBOT (RSA padding oracle)",
    severity="high",
    rationale="""
A ROBOT oracle lets an attacker decrypt recorded RSA key-exchange sessions, or sign with
the server's key, through Bleichenbacher queries to the server.
""",
    remediation=_ATTACK_REMEDIATION + "Disabling RSA key-exchange suites also removes it.",
    references=_FLAW,
)
def tls_robot(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    def inspect(endpoint: Endpoint) -> list[str]:
        verdict = endpoint.command("robot")["robot_result"]
        if verdict.startswith("VULNERABLE"):
            return [f"ROBOT: {verdict}"]
        if verdict.startswith("UNKNOWN"):
            raise Unaudited(f"{endpoint.label}: ROBOT test inconclusive ({verdict})")
        return []

    return _endpoints_verdict(
        facts,
        "no RSA padding oracle",
        inspect,
        ok="no endpoint exposes a ROBOT oracle",
        bad="ROBOT",
    )


@_tls_check(
    title="Not vulnerable to OpenSSL CCS injection (CVE-2014-0224)",
    severity="high",
    rationale="""
The early ChangeCipherSpec flaw lets a machine in the middle force weak keying material
and then decrypt and modify the traffic.
""",
    remediation=_ATTACK_REMEDIATION,
    references=_FLAW,
)
def tls_ccs_injection(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    return _endpoints_verdict(
        facts,
        "not vulnerable",
        _flag(
            "openssl_ccs_injection", "is_vulnerable_to_ccs_injection", "vulnerable to CCS injection"
        ),
        ok="no endpoint is vulnerable to CCS injection",
        bad="CCS injection",
    )
