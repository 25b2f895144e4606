"""RFC 3161 trusted time against a real Time-Stamp Authority: OpenSSL's ``openssl ts
-reply`` behind a tiny HTTP handler on loopback, under a CA made for the test. No lab:
the bundles come from a unit-level store (tests/unit/test_evidence_chain.py)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hygie.cli import cli
from hygie.export import MANIFEST_ENVELOPE, TIMESTAMP
from hygie.signing import generate_key
from hygie.store import Store
from hygie.timestamp import MAX_REPLY
from tests.tamper import run_snippet
from tests.unit.test_evidence_chain import scan_n

FIRST, SECOND = "20261128T000001Z-aaaaaa", "20261128T000002Z-aaaaaa"
TSA_SUBJECT = "CN=hygie test TSA"
TS_CNF = """\
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
serial = {serial}
crypto_device = builtin
signer_digest = sha256
default_policy = 1.3.6.1.4.1.55555.1
digests = {digests}
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""
EC_KEY = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
CA_EXTENSIONS = ("-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=keyCertSign")
REPLY_ARGS = ("-queryfile", "query.tsq", "-inkey", "tsa.key", "-signer", "tsa.pem")
TSA_EXTENSIONS = """\
extendedKeyUsage = critical, timeStamping
keyUsage = critical, digitalSignature
basicConstraints = CA:FALSE
"""


def _openssl(root: Path, *args: str) -> bytes:
    return subprocess.run(
        ["openssl", *args], cwd=root, check=True, capture_output=True, timeout=60
    ).stdout


def _pki(root: Path) -> None:
    """ca.pem and the TSA's key and certificate it issues (tsa.key, tsa.pem: EKU
    timeStamping, critical), another TSA's under it (tsa2.pem), an unrelated CA
    (other.pem) and the responder's ts.cnf."""
    for name, subject in (("ca", "/CN=hygie test CA"), ("other", "/CN=unrelated CA")):
        new = f"req -x509 {EC_KEY} -keyout {name}.key -out {name}.pem -days 2"
        _openssl(root, *new.split(), "-subj", subject, *CA_EXTENSIONS)
    (root / "tsa.ext").write_text(TSA_EXTENSIONS)
    for name, subject in (("tsa", f"/{TSA_SUBJECT}"), ("tsa2", "/CN=another TSA")):
        _openssl(
            root, *f"req {EC_KEY} -keyout {name}.key -out {name}.csr".split(), "-subj", subject
        )
        issue = f"x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2"
        _openssl(root, *issue.split(), "-extfile", "tsa.ext", "-out", f"{name}.pem")
    for name, digests in (("ts.cnf", "sha256"), ("reject.cnf", "sha512")):
        (root / name).write_text(TS_CNF.format(serial=root / "tsaserial", digests=digests))


_CANNED = {"/garbage": b"<html>a proxy's error page</html>", "/huge": b"0" * (MAX_REPLY + 1)}


class _Responder(BaseHTTPRequestHandler):
    """POST /: the query answered by ``openssl ts -reply`` (one at a time: HTTPServer is
    not threaded, so the serial file is never raced); /reject: by a TSA that signs only
    SHA-512 imprints. /busy, /garbage and /huge answer what no TSA should."""

    def do_POST(self) -> None:
        query = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/busy":
            self.send_error(503, "busy")
            return
        body = _CANNED.get(self.path) or self._reply(query)
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _reply(self, query: bytes) -> bytes:
        root: Path = self.server.root  # type: ignore[attr-defined]
        (root / "query.tsq").write_bytes(query)
        config = "reject.cnf" if self.path == "/reject" else "ts.cnf"
        return _openssl(root, "ts", "-reply", "-config", config, *REPLY_ARGS)

    def log_message(self, *args) -> None:  # quiet: the tests say what failed
        pass


@dataclass(frozen=True)
class Tsa:
    url: str
    root: Path  # ca.pem, other.pem, tsa.pem


@pytest.fixture(scope="module")
def tsa(tmp_path_factory) -> Iterator[Tsa]:
    root = tmp_path_factory.mktemp("tsa")
    _pki(root)
    server = HTTPServer(("127.0.0.1", 0), _Responder)
    server.root = root  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Tsa(f"http://127.0.0.1:{server.server_address[1]}/", root)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch) -> None:
    """The TSA is on loopback: a proxy set in the environment must not be asked."""
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """A store of two scans signed by a fresh key, as the CLI finds them."""
    root = tmp_path_factory.mktemp("store")
    signer = generate_key(root / "signing.key", None)
    store = Store(root / "h.db")
    for n in (1, 2):
        store.save(scan_n(n), signer)
    store.close()
    return {"HYGIE_DB": str(root / "h.db"), "HYGIE_SIGNING_KEY": str(root / "signing.key")}


def hygie(env: dict[str, str], *args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


def exported(env, tsa: Tsa, out: Path, scan: str = SECOND, *extra: str | Path) -> Path:
    result = hygie(env, "export", scan, "-o", out, "--tsa", tsa.url, *extra)
    assert result.exit_code == 0, result.output
    return out


def test_a_timestamped_bundle_verifies_with_its_trusted_time(env, tsa, tmp_path):
    ca = tsa.root / "ca.pem"
    export = hygie(env, "export", SECOND, "-o", tmp_path / "a", "--tsa", tsa.url, "--tsa-cert", ca)
    assert export.exit_code == 0, export.output
    assert f"{TIMESTAMP}: timestamped by {TSA_SUBJECT} at 20" in export.output
    verify = hygie(env, "verify", tmp_path / "a", "--tsa-cert", ca)
    assert verify.exit_code == 0, verify.output
    assert f"timestamped by {TSA_SUBJECT} at 20" in verify.output
    assert verify.output.rstrip().endswith("bundle: intact")
    unchecked = hygie(env, "verify", tmp_path / "a")
    assert unchecked.exit_code == 0 and f"{TIMESTAMP}: an RFC 3161" in unchecked.output
    assert "NOT checked" in unchecked.output
    # the CA chain with the TSA's own certificate pinned beside it verifies too
    chain = tmp_path / "chain.pem"
    chain.write_bytes(ca.read_bytes() + (tsa.root / "tsa.pem").read_bytes())
    assert hygie(env, "verify", tmp_path / "a", "--tsa-cert", chain).exit_code == 0
    # and a third party checks it without hygie, as the README shows: the DSSE snippet
    # accepts the token beside the manifest, OpenSSL alone checks the token
    snippet = run_snippet(tmp_path / "a", tmp_path / "a" / "signing.pub")
    assert snippet.returncode == 0, snippet.stderr
    openssl = f"ts -verify -in {TIMESTAMP} -data {MANIFEST_ENVELOPE}".split()
    assert b"Verification: OK" in _openssl(tmp_path / "a", *openssl, "-CAfile", str(ca))


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_only_the_token_differs_from_one_export_to_the_next(env, tsa, tmp_path):
    plain = tmp_path / "plain"
    assert hygie(env, "export", SECOND, "-o", plain).exit_code == 0
    once, twice = (_files(exported(env, tsa, tmp_path / name)) for name in ("once", "twice"))
    assert once.pop(TIMESTAMP) != twice.pop(TIMESTAMP)
    assert once == twice == _files(plain)
    tar = tmp_path / "b.tar"
    exported(env, tsa, tar)
    assert hygie(env, "verify", tar, "--tsa-cert", tsa.root / "ca.pem").exit_code == 0


def _problems(env, bundle: Path, cert: Path) -> list[str]:
    result = hygie(env, "verify", bundle, "--tsa-cert", cert)
    assert result.exit_code == 4, result.output
    return [line for line in result.output.splitlines() if line.startswith("TAMPERED ")]


def _changed_after_timestamp(problem: str) -> bool:
    return (
        problem.startswith(f"TAMPERED {TIMESTAMP}: it timestamps sha256 ")
        and f"but {MANIFEST_ENVELOPE} has sha256" in problem
        and "changed after it was timestamped" in problem
    )


def test_a_flipped_byte_in_the_manifest_envelope_fails_the_token(env, tsa, tmp_path):
    bundle = exported(env, tsa, tmp_path / "a")
    envelope = bundle / MANIFEST_ENVELOPE
    data = bytearray(envelope.read_bytes())
    data[len(data) // 2] ^= 0x01
    envelope.write_bytes(bytes(data))
    problems = _problems(env, bundle, tsa.root / "ca.pem")
    assert any(_changed_after_timestamp(p) for p in problems), problems


def test_a_re_encoded_envelope_still_validly_signed_fails_the_token_alone(env, tsa, tmp_path):
    """The same signature and payload, other bytes (indented JSON): the DSSE checks pass,
    the token names the bytes it was made over."""
    bundle = exported(env, tsa, tmp_path / "a")
    envelope = bundle / MANIFEST_ENVELOPE
    envelope.write_text(json.dumps(json.loads(envelope.read_bytes()), indent=2))
    [problem] = _problems(env, bundle, tsa.root / "ca.pem")
    assert _changed_after_timestamp(problem), problem


def test_the_token_of_another_bundle_fails(env, tsa, tmp_path):
    first = exported(env, tsa, tmp_path / "first", FIRST)
    second = exported(env, tsa, tmp_path / "second")
    shutil.copy(first / TIMESTAMP, second / TIMESTAMP)
    [problem] = _problems(env, second, tsa.root / "ca.pem")
    assert problem.startswith(f"TAMPERED {TIMESTAMP}: it timestamps sha256 ")
    assert problem.endswith("or the token is another file's")


def test_a_token_under_another_ca_fails(env, tsa, tmp_path):
    bundle = exported(env, tsa, tmp_path / "a")
    other = tsa.root / "other.pem"
    assert _problems(env, bundle, other) == [
        f"TAMPERED {TIMESTAMP}: not vouched for by {other}: unable to get local issuer certificate"
    ]
    refused = hygie(
        env, "export", SECOND, "-o", tmp_path / "b", "--tsa", tsa.url, "--tsa-cert", other
    )
    assert refused.exit_code == 3 and "its token is not vouched for" in refused.output
    assert not (tmp_path / "b").exists()


def test_a_token_of_another_tsa_under_the_same_ca_fails_the_pinned_certificate(env, tsa, tmp_path):
    bundle = exported(env, tsa, tmp_path / "a")
    pinned = tmp_path / "pinned.pem"
    pinned.write_bytes((tsa.root / "ca.pem").read_bytes() + (tsa.root / "tsa2.pem").read_bytes())
    [problem] = _problems(env, bundle, pinned)
    assert problem == (
        f"TAMPERED {TIMESTAMP}: signed by {TSA_SUBJECT}, not by the TSA certificate of "
        f"{pinned} (CN=another TSA)"
    )


def test_a_certificate_asked_for_and_no_token_is_a_problem(env, tsa, tmp_path):
    assert hygie(env, "export", SECOND, "-o", tmp_path / "a").exit_code == 0
    assert _problems(env, tmp_path / "a", tsa.root / "ca.pem") == [
        f"TAMPERED {TIMESTAMP}: missing, but --tsa-cert asks for a timestamp"
    ]


def test_a_tsa_certificate_without_its_root_is_bad_input(env, tsa, tmp_path):
    bundle = exported(env, tsa, tmp_path / "a")
    result = hygie(env, "verify", bundle, "--tsa-cert", tsa.root / "tsa.pem")
    assert result.exit_code == 3 and "no self-signed (root) certificate" in result.output


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ("closed", "unreachable"),
        ("busy", "answered HTTP 503"),
        ("reject", "the TSA did not grant it: status 2 ("),
        ("garbage", "not an RFC 3161 timestamp response"),
        ("huge", f"answered more than {MAX_REPLY} bytes"),
        ("file", "not an http:// or https:// URL"),
    ],
)
def test_a_tsa_that_gives_no_token_stops_the_export(env, tsa, tmp_path, where, said):
    url = {
        "closed": f"http://127.0.0.1:{_closed_port()}/",
        "file": f"file://{tsa.root / 'tsa.pem'}",
    }.get(where, f"{tsa.url}{where}")
    result = hygie(env, "export", SECOND, "-o", tmp_path / "a.tar", "--tsa", url)
    assert result.exit_code == 3, result.output
    assert f"TSA {url}" in result.output and said in result.output
    assert list(tmp_path.iterdir()) == []
