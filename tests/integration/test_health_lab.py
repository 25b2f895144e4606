"""Health protocols against real services in the namespace lab: `hygie scan` (network-only
targets, ``transport: none``) finds every planted DICOM / HL7 / FHIR weakness and nothing
on the hardened host, and the services' own logs prove the probes stayed harmless.

Services (tests/lab/services/health_*.py) run with this interpreter (``sys.executable``:
pynetdicom is not in Debian's python3); /usr, /root and the project tree are shared with
the lab hosts, so the path is valid inside them.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from hygie.facts import _probe_io
from hygie.facts.dicom import probe_dicom
from hygie.facts.fhir import probe_fhir
from hygie.factspec import ProbeContext
from hygie.model import Fact
from tests.integration.conftest import HYGIE, lab_env, load_results
from tests.lab import Lab, LabHost, skip_unless_lab
from tests.unit.nmap_records import nmap_fact as nmap_fact_unit
from tests.unit.nmap_records import nmap_record

pytestmark = pytest.mark.lab

SERVICES = Path(__file__).resolve().parent.parent / "lab" / "services"
LOGS = "/var/log/hygie-lab"
CERT, KEY = "/etc/hygie-lab/tls-cert.pem", "/etc/hygie-lab/tls-key.pem"
TLS = f"--tls {CERT} {KEY}"
DEVICE_AE, ALLOWED_CALLING = "GOODPACS", "HYGIE-AUDIT"
TARPIT_PORT = 2576
NMAP_DICOM_PORT = 4242  # only nmap knows it is DICOM (see test_nmap_services_drive_the_probes)


def service(script: str, args: str, log: str) -> str:
    return f"{sys.executable} {SERVICES / script} {args} --log {LOGS}/{log}"


LOG_FILES = {
    "pacs-open": ["dicom-104.log", "dicom-4242.log"],
    "ie-weak": ["mllp.log", "mllp-tarpit.log", "fhir.log"],
    "health-good": ["dicom-2762.log", "mllp.log", "fhir.log"],
}

PLANTED = {
    "pacs-open": {"dicom_called_ae_enforced", "dicom_calling_ae_enforced", "dicom_tls"},
    "ie-weak": {
        "hl7_mllp_tls",
        "fhir_anonymous_read",
        "fhir_https_only",
        "fhir_smart_configuration",
    },
}
CHECKS = sorted({c for planted in PLANTED.values() for c in planted})


def lab_hosts(cert: str, key: str) -> list[LabHost]:
    tls_files = {CERT: cert, KEY: key}
    return [
        LabHost(
            "pacs-open",
            daemons=[
                service("health_dicom_scp.py", "--port 104 --mode open", "dicom-104.log"),
                service(
                    "health_dicom_scp.py", f"--port {NMAP_DICOM_PORT} --mode open", "dicom-4242.log"
                ),
            ],
        ),
        LabHost(
            "ie-weak",
            daemons=[
                service("health_mllp.py", "--port 2575", "mllp.log"),
                service("health_mllp.py", f"--port {TARPIT_PORT} --tarpit", "mllp-tarpit.log"),
                service("health_fhir.py", "--port 8080 --mode open", "fhir.log"),
            ],
        ),
        LabHost(
            "health-good",
            files=tls_files,
            daemons=[
                service(
                    "health_dicom_scp.py",
                    f"--port 2762 --mode strict --ae-title {DEVICE_AE} "
                    f"--allow {ALLOWED_CALLING} {TLS}",
                    "dicom-2762.log",
                ),
                service("health_mllp.py", f"--port 2575 {TLS}", "mllp.log"),
                service("health_fhir.py", f"--port 8443 --mode protected {TLS}", "fhir.log"),
            ],
        ),
    ]


@dataclass
class HealthLab:
    lab: Lab
    workdir: Path
    env: dict[str, str]

    def log(self, host: str, name: str) -> list[dict]:
        path = self.lab.host_dir(host) / "var-up" / LOGS.removeprefix("/var/") / name
        lines = path.read_text().splitlines() if path.exists() else []
        return [json.loads(line) for line in lines]

    def requests(self, host: str, name: str) -> list[dict]:
        return [e for e in self.log(host, name) if e["event"] != "ready"]


def self_signed(workdir: Path) -> tuple[str, str]:
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=health-good",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert.read_text(), key.read_text()


@pytest.fixture(scope="module")
def health(tmp_path_factory) -> Iterator[HealthLab]:
    skip_unless_lab()
    workdir = tmp_path_factory.mktemp("health")
    with Lab(lab_hosts(*self_signed(workdir))) as lab:
        env = lab_env(workdir)
        ready = HealthLab(lab, workdir, env)
        deadline = time.monotonic() + 30
        while not all(
            any(e["event"] == "ready" for e in ready.log(host, name))
            for host, names in LOG_FILES.items()
            for name in names
        ):
            assert time.monotonic() < deadline, "lab services did not start"
            time.sleep(0.2)
        yield ready


def write_inventory(health: HealthLab) -> Path:
    lab = health.lab
    good, weak = lab.address("health-good"), lab.address("ie-weak")
    hosts = {
        "pacs-open": {"address": lab.address("pacs-open")},
        "ie-weak": {
            "address": weak,
            "network": {"hl7_ports": [TARPIT_PORT], "fhir_base_urls": [f"http://{weak}:8080/fhir"]},
        },
        "health-good": {
            "address": good,
            "network": {
                "dicom_ae_title": DEVICE_AE,
                "dicom_calling_ae": ALLOWED_CALLING,
                "fhir_base_urls": [f"https://{good}:8443/fhir"],
            },
        },
    }
    inventory = {
        "defaults": {"transport": "none", "timeout": 60},
        "groups": {"health": {"hosts": hosts}},
    }
    path = health.workdir / "inventory.yaml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def scan(health):
    policy = health.workdir / "health-lab.yaml"
    policy.write_text(
        yaml.safe_dump(
            {
                "name": "health-lab",
                "version": "1",
                "description": "health protocol checks only",
                "checks": {check_id: {} for check_id in CHECKS},
            }
        )
    )
    out = health.workdir / "results.json"
    started = time.monotonic()
    proc = health.lab.run_in_scanner(
        [*HYGIE, "scan", "-i", str(write_inventory(health)), "-p", str(policy), "-o", str(out)],
        timeout=120,
        env=health.env,
    )
    return proc, load_results(out), time.monotonic() - started


def statuses(host: dict) -> dict[str, str]:
    return {r["check_id"]: r["status"] for r in host["results"]}


def test_exit_code_says_failures_were_found(scan):
    proc, _, _ = scan
    assert proc.returncode == 1, proc.stderr[-3000:]


@pytest.mark.parametrize("host", sorted(PLANTED))
def test_every_planted_weakness_is_reported_with_evidence(scan, host):
    _, hosts, _ = scan
    result = hosts[host]
    failing = {c for c, s in statuses(result).items() if s == "fail"}
    assert failing == PLANTED[host], statuses(result)
    facts = {f["name"] for f in result["facts"]}
    for r in result["results"]:
        if r["status"] == "fail":
            assert r["evidence"] and all(e["fact"] in facts for e in r["evidence"]), r


def test_the_good_host_passes_everything(scan):
    _, hosts, _ = scan
    assert statuses(hosts["health-good"]) == dict.fromkeys(CHECKS, "pass")


def test_hosts_without_a_protocol_get_not_applicable_not_a_verdict(scan):
    _, hosts, _ = scan
    pacs = statuses(hosts["pacs-open"])
    assert {pacs[c] for c in CHECKS if not c.startswith("dicom")} == {"not_applicable"}
    weak = statuses(hosts["ie-weak"])
    assert {weak[c] for c in CHECKS if c.startswith("dicom")} == {"not_applicable"}


def test_dicom_probe_sent_only_an_echo(scan, health):
    """The open SCP offers Storage and Query/Retrieve: anything but C-ECHO would show."""
    events = health.requests("pacs-open", "dicom-104.log")
    assert [e["message"] for e in events if e["event"] == "dimse"] == ["C_ECHO_RQ"]
    assert [e["event"] for e in events].count("association") == 1
    good = health.requests("health-good", "dicom-2762.log")
    assert not [e for e in good if e["event"] == "dimse"]  # every association was refused
    assert [e["event"] for e in good].count("association") == 3  # probe + two title tests


def test_no_hl7_message_was_ever_sent(scan, health):
    connections = [
        *health.requests("ie-weak", "mllp.log"),
        *health.requests("health-good", "mllp.log"),
    ]
    assert connections and not any(c.get("hl7") for c in connections)
    good = health.requests("health-good", "mllp.log")
    assert all(c["tls"].startswith("TLS") for c in good), good


def test_fhir_requests_were_anonymous_gets_on_the_three_paths(scan, health):
    """hygie's own requests (nmap's service detection, which the full network policy runs
    too, also fetches a few paths of every HTTP port it finds)."""
    for host in ("ie-weak", "health-good"):
        every = health.requests(host, "fhir.log")
        assert not any(r["authorization"] for r in every)
        requests = [r for r in every if r["agent"] == "hygie-audit"]
        assert {r["method"] for r in requests} == {"GET"}
        assert {r["path"] for r in requests} == {
            "/fhir/metadata",
            "/fhir/Patient?_summary=count",
            "/fhir/.well-known/smart-configuration",
        }


def test_patient_data_is_not_in_the_evidence(scan):
    _, hosts, _ = scan
    (fact,) = [f for f in hosts["ie-weak"]["facts"] if f["name"] == "fhir_probe"]
    assert "searchset" not in json.dumps(fact)  # only resourceType and total are kept


def test_the_hl7_tarpit_does_not_stall_the_scan(scan, health):
    _, hosts, elapsed = scan
    assert [e["event"] for e in health.requests("ie-weak", "mllp-tarpit.log")] == ["held"]
    # The silent MLLP ports are cut by the probe's 5 s read bound, not by the host's 60 s
    # deadline: the host is assessed and ends well before it (margin for a loaded CI box)
    assert hosts["ie-weak"]["error"] is None
    assert hosts["ie-weak"]["duration_s"] < 45
    assert elapsed < 90


def nmap_fact(address: str, ports: list[tuple[int, str, bool]]) -> Fact:
    """An ``nmap_services`` fact (hygie.facts.network's record) reporting these open
    (port, service, ssl tunnel) triples, as nmap -oX writes them."""
    tunnel = ' tunnel="ssl"'
    rows = "".join(
        f'<port protocol="tcp" portid="{p}"><state state="open"/>'
        f'<service name="{name}"{tunnel if tls else ""} method="probed"/></port>'
        for p, name, tls in ports
    )
    return Fact("nmap_services", nmap_record(rows, address, argv=["nmap"]))


def test_nmap_services_drive_the_probes_without_settings(health):
    """No ``network:`` settings: DICOM on 4242 and the FHIR bases come from nmap alone."""
    lab = health.lab
    pacs, weak, good = (lab.address(h) for h in ("pacs-open", "ie-weak", "health-good"))

    def ctx(address: str, *ports: tuple[int, str, bool]) -> ProbeContext:
        facts = {"nmap_services": nmap_fact(address, list(ports))}
        return ProbeContext(address, address, (), {}, facts, time.monotonic() + 60)

    with lab.in_scanner_ns():
        dicom = json.loads(probe_dicom(ctx(pacs, (NMAP_DICOM_PORT, "dicom", False))))
        fhir_weak = json.loads(probe_fhir(ctx(weak, (8080, "http", False))))
        fhir_good = json.loads(probe_fhir(ctx(good, (8443, "http", True))))
    (by_nmap,) = [e for e in dicom["endpoints"] if e["found_by"] == ["nmap"]]
    assert by_nmap["port"] == NMAP_DICOM_PORT and by_nmap["associations"][0]["outcome"] == (
        "accepted"
    )
    assert [b["base"] for b in fhir_weak["bases"]] == [f"http://{weak}:8080/fhir"]
    assert fhir_weak["bases"][0]["anonymous_read"]["status"] == 200
    assert [b["base"] for b in fhir_good["bases"]] == [f"https://{good}:8443/fhir"]
    assert fhir_good["bases"][0]["anonymous_read"]["status"] == 401
    assert [m["status"] for m in fhir_weak["not_fhir"]] == [404]  # "/" tried first


def test_a_trickling_peer_is_cut_by_the_watchdog(monkeypatch):
    """An HTTP server sending its headers one byte every 0.2 s never trips a per-recv
    timeout (http.client reads line by line); the watchdog must still cut every request at
    its budget plus the grace second (loopback only, no lab needed)."""
    monkeypatch.setattr(_probe_io, "OPERATION_TIMEOUT", 1.0)
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    stop = threading.Event()

    def trickle(conn: socket.socket) -> None:
        with conn:
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                while not stop.wait(0.2):
                    conn.sendall(b"X")
            except OSError:
                return

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                threading.Thread(target=trickle, args=(server.accept()[0],), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    settings = {"fhir_base_urls": [f"http://127.0.0.1:{port}/fhir"]}
    started = time.monotonic()
    try:
        facts = nmap_fact_unit(address="127.0.0.1")
        record = json.loads(
            probe_fhir(ProbeContext("lo", "127.0.0.1", (), settings, facts, time.monotonic() + 30))
        )
    finally:
        stop.set()
        server.close()
    (base,) = record["bases"]
    requests = [base[k] for k in ("metadata", "anonymous_read", "smart_configuration")]
    assert all("error" in r and "status" not in r for r in requests), requests
    assert all(1.5 < r["seconds"] < 3 for r in requests), requests  # 1 s budget + 1 s grace
    assert time.monotonic() - started < 9
