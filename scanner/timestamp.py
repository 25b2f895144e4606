"""RFC 3161 trusted time: a Time-Stamp Authority's signed statement that some bytes existed
at a time the producer of the evidence does not control (``hygie export --tsa``).

One job: ask a TSA for a token over bytes (an HTTP POST of a TimeStampReq, standard
library only), and check a token against those bytes and the TSA's certificates. The
ASN.1, CMS signature and certificate chain work is Trail of Bits' ``rfc3161-client`` (an
optional extra, ``hygie[tsa]``, imported only when a token is made or checked); hygie
decodes and verifies nothing itself.

A token is kept as the DER ``TimeStampResp`` the TSA sent (status and token), the form
``openssl ts -verify -in FILE`` reads by default.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

QUERY_MEDIA = "application/timestamp-query"
REPLY_MEDIA = "application/timestamp-reply"
TIMEOUT = 30.0  # seconds to connect, and for each read: a TSA that hangs must not hang an export
MAX_REPLY = 1 << 20  # a token is a few kB, its certificates included: more is not one
_SHA256_OID = "2.16.840.1.101.3.4.2.1"
# what the library and cryptography raise on malformed DER, some of it parsed lazily,
# when a field is first read
_MALFORMED = (ValueError, KeyError, TypeError, x509.InvalidVersion)


class TimestampError(Exception):
    """No usable token: the TSA is unreachable, refused, or answered something else; or a
    token does not vouch for the bytes (the caller says which of the two it is)."""


def _client() -> ModuleType:
    try:
        import rfc3161_client
    except ImportError:
        raise TimestampError(
            "RFC 3161 timestamps need the rfc3161-client package: pip install 'hygie[tsa]'"
        ) from None
    return rfc3161_client


@dataclass(frozen=True)
class TsaTrust:
    """What ``--tsa-cert`` vouches for: its self-signed certificates are the roots, the
    others intermediates, and a certificate for time-stamping, when there is exactly one,
    must be the very one that signed (a TSA's CA may certify other TSAs)."""

    source: str
    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...]
    tsa: x509.Certificate | None


def _time_stamping(cert: x509.Certificate) -> bool:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return ExtendedKeyUsageOID.TIME_STAMPING in eku


def read_trust(path: Path) -> TsaTrust:
    """The certificates of a PEM file (the TSA's CA, its chain, the TSA's own). A chain
    must end in a root: OpenSSL anchors trust in a self-signed certificate only."""
    _client()
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise TimestampError(f"{path}: not a PEM certificate file ({exc})") from None
    roots = tuple(c for c in certs if c.issuer == c.subject)
    if not roots:
        raise TimestampError(
            f"{path}: no self-signed (root) certificate: give the CA that issued the TSA's "
            "certificate (the TSA's own certificate may be added beside it)"
        )
    stamping = [c for c in certs if _time_stamping(c)]
    return TsaTrust(
        str(path),
        roots,
        tuple(c for c in certs if c not in roots),
        stamping[0] if len(stamping) == 1 else None,
    )


@dataclass(frozen=True)
class Trusted:
    """A verified token: who signed it (the signing certificate's subject), and when."""

    tsa: str
    time: datetime

    def __str__(self) -> str:
        when = self.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"timestamped by {self.tsa} at {when}"


def _post(url: str, body: bytes, timeout: float) -> bytes:
    if not url.lower().startswith(("http://", "https://")):  # never file:// or ftp://
        raise TimestampError(f"TSA {url}: not an http:// or https:// URL")
    headers = {"Content-Type": QUERY_MEDIA, "Accept": REPLY_MEDIA}
    try:
        request = urllib.request.Request(url, body, headers, method="POST")
    except ValueError as exc:
        raise TimestampError(f"TSA {url}: not a valid URL ({exc})") from None
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            data = reply.read(MAX_REPLY + 1)
    except urllib.error.HTTPError as exc:
        raise TimestampError(f"TSA {url} answered HTTP {exc.code} {exc.reason}") from None
    except OSError as exc:
        raise TimestampError(f"TSA {url} unreachable ({getattr(exc, 'reason', exc)})") from None
    except (http.client.HTTPException, ValueError) as exc:
        raise TimestampError(f"TSA {url}: not an HTTP answer ({exc!r})") from None
    if len(data) > MAX_REPLY:
        raise TimestampError(f"TSA {url} answered more than {MAX_REPLY} bytes: not a token")
    return data


def _decode(token: bytes, data: bytes, what: str):
    """The decoded response, granted and over sha256(data): the checks that need no
    certificate, worded for a reader who must know which of them failed."""
    client = _client()
    try:
        response = client.decode_timestamp_response(token)
        granted = response.status == client.PKIStatus.GRANTED
        imprint = response.tst_info.message_imprint if granted else None
    except _MALFORMED as exc:
        raise TimestampError(f"not an RFC 3161 timestamp response ({exc})") from None
    if imprint is None:
        said = "; ".join(response.status_string) or "no reason given"
        raise TimestampError(f"the TSA did not grant it: status {response.status} ({said})")
    if imprint.hash_algorithm.dotted_string != _SHA256_OID:
        oid = imprint.hash_algorithm.dotted_string
        raise TimestampError(f"it timestamps a digest of algorithm {oid}, not SHA-256")
    want = hashlib.sha256(data).hexdigest()
    if imprint.message.hex() != want:
        raise TimestampError(
            f"it timestamps sha256 {imprint.message.hex()}, but {what} has sha256 {want}: "
            f"{what} changed after it was timestamped, or the token is another file's"
        )
    return response


def request_token(url: str, data: bytes, what: str, *, timeout: float = TIMEOUT) -> bytes:
    """A TSA's DER TimeStampResp over sha256(data), with a fresh nonce and its certificate
    requested; checked as far as no certificate is needed: granted, for these bytes, and
    the answer to this very request (the nonce)."""
    client = _client()
    query = (
        client.TimestampRequestBuilder()
        .data(data)
        .hash_algorithm(client.HashAlgorithm.SHA256)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    token = _post(url, query.as_bytes(), timeout)
    try:
        response = _decode(token, data, what)
    except TimestampError as exc:
        raise TimestampError(f"TSA {url}: {exc}") from None
    if response.tst_info.nonce != query.nonce:
        raise TimestampError(
            f"TSA {url}: the reply carries nonce {response.tst_info.nonce}, the request "
            f"{query.nonce}: it is not the answer to this request"
        )
    return token


def _signer(response, trust: TsaTrust) -> x509.Certificate | None:
    """The certificate that signed: among the token's own, the one its only SignerInfo
    names (issuer and serial, covered by the signature), else the one ``trust`` pins. A
    token without one is left to the library, which refuses it."""
    try:
        infos = list(response.signed_data.signer_infos)
        sid = (infos[0].issuer, infos[0].serial_number) if len(infos) == 1 else None
        embedded = [x509.load_der_x509_certificate(c) for c in response.signed_data.certificates]
        return next((c for c in embedded if (c.issuer, c.serial_number) == sid), trust.tsa)
    except _MALFORMED:
        return trust.tsa


def _reason(exc: Exception) -> str:
    """OpenSSL's own reason ("unable to get local issuer certificate") when the library
    wraps its error stack, else the library's message."""
    found = re.search(r'Verify error: ([^"]+)"', str(exc))
    return found.group(1) if found else str(exc)


def verify_token(token: bytes, data: bytes, trust: TsaTrust, what: str) -> Trusted:
    """Check a token over ``data`` (named ``what`` in messages): granted, the SHA-256
    imprint, the CMS signature by a certificate for time-stamping (EKU, critical) that
    chains to ``trust`` as of the token's time. Raises TimestampError saying which failed."""
    client = _client()
    response = _decode(token, data, what)
    signer = _signer(response, trust)
    if trust.tsa is not None and signer is not None and signer != trust.tsa:
        raise TimestampError(
            f"signed by {signer.subject.rfc4514_string()}, not by the TSA certificate of "
            f"{trust.source} ({trust.tsa.subject.rfc4514_string()})"
        )
    builder = client.VerifierBuilder()
    for root in trust.roots:
        builder = builder.add_root_certificate(root)
    for cert in trust.intermediates:
        builder = builder.add_intermediate_certificate(cert)
    if trust.tsa is not None:
        builder = builder.tsa_certificate(trust.tsa)
    try:
        builder.build().verify_message(response, data)
    except (client.VerificationError, *_MALFORMED) as exc:
        raise TimestampError(f"not vouched for by {trust.source}: {_reason(exc)}") from None
    subject = signer.subject.rfc4514_string() if signer else "an unnamed TSA"
    return Trusted(subject, response.tst_info.gen_time)
