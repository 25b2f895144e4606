"""TLS on every endpoint of a host, judged on sslyze's recorded audit (fact ``tls_scan``).

Patient data crosses the network to portals, PACS viewers, HL7/FHIR interfaces and mail
relays; the TLS those services accept decides whether that traffic can be read or forged
by anyone on the path. Each check covers one weakness on every endpoint of the host: it
fails when any endpoint shows it, reports ``error`` when an endpoint could not be audited
(a timeout never reads as a pass), and is not applicable on hosts without TLS endpoints.

Thresholds come from a profile chosen in the policy (param ``profile``): Mozilla
intermediate or modern, ANSSI, NIST SP 800-52r2, shipped as data in
``hygie/data/tls_profiles`` and loaded, with the cipher-suite classifiers, by
:mod:`hygie.checks._tls_profiles`. Certificate dates are judged at the scan time
recorded in the fact, so re-judging an old scan gives the same answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from hygie.checks._tls_profiles import (
    Profile,
    broken_reasons,
    curve_bits,
    forward_secret,
    is_cbc,
    profiles,
)
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
from hygie.text import capped

# --------------------------------------------------------------------------- profile

PROFILE_PARAM = Param(
    "mozilla-intermediate",
    "TLS profile the thresholds come from (hygie/data/tls_profiles)",
    choices=tuple(profiles()),
)


def _profile(params: Mapping[str, Any]) -> Profile:
    return profiles()[params["profile"]]


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
    return capped(dict.fromkeys(items), limit)


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


def _tls_check(**kwargs):
    """Every TLS check reads the one fact and applies to any OS and to devices."""
    return check(facts=(FACT,), families=(ANY_FAMILY,), **kwargs)


# --------------------------------------------------------------------------- protocol


@_tls_check(
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


@_tls_check()
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


@_tls_check()
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


@_tls_check()
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


@_tls_check()
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


@_tls_check()
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


@_tls_check()
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


@_tls_check()
def tls_compression(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    return _endpoints_verdict(
        facts,
        "compression disabled",
        _flag("tls_compression", "supports_compression", "TLS compression enabled (CRIME)"),
        ok="no endpoint compresses TLS records",
        bad="TLS compression enabled",
    )


@_tls_check()
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


@_tls_check()
def tls_heartbleed(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    return _endpoints_verdict(
        facts,
        "not vulnerable",
        _flag("heartbleed", "is_vulnerable_to_heartbleed", "vulnerable to Heartbleed"),
        ok="no endpoint is vulnerable to Heartbleed",
        bad="Heartbleed",
    )


@_tls_check()
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


@_tls_check()
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
