"""Signed evidence from a real lab scan: `hygie keys`, `scan`, `evaluate`, `export` and
`verify` run as the CLI, inside the lab's scanner namespace (no route out).

A scan of two lab hosts and an offline re-evaluation make a chain of two signed links;
their bundles, copied to a fresh directory, verify with hygie and with the README's
third-party snippet; every tamper case fails with its reason; the store's chain survives a
restart and finds a deleted scan; the key and its passphrase appear nowhere hygie wrote.
"""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
from pathlib import Path

import pytest

from hygie.engine import rejudge
from hygie.export import bundle_files, read_bundle, verify_bundle, write_bundle
from hygie.policy import load_policy
from hygie.signing import generate_key, load_signer, read_public_key
from hygie.store import Store
from tests.tamper import cases, run_snippet

pytestmark = pytest.mark.lab

PASSPHRASE = "lab evidence passphrase 7f3c"
HOSTS = ("hardened", "weak-passwd")


@dataclasses.dataclass
class Evidence:
    fleet: object  # tests.integration.conftest.Fleet, with this module's environment
    root: Path
    key: Path
    outputs: list[str] = dataclasses.field(default_factory=list)  # every CLI stdout/stderr

    @property
    def public(self) -> Path:
        return self.key.with_suffix(".pub")

    @property
    def db(self) -> Path:
        return Path(self.fleet.env["HYGIE_DB"])

    def hygie(self, *args: str):
        proc = self.fleet.hygie(*args)
        self.outputs += [proc.stdout, proc.stderr]
        return proc


@pytest.fixture(scope="module")
def evidence(lab_fleet) -> Evidence:
    """A key, a signed scan of two hosts and its signed re-evaluation, in a store of their
    own; both exported (directory and tar)."""
    root = lab_fleet.workdir / "evidence"
    root.mkdir()
    key = root / "keys" / "signing.key"
    env = lab_fleet.env | {
        "HYGIE_DB": str(root / "hygie.db"),
        "HYGIE_SIGNING_KEY": str(key),
        "HYGIE_SIGNING_PASSPHRASE": PASSPHRASE,
    }
    ev = Evidence(dataclasses.replace(lab_fleet, env=env), root, key)
    made = ev.hygie("keys", "generate")
    assert made.returncode == 0, made.stderr
    limits = [arg for host in HOSTS for arg in ("--limit", host)]
    scan = ev.hygie(
        "scan",
        "-i",
        str(lab_fleet.inventory),
        *limits,
        "-o",
        str(root / "scan.json"),
        "--known-hosts",
        str(lab_fleet.lab.known_hosts_path),
        "--ssh-config",
        "/dev/null",
    )
    assert scan.returncode == 1, scan.stderr[-2000:]  # weak-passwd fails its checks
    summary = scan.stdout + scan.stderr
    assert "signed by key" in summary and "evidence chain link 1" in summary
    rejudged = ev.hygie("evaluate", "latest", "-p", "nist-800-63b")
    assert rejudged.returncode in (0, 1), rejudged.stderr[-2000:]
    for n, ref in ((1, _scan_ids(ev.db)[0]), (2, "latest")):
        for target in (root / f"bundle{n}", root / f"bundle{n}.tar"):
            out = ev.hygie("export", ref, "-o", str(target))
            assert out.returncode == 0, out.stderr
    return ev


def _scan_ids(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT scan_id FROM envelopes ORDER BY seq")]


def test_key_is_private_and_fingerprint_is_shown_everywhere(evidence):
    assert evidence.key.stat().st_mode & 0o777 == 0o600
    keyid = read_public_key(evidence.public).keyid
    shown = evidence.hygie("keys", "show")
    assert shown.returncode == 0 and shown.stdout.startswith(keyid)
    bundle = evidence.root / "bundle2"
    assert keyid in (bundle / "report.html").read_text()
    assert keyid in (bundle / "assessment-results.json").read_text()


def test_bundles_verify_offline_from_a_fresh_directory(evidence, tmp_path):
    """What a regulator does: receive the files, verify them with the published key."""
    for name in ("bundle1", "bundle2", "bundle1.tar", "bundle2.tar"):
        source = evidence.root / name
        copy = tmp_path / name
        (shutil.copytree if source.is_dir() else shutil.copyfile)(source, copy)
    public = tmp_path / "published.pub"
    shutil.copyfile(evidence.public, public)
    for bundle, previous in (("bundle2", "bundle1"), ("bundle2.tar", "bundle1.tar")):
        proc = evidence.hygie(
            "verify",
            str(tmp_path / bundle),
            "--key",
            str(public),
            "--previous",
            str(tmp_path / previous),
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "bundle: intact" in proc.stdout and "follows scan" in proc.stdout
    third_party = run_snippet(tmp_path / "bundle2", public)
    assert third_party.returncode == 0, third_party.stderr
    assert "intact, signed by" in third_party.stdout


def test_export_is_deterministic(evidence, tmp_path):
    again = tmp_path / "again.tar"
    assert evidence.hygie("export", "latest", "-o", str(again)).returncode == 0
    assert again.read_bytes() == (evidence.root / "bundle2.tar").read_bytes()


def test_every_tamper_case_on_a_real_bundle_is_found(evidence, tmp_path):
    signer = load_signer(evidence.key, PASSPHRASE.encode())
    trusted = {signer.keyid: signer.public}
    other = generate_key(tmp_path / "keys" / "other.key", None)
    original = evidence.root / "bundle2"
    for index, case in enumerate(cases(original, other)):
        root = shutil.copytree(original, tmp_path / f"case{index}")
        expected = case.change(root)
        found = verify_bundle(read_bundle(root), trusted).problems
        assert any(expected in p for p in found), (case.name, found)
    tampered = tmp_path / "case0"  # through the CLI too: exit 4 and the file named
    proc = evidence.hygie("verify", str(tampered), "--key", str(evidence.public))
    assert proc.returncode == 4 and "TAMPERED" in proc.stdout, proc.stdout


def test_a_hundred_untouched_bundles_raise_no_false_alarm(evidence, tmp_path):
    """One hundred more links (offline re-evaluations of the lab scan, signed), each
    exported and verified against the one before: zero problems."""
    signer = load_signer(evidence.key, PASSPHRASE.encode())
    trusted = {signer.keyid: signer.public}
    db = tmp_path / "hundred.db"
    shutil.copyfile(evidence.db, db)
    store = Store(db)
    policy = load_policy("health-baseline")
    judged = store.load(_scan_ids(db)[0])
    previous = read_bundle(evidence.root / "bundle2")
    for n in range(100):
        scan = rejudge(judged, policy)
        store.save(scan, signer)
        target = tmp_path / f"b{n:03d}"
        write_bundle(bundle_files(store, scan.id, signer), target)
        bundle = read_bundle(target)
        check = verify_bundle(bundle, trusted, previous)
        assert check.problems == [], (n, check.problems)
        previous = bundle
        shutil.rmtree(target)
    store.close()


def _edited_store(evidence: Evidence, directory: Path, *statements: str) -> Evidence:
    """A copy of the store edited behind SQLite's back (triggers dropped), and an
    environment that points hygie at it."""
    directory.mkdir(exist_ok=True)
    copy = directory / "edited.db"
    shutil.copyfile(evidence.db, copy)
    with sqlite3.connect(copy) as conn:
        for (trigger,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
            conn.execute(f"DROP TRIGGER {trigger}")
        for sql in statements:
            conn.execute(sql)
    env = evidence.fleet.env | {"HYGIE_DB": str(copy)}
    return dataclasses.replace(evidence, fleet=dataclasses.replace(evidence.fleet, env=env))


def test_the_chain_survives_a_restart_and_finds_edits_and_a_deleted_scan(evidence, tmp_path):
    intact = evidence.hygie("verify", "latest", "--key", str(evidence.public))
    assert intact.returncode == 0, intact.stdout
    assert "evidence chain: intact" in intact.stdout and "chain: 2 links" in intact.stdout
    first, second = _scan_ids(evidence.db)
    edited = _edited_store(
        evidence, tmp_path, f"UPDATE results SET status = 'pass' WHERE scan_id = '{first}'"
    )
    broken = edited.hygie("verify", "latest")
    assert broken.returncode == 4, broken.stdout
    assert f"BROKEN link 1 (scan {first}): results row " in broken.stdout
    assert "evidence chain: BROKEN" in broken.stdout
    deleted = _edited_store(
        evidence,
        tmp_path / "deleted",
        *(
            f"DELETE FROM {table} WHERE {'id' if table == 'scans' else 'scan_id'} = '{first}'"
            for table in ("results", "facts", "hosts", "envelopes", "scans")
        ),
    )
    broken = deleted.hygie("verify", "latest")
    assert broken.returncode == 4, broken.stdout
    assert f"BROKEN link 2 (scan {second}): the first link has seq 2" in broken.stdout


def test_key_and_passphrase_are_in_nothing_hygie_wrote(evidence):
    key_lines = [
        line
        for line in evidence.key.read_text().splitlines()
        if line and not line.startswith("-----")
    ]
    secrets = [PASSPHRASE.encode(), *(line.encode() for line in key_lines)]
    written = [p for p in evidence.root.rglob("*") if p.is_file() and p != evidence.key]
    assert any(p.suffix == ".db" for p in written) and any(p.suffix == ".tar" for p in written)
    for path in written:
        data = path.read_bytes()
        for secret in secrets:
            assert secret not in data, f"a secret is in {path}"
    with sqlite3.connect(evidence.db) as conn:
        dump = "\n".join(conn.iterdump()).encode()
    assert not any(secret in dump for secret in secrets)
    logs = "\n".join(evidence.outputs).encode()
    assert logs and not any(secret in logs for secret in secrets)
