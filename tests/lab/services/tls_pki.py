"""Certificates for the TLS lab, made with openssl as an admin would: a test CA and a
server certificate from it, and a deliberately bad certificate (1024-bit RSA, SHA-1,
self-signed, expired, no subjectAltName)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)


def make_ca(directory: Path) -> tuple[Path, Path]:
    """``ca.pem``, ``ca.key``: a 30-day RSA-2048 root."""
    cert, key = directory / "ca.pem", directory / "ca.key"
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        key,
        "-out",
        cert,
        "-days",
        "30",
        "-sha256",
        "-subj",
        "/CN=hygie lab CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-addext",
        "subjectKeyIdentifier=hash",
    )
    return cert, key


def _new_request(key: Path, csr: Path, name: str, bits: int) -> None:
    """A new unencrypted RSA key of ``bits`` and a certificate request for CN ``name``."""
    _openssl(
        "req",
        "-new",
        "-newkey",
        f"rsa:{bits}",
        "-nodes",
        "-keyout",
        key,
        "-out",
        csr,
        "-subj",
        f"/CN={name}",
    )


def make_server_cert(directory: Path, ca: tuple[Path, Path], name: str) -> tuple[Path, Path]:
    """``<name>.pem``/``.key``: RSA-2048, SHA-256, 90 days, SAN ``name``, from the CA."""
    cert, key, csr = (directory / f"{name}.{ext}" for ext in ("pem", "key", "csr"))
    ext = directory / f"{name}.ext"
    ext.write_text(
        f"subjectAltName=DNS:{name}\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n"
    )
    _new_request(key, csr, name, 2048)
    _openssl(
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        ca[0],
        "-CAkey",
        ca[1],
        "-CAcreateserial",
        "-out",
        cert,
        "-days",
        "90",
        "-sha256",
        "-extfile",
        ext,
    )
    return cert, key


def make_bad_cert(directory: Path, name: str = "legacy-device") -> tuple[Path, Path]:
    """Self-signed RSA-1024 / SHA-1, valid 2020-2021 (long expired), CN only, no
    subjectAltName: ``openssl ca -selfsign`` is the one OpenSSL 3 command that back-dates."""
    db = directory / f"{name}-ca"
    db.mkdir(exist_ok=True)
    (db / "index.txt").write_text("")
    (db / "serial").write_text("01\n")
    config = db / "ca.cnf"
    config.write_text(
        f"[ca]\ndefault_ca = lab\n[lab]\ndir = {db}\ndatabase = $dir/index.txt\n"
        "new_certs_dir = $dir\nserial = $dir/serial\npolicy = anything\n"
        "[anything]\ncommonName = supplied\n"
    )
    cert, key, csr = (directory / f"{name}.{ext}" for ext in ("pem", "key", "csr"))
    _new_request(key, csr, name, 1024)
    _openssl(
        "ca",
        "-batch",
        "-selfsign",
        "-config",
        config,
        "-keyfile",
        key,
        "-in",
        csr,
        "-out",
        cert,
        "-startdate",
        "20200101000000Z",
        "-enddate",
        "20211231000000Z",
        "-md",
        "sha1",
        "-notext",
    )
    return cert, key
