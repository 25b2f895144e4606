"""The README's "verify without hygie" snippet, run as written on an exported bundle: it
uses securesystemslib's DSSE implementation, not hygie's, and never imports hygie."""

from __future__ import annotations

import shutil

import pytest

from tests.tamper import flip_byte, run_snippet
from tests.unit.test_evidence_bundle import exported, keys  # noqa: F401 (fixtures)


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
