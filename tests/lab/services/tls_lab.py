"""The TLS lab: one good host, one weak host, one tarpit, shared by the integration test
and benchmarks/bench_tls.py.

``tls-good``: nginx on 443 with the Mozilla intermediate configuration (TLS 1.2/1.3,
ECDHE + AEAD, HSTS) and a certificate from a test CA, plus SMTP with STARTTLS on 587 (same
certificate, Python's ssl). ``tls-weak``: ``openssl s_server`` on 443 with everything the
machine's OpenSSL 3 can still be talked into (TLS 1.0/1.1, NULL and anonymous suites, static
RSA, CBC, 1024-bit DH, client-initiated renegotiation) and a self-signed, expired,
RSA-1024/SHA-1 certificate without subjectAltName; s_server answers one connection at a
time, like many embedded TLS stacks, hence ``tls_connections: 1``. ``tls-tarpit``: a port
that accepts and never answers.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.lab import LabHost

from .tls_pki import make_bad_cert, make_ca, make_server_cert

SERVICES = Path(__file__).resolve().parent
GOOD_NAME = "tls-good.lab"
WEAK_NAME = "tls-weak.lab"
TARPIT_PORT = 8443
ETC = "/etc/hygie-tls"

MOZILLA_INTERMEDIATE = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
)
NGINX_GOOD = f"""\
worker_processes 1;
pid /run/hygie-tls-nginx.pid;
error_log /var/log/hygie-lab/nginx-error.log;
events {{ worker_connections 512; }}
http {{
    access_log off;
    server {{
        listen 443 ssl;
        server_name {GOOD_NAME};
        ssl_certificate {ETC}/good.pem;
        ssl_certificate_key {ETC}/good.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers {":".join(MOZILLA_INTERMEDIATE)};
        ssl_ecdh_curve X25519:prime256v1:secp384r1;
        ssl_prefer_server_ciphers off;
        add_header Strict-Transport-Security "max-age=63072000" always;
        location / {{ return 200 "ok\\n"; }}
    }}
}}
"""

WEAK_SERVER = (
    f"openssl s_server -accept 443 -cert {ETC}/weak.pem -key {ETC}/weak.key "
    f"-dhparam {ETC}/dh1024.pem -cipher 'ALL:COMPLEMENTOFALL:eNULL:@SECLEVEL=0' "
    "-client_renegotiation -www -quiet"
)


def make_pki(workdir: Path) -> dict[str, bytes]:
    """Keys, certificates and DH parameters, by file name (generated once per lab)."""
    workdir.mkdir(parents=True, exist_ok=True)
    ca = make_ca(workdir)
    good = make_server_cert(workdir, ca, GOOD_NAME)
    weak = make_bad_cert(workdir)
    dh = workdir / "dh1024.pem"
    subprocess.run(
        ["openssl", "dhparam", "-out", str(dh), "1024"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return {
        "ca.pem": ca[0].read_bytes(),
        "good.pem": good[0].read_bytes(),
        "good.key": good[1].read_bytes(),
        "weak.pem": weak[0].read_bytes(),
        "weak.key": weak[1].read_bytes(),
        "dh1024.pem": dh.read_bytes(),
    }


def tls_hosts(pki: dict[str, bytes]) -> list[LabHost]:
    files = {f"{ETC}/{name}": data for name, data in pki.items()}
    py = sys.executable
    good = LabHost(
        "tls-good",
        files={**files, f"{ETC}/nginx.conf": NGINX_GOOD},
        modes={f"{ETC}/good.key": "0600 root:root"},
        daemons=[
            f"nginx -c {ETC}/nginx.conf",
            f"{py} {SERVICES}/tls_smtp.py 587 {ETC}/good.pem {ETC}/good.key {GOOD_NAME}",
        ],
    )
    weak = LabHost("tls-weak", files=files, daemons=[WEAK_SERVER])
    tarpit = LabHost("tls-tarpit", daemons=[f"{py} {SERVICES}/tls_tarpit.py {TARPIT_PORT}"])
    return [good, weak, tarpit]


def inventory(addresses: dict[str, str], ca_bundle: Path) -> dict:
    """Network-only targets (``transport: none``): the TLS audit needs no login."""
    hosts = {
        "tls-good": {
            "address": addresses["tls-good"],
            "network": {
                "tls_hostname": GOOD_NAME,
                "ca_bundle": str(ca_bundle),
                "tls_ports": [443, {"port": 587, "starttls": "smtp"}],
            },
        },
        "tls-weak": {
            "address": addresses["tls-weak"],
            "network": {
                "tls_hostname": WEAK_NAME,
                "tls_ports": [443],
                "tls_connections": 1,  # one connection at a time: nmap's -sV waits on it
                "version_timeout": 10,
            },
        },
        "tls-tarpit": {
            "address": addresses["tls-tarpit"],
            "network": {
                "tls_ports": [TARPIT_PORT],
                "tls_timeout": 2,
                "tls_endpoint_timeout": 10,
                "version_timeout": 5,
            },
        },
    }
    return {
        "defaults": {"transport": "none", "timeout": 60},
        "groups": {"tls": {"vars": {"tags": ["lab"]}, "hosts": hosts}},
    }
