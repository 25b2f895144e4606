"""Per-endpoint TLS audit time of hygie vs testssl.sh vs sslyze's CLI, on the same lab
endpoints in one run, and whether their verdicts agree.

Endpoints (tests/lab/services/tls_lab.py): tls-good:443 (nginx, Mozilla intermediate),
tls-good:587 (SMTP STARTTLS), tls-weak:443 (openssl s_server, TLS 1.0/1.1, NULL and anon
suites, expired self-signed RSA-1024/SHA-1 certificate). Each tool runs as a user runs it,
one endpoint at a time, inside the lab's scanner namespace (no route out):

  hygie    `hygie scan` of one host with that one port and the TLS checks only
           (the whole CLI: start-up, sslyze child, evaluation, JSON output)
  sslyze   `python -m sslyze` with the same scan commands as hygie
  testssl  `testssl` default run (Debian package testssl.sh), --add-ca for the lab CA

Verdicts compared per endpoint: protocol versions offered, NULL / anonymous / EXPORT /
RC4-DES-3DES suites offered, forward secrecy offered, certificate expired, chain trusted.
Against sslyze's CLI the accepted suites of every protocol must be identical.

Run as root from the repository root:  python3 benchmarks/bench_tls.py
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hygie.checks._tls_profiles import broken_reasons, forward_secret
from hygie.facts.tls import PROTOCOLS, SCAN_COMMANDS
from hygie.registry import all_checks
from tests.lab import Lab
from tests.lab.services.tls_lab import GOOD_NAME, WEAK_NAME, make_pki, tls_hosts

HYGIE = [sys.executable, "-m", "hygie.cli"]
TESTSSL_PROTOCOLS = {
    "SSLv2": "SSLv2",
    "SSLv3": "SSLv3",
    "TLS1": "TLSv1.0",
    "TLS1_1": "TLSv1.1",
    "TLS1_2": "TLSv1.2",
    "TLS1_3": "TLSv1.3",
}
#: sslyze CLI flag of each scan command hygie runs.
SSLYZE_FLAGS = {
    "certificate_info": "--certinfo",
    "ssl_2_0_cipher_suites": "--sslv2",
    "ssl_3_0_cipher_suites": "--sslv3",
    "tls_1_0_cipher_suites": "--tlsv1",
    "tls_1_1_cipher_suites": "--tlsv1_1",
    "tls_1_2_cipher_suites": "--tlsv1_2",
    "tls_1_3_cipher_suites": "--tlsv1_3",
    "elliptic_curves": "--elliptic_curves",
    "http_headers": "--http_headers",
    "tls_compression": "--compression",
    "session_renegotiation": "--reneg",
    "heartbleed": "--heartbleed",
    "robot": "--robot",
    "openssl_ccs_injection": "--openssl_ccs",
}


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    name: str
    starttls: str | None = None
    single_threaded: bool = False

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}" + ("/starttls" if self.starttls else "")


ENDPOINTS = [
    Endpoint("tls-good", 443, GOOD_NAME),
    Endpoint("tls-good", 587, GOOD_NAME, starttls="smtp"),
    Endpoint("tls-weak", 443, WEAK_NAME, single_threaded=True),
]


def timed(lab: Lab, argv: list[str], env: dict[str, str], any_exit: bool = False) -> float:
    """Wall time of one tool run; testssl's exit status counts findings, not failure."""
    start = time.monotonic()
    proc = lab.run_in_scanner(argv, timeout=900, env=env)
    if not any_exit and proc.returncode not in (0, 1, 2):
        raise RuntimeError(f"{argv[:3]} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return time.monotonic() - start


def run_hygie(lab: Lab, ep: Endpoint, work: Path, env: dict, ca: Path) -> tuple[float, dict]:
    port = {"port": ep.port, "starttls": ep.starttls} if ep.starttls else ep.port
    network = {"tls_hostname": ep.name, "tls_ports": [port], "ca_bundle": str(ca)}
    if ep.single_threaded:
        network["tls_connections"] = 1
    inventory = {
        "hosts": {
            ep.host: {"address": lab.address(ep.host), "transport": "none", "network": network}
        }
    }
    inv, out = work / f"inv-{ep.port}-{ep.host}.yaml", work / f"hygie-{ep.port}-{ep.host}.json"
    inv.write_text(yaml.safe_dump(inventory))
    policy = work / "tls.yaml"
    checks = {c: {} for c in all_checks() if c.startswith("tls_")}
    policy.write_text(yaml.safe_dump({"name": "bench-tls", "version": "1", "checks": checks}))
    db = work / "hygie.db"
    seconds = timed(
        lab,
        [*HYGIE, "scan", "-i", str(inv), "-p", str(policy), "-o", str(out)],
        env | {"HYGIE_DB": str(db)},
    )
    (host,) = json.loads(out.read_text())["hosts"]
    (fact,) = (
        sqlite3.connect(db)
        .execute(
            "SELECT stdout FROM facts WHERE host = ? AND name = 'tls_scan' ORDER BY rowid DESC",
            (ep.host,),
        )
        .fetchone()
    )
    return seconds, {
        "results": {r["check_id"]: r for r in host["results"]},
        "fact": json.loads(fact),
    }


def run_sslyze(lab: Lab, ep: Endpoint, work: Path, env: dict, ca: Path) -> tuple[float, dict]:
    out = work / f"sslyze-{ep.port}-{ep.host}.json"
    argv = [
        sys.executable,
        "-m",
        "sslyze",
        f"--json_out={out}",
        "--quiet",
        f"--certinfo_ca_file={ca}",
        *(SSLYZE_FLAGS[c] for c in SCAN_COMMANDS),
        f"{ep.name}:{ep.port}{{{lab.address(ep.host)}}}",
    ]
    if ep.starttls:
        argv.insert(-1, f"--starttls={ep.starttls}")
    if ep.single_threaded:
        argv.insert(-1, "--slow_connection")
    seconds = timed(lab, argv, env)
    (result,) = json.loads(out.read_text())["server_scan_results"]
    return seconds, result


def run_testssl(lab: Lab, ep: Endpoint, work: Path, env: dict, ca: Path) -> tuple[float, dict]:
    out = work / f"testssl-{ep.port}-{ep.host}.json"
    argv = [
        "testssl",
        "--quiet",
        "--color",
        "0",
        "--warnings",
        "off",
        "--nodns",
        "none",
        "--add-ca",
        str(ca),
        "--jsonfile",
        str(out),
        "--ip",
        lab.address(ep.host),
    ]
    if ep.starttls:
        argv += ["-t", ep.starttls]
    seconds = timed(lab, [*argv, f"{ep.name}:{ep.port}"], env, any_exit=True)
    return seconds, {f["id"]: f for f in json.loads(out.read_text())}


# --------------------------------------------------------------------------- verdicts


def suites_of(scan_result: dict) -> dict[str, set[str]]:
    accepted = {cmd: scan_result[cmd]["result"]["accepted_cipher_suites"] for cmd in PROTOCOLS}
    return {
        label: {a["cipher_suite"]["name"] for a in accepted[cmd]}
        for cmd, label in PROTOCOLS.items()
    }


def hygie_verdicts(hygie: dict) -> dict[str, object]:
    results = hygie["results"]
    (endpoint,) = hygie["fact"]["endpoints"]
    suites = suites_of(endpoint["sslyze"]["scan_result"])
    broken = {
        r
        for s in suites.values()
        for n in s
        for r in broken_reasons({"name": n, "is_anonymous": "_anon_" in n})
    }
    return {
        "protocols": sorted(p for p, s in suites.items() if s),
        "NULL": "NULL cipher" in broken,
        "anon": "anonymous" in broken,
        "EXPORT": "EXPORT" in broken,
        "RC4/DES/3DES": bool(broken & {"RC4/RC2", "DES", "3DES"}),
        "FS offered": any(forward_secret(n, p) for p, s in suites.items() for n in s),
        "cert expired": results["tls_certificate_validity"]["status"] == "fail",
        "chain trusted": results["tls_certificate_trusted"]["status"] == "pass",
    }


def testssl_verdicts(found: dict[str, dict]) -> dict[str, object]:
    def offered(key: str) -> bool:
        finding = found.get(key, {}).get("finding", "")
        return finding.startswith("offered") or "offered (" in finding

    fs = found.get("FS") or found.get("PFS") or {}
    return {
        "protocols": sorted(v for k, v in TESTSSL_PROTOCOLS.items() if offered(k)),
        "NULL": offered("cipherlist_NULL"),
        "anon": offered("cipherlist_aNULL"),
        "EXPORT": offered("cipherlist_EXPORT"),
        "RC4/DES/3DES": offered("cipherlist_LOW")
        or offered("cipherlist_3DES_IDEA")
        or found.get("RC4", {}).get("severity", "OK") not in ("OK", "INFO"),
        "FS offered": fs.get("finding", "").startswith("offered"),
        "cert expired": "expired" in found.get("cert_expirationStatus", {}).get("finding", ""),
        "chain trusted": found.get("cert_chain_of_trust", {})
        .get("finding", "")
        .startswith("passed"),
    }


def main() -> None:
    if os.geteuid() != 0:
        sys.exit("run as root (the lab needs namespaces)")
    work = Path(tempfile.mkdtemp(prefix="bench-tls-"))
    pki = make_pki(work / "pki")
    ca = work / "pki" / "ca.pem"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    rows, disagreements = [], []
    with Lab([h for h in tls_hosts(pki) if h.name != "tls-tarpit"]) as lab:
        time.sleep(1)  # nginx and the SMTP server start with the host
        for ep in ENDPOINTS:
            t_hygie, hygie = run_hygie(lab, ep, work, env, ca)
            t_sslyze, sslyze = run_sslyze(lab, ep, work, env, ca)
            t_testssl, testssl = run_testssl(lab, ep, work, env, ca)
            fact = hygie["fact"]
            audit = fact["endpoints"][0]["elapsed_s"]
            rows.append((ep.label, t_hygie, audit, t_sslyze, t_testssl))
            ours, theirs = hygie_verdicts(hygie), testssl_verdicts(testssl)
            for key, value in ours.items():
                mark = "==" if value == theirs[key] else "!="
                if mark == "!=":
                    disagreements.append((ep.label, key, value, theirs[key]))
                print(
                    f"  {ep.label:<24} {key:<14} hygie {value!s:<32} {mark} testssl {theirs[key]}"
                )
            same = suites_of(fact["endpoints"][0]["sslyze"]["scan_result"]) == suites_of(
                sslyze["scan_result"]
            )
            print(f"  {ep.label:<24} accepted suites identical to sslyze CLI: {same}")
            if not same:
                disagreements.append((ep.label, "suites vs sslyze CLI", "", ""))
    print()
    print(
        f"{'endpoint':<24} {'hygie CLI':>10} {'(audit)':>8} {'sslyze CLI':>11} "
        f"{'testssl':>9} {'testssl/hygie':>14} {'sslyze/hygie':>13}"
    )
    for label, t_h, audit, t_s, t_t in rows:
        print(
            f"{label:<24} {t_h:>9.1f}s {audit:>7.1f}s {t_s:>10.1f}s {t_t:>8.1f}s "
            f"{t_t / t_h:>13.1f}x {t_s / t_h:>12.1f}x"
        )
    total = [sum(r[i] for r in rows) for i in (1, 3, 4)]
    print(
        f"{'total':<24} {total[0]:>9.1f}s {'':>8} {total[1]:>10.1f}s {total[2]:>8.1f}s "
        f"{total[2] / total[0]:>13.1f}x {total[1] / total[0]:>12.1f}x"
    )
    print(f"\n{len(disagreements)} disagreement(s)")
    for d in disagreements:
        print("  ", *d)


if __name__ == "__main__":
    main()
