"""hygie.timestamp without a TSA: what --tsa-cert accepts, and the errors that need no
network. The real exchange with a TSA is tests/integration/test_tsa.py."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hygie.timestamp import TimestampError, Trusted, read_trust, verify_token


def _cert(subject: str, issuer: str, key, signer, stamping: bool = False) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
    )
    if stamping:
        eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING])
        builder = builder.add_extension(eku, critical=True)
    return builder.sign(signer, hashes.SHA256())


@pytest.fixture(scope="module")
def pems(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("certs")
    ca_key, tsa_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca = _cert("test CA", "test CA", ca_key, ca_key)
    tsa = _cert("test TSA", "test CA", tsa_key, ca_key, stamping=True)
    files = {"ca": [ca], "tsa": [tsa], "chain": [ca, tsa]}
    paths = {}
    for name, certs in files.items():
        paths[name] = root / f"{name}.pem"
        paths[name].write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    paths["junk"] = root / "junk.pem"
    paths["junk"].write_text("not a certificate\n")
    return paths


def test_the_root_is_trusted_and_a_single_tsa_certificate_pinned(pems):
    alone = read_trust(pems["ca"])
    assert [c.subject.rfc4514_string() for c in alone.roots] == ["CN=test CA"]
    assert alone.intermediates == () and alone.tsa is None
    chain = read_trust(pems["chain"])
    assert chain.tsa is not None and chain.tsa.subject.rfc4514_string() == "CN=test TSA"
    assert chain.intermediates == (chain.tsa,) and chain.source == str(pems["chain"])


def test_a_certificate_file_without_a_root_or_without_certificates_is_refused(pems):
    with pytest.raises(TimestampError, match=r"tsa\.pem: no self-signed \(root\) certificate"):
        read_trust(pems["tsa"])
    with pytest.raises(TimestampError, match=r"junk\.pem: not a PEM certificate file"):
        read_trust(pems["junk"])


def test_a_token_that_is_not_one_is_named(pems):
    with pytest.raises(TimestampError, match="not an RFC 3161 timestamp response"):
        verify_token(b"\x30\x03\x02\x01\x00", b"data", read_trust(pems["ca"]), "data.json")


def test_without_the_library_the_install_is_named(pems, monkeypatch):
    monkeypatch.setitem(sys.modules, "rfc3161_client", None)
    with pytest.raises(TimestampError, match=r"pip install 'hygie\[tsa\]'"):
        read_trust(pems["ca"])


def test_the_trusted_time_reads_as_utc():
    when = datetime(2026, 12, 8, 1, 2, 3, tzinfo=UTC)
    assert str(Trusted("CN=tsa", when)) == "timestamped by CN=tsa at 2026-12-08T01:02:03Z"
