"""Multi-site ingest, offline: what a task carries, what a runner signs, and every result
the central refuses (unknown key, altered payload, another site's key, a host or scan not
dispatched, unsigned), with the host left ``error``; a redelivered result never counts
twice. No broker here: tests/integration/test_multisite_lab.py runs the real one."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest

from hygie.distributed.ingest import Ingest, RunnerKeyError, RunnerKeys
from hygie.distributed.wire import host_statement, target_from_task, target_to_task
from hygie.inventory import InventoryError, Target, load_inventory
from hygie.model import Fact, HostScan, Result, Severity, Status
from hygie.policy import load_policy
from hygie.signing import Signer, generate_key, seal

SCAN = "20261208T000000Z-abcdef"


@pytest.fixture(scope="module")
def policy():
    return load_policy()


@pytest.fixture
def runners(tmp_path) -> dict[str, Signer]:
    """Runner keys of sites ``imaging`` and ``clinical`` (allow-listed) and ``rogue``
    (not)."""
    signers = {}
    for site in ("imaging", "clinical", "rogue"):
        signers[site] = generate_key(tmp_path / "keys" / site / "runner.key", None)
    (tmp_path / "keys" / "rogue" / "runner.pub").unlink()
    return signers


@pytest.fixture
def ingest(tmp_path, runners, policy) -> Ingest:
    return Ingest(SCAN, policy, RunnerKeys.load(tmp_path / "keys"))


def target(name: str = "pacs1", site: str = "imaging") -> Target:
    return Target(name, address="198.18.0.10", user="audit", keys=("/k",), site=site)


def assessed(name: str = "pacs1") -> HostScan:
    host = HostScan(name, "198.18.0.10", "ssh", family="debian", started=1.0, finished=2.5)
    host.facts = {
        "uname": Fact("uname", b"Linux\n"),
        "login_defs": Fact("login_defs", b"UMASK 027\n", b"warning\n", exit_status=1),
    }
    host.results = [Result("umask_default", name, Status.PASS, Severity.MEDIUM, "umask", "ok")]
    host.connections, host.execs, host.uid = 1, 1, 0
    return host


def envelope(signer: Signer, host: HostScan | None = None, site="imaging", scan=SCAN) -> bytes:
    return seal(host_statement(scan, site, host or assessed()), signer)


def test_a_task_carries_where_secrets_are_never_the_secrets():
    t = Target("pacs1", address="x", keys=("/home/a/.ssh/id",), password_env="PW", site="i")
    doc = target_to_task(t)
    assert json.loads(json.dumps(doc)) == doc  # JSON only
    assert target_from_task(doc) == t


def test_an_accepted_result_is_the_runners_host_with_its_site_and_key(ingest, runners):
    host = ingest.accept(target(), envelope(runners["imaging"]))
    assert host is not None and host.error is None
    assert (host.site, host.runner) == ("imaging", runners["imaging"].keyid)
    original = assessed()
    assert host.facts == original.facts and host.results == original.results
    assert (host.started, host.finished, host.uid, host.execs) == (1.0, 2.5, 0, 1)
    assert ingest.refusals == []


def test_a_redelivered_result_is_ignored(ingest, runners):
    first = ingest.accept(target(), envelope(runners["imaging"]))
    assert ingest.accept(target(), envelope(runners["imaging"])) is None
    assert ingest.fail(target(), "runner: late") is None
    assert ingest.hosts == {"pacs1": first}


def _tampered(signer: Signer) -> bytes:
    doc = json.loads(envelope(signer))
    payload = base64.b64decode(doc["payload"]).replace(b'"status":"pass"', b'"status":"fail"')
    doc["payload"] = base64.b64encode(payload).decode()
    return json.dumps(doc).encode()


def _fact_swapped(signer: Signer) -> bytes:
    """Validly signed, but a fact's bytes differ from the subject the runner listed."""
    host = assessed()
    stmt = json.loads(host_statement(SCAN, "imaging", host))
    stmt["predicate"]["host"]["facts"][1]["stdout"] = base64.b64encode(b"Plan9\n").decode()
    return seal(json.dumps(stmt).encode(), signer)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda r: envelope(r["rogue"]), "not by a runner key of the allow-list"),
        (lambda r: _tampered(r["imaging"]), "does not verify"),
        (lambda r: envelope(r["clinical"], site="clinical"), "of site clinical, not of imaging"),
        (lambda r: envelope(r["imaging"], assessed("pacs2")), "host pacs2"),
        (lambda r: envelope(r["imaging"], scan="20260101T000000Z-000000"), "not dispatched"),
        (lambda r: envelope(None), "signed by nobody"),
        (lambda r: _fact_swapped(r["imaging"]), "facts/pacs1/uname: sha256"),
        (lambda r: b"{not json", "not a DSSE envelope"),
    ],
)
def test_a_forged_result_is_refused_and_the_host_is_error(ingest, runners, make, words):
    host = ingest.accept(target(), make(runners))
    assert host is not None and host.error.startswith("untrusted: ")
    assert words in host.error, host.error
    assert host.results and all(r.status is Status.ERROR for r in host.results)
    assert len(ingest.refusals) == 1 and ingest.refusals[0].startswith("pacs1: ")
    assert host.site == "imaging" and host.runner is None


def test_the_allow_list_is_one_directory_per_site(tmp_path, runners):
    keys = RunnerKeys.load(tmp_path / "keys")
    assert set(keys.sites.values()) == {"imaging", "clinical"}
    twice = tmp_path / "keys" / "clinical" / "imaging.pub"
    twice.write_bytes(runners["imaging"].public.pem)
    with pytest.raises(RunnerKeyError, match="also a key of"):
        RunnerKeys.load(tmp_path / "keys")
    with pytest.raises(RunnerKeyError, match="no runner key"):
        RunnerKeys.load(tmp_path / "keys" / "rogue")


def test_site_is_a_host_and_group_variable_checked_with_its_line(tmp_path):
    path = tmp_path / "inv.yaml"
    path.write_text(
        "groups:\n  pacs:\n    vars: {site: imaging}\n    hosts: [a]\nhosts:\n  b: {}\n"
    )
    by_name = {t.name: t for t in load_inventory(path).targets}
    assert (by_name["a"].site, by_name["b"].site) == ("imaging", None)
    path.write_text("hosts:\n  a:\n    site: imaging/../x\n")
    with pytest.raises(InventoryError, match="site name") as err:
        load_inventory(path)
    assert err.value.line == 3


def test_a_scan_without_a_broker_never_imports_celery():
    code = "import sys, hygie.cli; sys.exit('celery' in sys.modules or 'redis' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_broker_scans_refuse_what_would_need_a_secret_or_a_site(tmp_path):
    inv = tmp_path / "inv.yaml"
    inv.write_text("hosts:\n  a: {address: 198.18.0.10}\n")
    argv = [sys.executable, "-m", "hygie.cli", "scan", "-i", str(inv), "--no-store", "-q"]
    broker = ["--broker", f"redis+socket://{tmp_path}/none.sock"]
    proc = subprocess.run([*argv, *broker], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3 and "every host needs a site" in proc.stderr
    inv.write_text("hosts:\n  a: {address: 198.18.0.10, site: imaging}\n")
    proc = subprocess.run([*argv, *broker], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3 and "--runner-keys" in proc.stderr
