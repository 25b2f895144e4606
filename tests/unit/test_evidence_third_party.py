"""The README's "verify without hygie" snippet, run as written on an exported bundle: it
uses securesystemslib's DSSE implementation, not hygie's, and never imports hygie."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tamper import flip_byte
from tests.unit.test_evidence_bundle import exported, keys  # noqa: F401 (fixtures)

README = Path(__file__).resolve().parents[2] / "README.md"


def snippet() -> str:
    text = README.read_text()
    found = re.search(r"<!-- third-party-verify -->\n```python\n(.*?)```", text, re.S)
    assert found, "README has no third-party verification snippet"
    return found.group(1)


def run_snippet(bundle: Path, public: Path) -> subprocess.CompletedProcess:
    code = snippet() + "\nassert not any(m.startswith('hygie') for m in sys.modules)\n"
    return subprocess.run(
        [sys.executable, "-I", "-c", code, str(bundle), str(public)],
        capture_output=True, text=True, timeout=60, cwd="/",
    )  # fmt: skip


def test_snippet_verifies_an_untouched_bundle(exported, keys):  # noqa: F811
    pytest.importorskip("securesystemslib")
    proc = run_snippet(exported / "second", exported / "second" / "signing.pub")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith(f"intact, signed by {keys[0].keyid}")


def test_snippet_rejects_a_tampered_bundle_and_another_key(exported, keys, tmp_path):  # noqa: F811
    pytest.importorskip("securesystemslib")
    root = shutil.copytree(exported / "second", tmp_path / "b")
    flip_byte(root / "facts" / "db1" / "os_release")
    proc = run_snippet(root, root / "signing.pub")
    assert proc.returncode != 0 and "facts/db1/os_release" in proc.stderr
    other = tmp_path / "other.pub"
    other.write_bytes(keys[1].public.pem)
    proc = run_snippet(exported / "second", other)
    assert proc.returncode != 0 and "VerificationError" in proc.stderr
