"""Ways to tamper with an exported evidence bundle, what `hygie verify` must say of each, and
the README's verification without hygie.

Shared by the unit tests (bundles of a written scan) and the lab test (bundles of a real
scan): each case changes a bundle directory in place and returns what the problem it causes
must say. They are judged with the producer's public key given (``--key``), as a regulator
who holds the published fingerprint would: without it, a bundle re-signed whole with
another key is self-consistent, and only ``--previous`` reveals the change of key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hygie.signing import Signer, canonical_json, seal


@dataclass(frozen=True)
class Tamper:
    name: str
    change: Callable[[Path], str]  # edits the bundle; returns what the problem must contain


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def artifact_kinds(root: Path) -> dict[str, str]:
    """One file of each kind in a bundle: kind -> path relative to the bundle."""
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    kinds = {name: name for name in files if "/" not in name}
    kinds["fact"] = next(f for f in files if f.startswith("facts/") and "." not in f.split("/")[-1])
    stderr = [f for f in files if f.endswith(".stderr")]
    if stderr:
        kinds["fact stderr"] = stderr[0]
    return kinds


def flip(relative: str) -> Tamper:
    def change(root: Path) -> str:
        flip_byte(root / relative)
        return relative

    return Tamper(f"flip a byte of {relative}", change)


def _remove_fact(root: Path) -> str:
    victim = artifact_kinds(root)["fact"]
    (root / victim).unlink()
    return f"{victim}: missing from the bundle"


def _add_file(root: Path) -> str:
    (root / "facts" / "extra").mkdir(parents=True)
    (root / "facts" / "extra" / "os_release").write_bytes(b"ID=debian\n")
    return "facts/extra/os_release: in the bundle but not in the signed statement"


def _edit_predicate(root: Path) -> str:
    """Change the manifest's predicate and rewrite manifest.json to match, keeping the old
    signature: the signature no longer covers the payload."""
    envelope = json.loads((root / "manifest.dsse.json").read_bytes())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["scan"]["seq"] += 1
    payload = canonical_json(statement)
    envelope["payload"] = base64.b64encode(payload).decode()
    (root / "manifest.dsse.json").write_bytes(canonical_json(envelope) + b"\n")
    (root / "manifest.json").write_bytes(payload)
    return "manifest.dsse.json: signature by key"


def resign(other: Signer) -> Tamper:
    """Turn a failed result into a pass, then re-sign both envelopes with another key and
    ship that key: self-consistent, so only a trusted key (--key) or the previous bundle
    can tell."""

    def change(root: Path) -> str:
        results = root / "results.json"
        edited = results.read_bytes().replace(b'"status": "fail"', b'"status": "pass"', 1)
        assert edited != results.read_bytes(), "the scan has no failed result to hide"
        results.write_bytes(edited)
        _reseal(root, "scan.dsse.json", other, lambda stmt: _redigest(stmt, root))
        _reseal(root, "manifest.dsse.json", other, lambda stmt: _redigest(stmt, root, other))
        (root / "signing.pub").write_bytes(other.public.pem)
        return "not by a key given to verify"

    return Tamper("re-sign with another key", change)


def _redigest(statement: dict, root: Path, signer: Signer | None = None) -> None:
    for subject in statement["subject"]:
        path = root / subject["name"]
        if subject["name"] == "signing.pub" and signer is not None:
            data = signer.public.pem
        else:
            data = path.read_bytes()
        subject["digest"]["sha256"] = hashlib.sha256(data).hexdigest()
    if signer is not None:
        statement["predicate"]["signer"] = signer.keyid
        scan_envelope = (root / "scan.dsse.json").read_bytes()
        statement["predicate"]["scan"]["envelope_sha256"] = hashlib.sha256(
            scan_envelope
        ).hexdigest()


def _reseal(root: Path, name: str, signer: Signer, edit: Callable[[dict], None]) -> None:
    envelope = json.loads((root / name).read_bytes())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    edit(statement)
    payload = canonical_json(statement)
    (root / name).write_bytes(seal(payload, signer))
    if name == "manifest.dsse.json":
        (root / "manifest.json").write_bytes(payload)


def cases(root: Path, other: Signer) -> list[Tamper]:
    """Every tamper case for the bundle at ``root``: a flipped byte in each kind of file,
    a file removed, a file added, the predicate edited, everything re-signed."""
    return [
        *(flip(path) for path in artifact_kinds(root).values()),
        Tamper("remove a fact file", _remove_fact),
        Tamper("add a file", _add_file),
        Tamper("edit the manifest's predicate", _edit_predicate),
        resign(other),
    ]


README = Path(__file__).resolve().parents[1] / "README.md"


def snippet() -> str:
    """The README's "verify without hygie" code, exactly as printed there."""
    found = re.search(r"<!-- third-party-verify -->\n```python\n(.*?)```", README.read_text(), re.S)
    assert found, "README has no third-party verification snippet"
    return found.group(1)


def run_snippet(bundle: Path, public: Path) -> subprocess.CompletedProcess:
    """Run the snippet isolated (``-I``: no user site, no PYTHONPATH) and prove it never
    imported hygie."""
    code = snippet() + "\nassert not any(m.startswith('hygie') for m in sys.modules)\n"
    return subprocess.run(
        [sys.executable, "-I", "-c", code, str(bundle), str(public)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
