"""Evidence bundles: deterministic exports that verify offline, and every tamper case found
with a precise reason."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import pytest

from hygie import export
from hygie.export import BundleError, ExportError
from hygie.signing import Signer, generate_key
from hygie.store import Store
from tests.tamper import cases
from tests.unit.test_evidence_chain import scan_n, tamper

FIRST, SECOND = "20261128T000001Z-aaaaaa", "20261128T000002Z-aaaaaa"


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> tuple[Signer, Signer]:
    root = tmp_path_factory.mktemp("keys")
    return generate_key(root / "a.key", None), generate_key(root / "b.key", None)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, keys) -> Path:
    """Two signed scans of one store, each exported as a directory: first/ and second/."""
    root = tmp_path_factory.mktemp("bundles")
    store = Store(root / "h.db")
    for n in (1, 2):
        store.save(scan_n(n), keys[0])
    for name, scan_id in (("first", FIRST), ("second", SECOND)):
        export.write_bundle(export.bundle_files(store, scan_id, keys[0]), root / name)
    store.close()
    return root


def trusted(signer: Signer) -> dict:
    return {signer.keyid: signer.public}


def test_export_is_deterministic_as_a_directory_and_as_a_tar(exported, keys, tmp_path):
    store = Store(exported / "h.db")
    once, twice = (export.bundle_files(store, SECOND, keys[0]) for _ in range(2))
    assert once.files == twice.files
    export.write_bundle(once, tmp_path / "a.tar")
    export.write_bundle(twice, tmp_path / "b.tar")
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    on_disk = export.read_bundle(exported / "second").files
    assert export.read_bundle(tmp_path / "a.tar").files == on_disk == once.files
    assert set(on_disk) == {
        "assessment-results.json",
        "facts/db1/blob",
        "facts/db1/blob.stderr",
        "facts/db1/os_release",
        "manifest.dsse.json",
        "manifest.json",
        "report.html",
        "results.json",
        "scan.dsse.json",
        "signing.pub",
    }
    with tarfile.open(tmp_path / "a.tar") as tar:
        assert {(m.uid, m.mtime, m.mode) for m in tar.getmembers()} == {(0, 25, 0o644)}
    with pytest.raises(ExportError, match="exists"):
        export.write_bundle(once, tmp_path / "a.tar")
    store.close()


def test_untouched_bundles_verify_with_and_without_the_trusted_key(exported, keys):
    second, first = export.read_bundle(exported / "second"), export.read_bundle(exported / "first")
    check = export.verify_bundle(second, trusted(keys[0]), previous=first)
    assert check.problems == [] and check.scan_id == SECOND and check.seq == 2
    assert check.signer == keys[0].keyid and check.files == 10
    own = export.verify_bundle(second)
    assert own.problems == [] and "not who produced them" in own.notes[0]


def test_the_reports_carry_the_fingerprint_and_the_artifact_hashes(exported, keys):
    files = export.read_bundle(exported / "second").files
    assert keys[0].keyid.encode() in files["report.html"]
    oscal = files["assessment-results.json"].decode()
    assert keys[0].keyid in oscal and "facts/db1/os_release" in oscal and "report.html" in oscal


def _copy(exported: Path, tmp_path: Path) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(exported / "second", target)
    return target


def test_every_tamper_case_is_found_with_its_reason(exported, keys, tmp_path):
    names = [c.name for c in cases(exported / "second", keys[1])]
    assert len(names) == len(set(names)) >= 13
    for index, case in enumerate(cases(exported / "second", keys[1])):
        root = shutil.copytree(exported / "second", tmp_path / str(index))
        expected = case.change(root)
        found = export.verify_bundle(export.read_bundle(root), trusted(keys[0])).problems
        assert any(expected in p for p in found), (case.name, found)


def test_a_bundle_re_signed_whole_is_caught_by_the_previous_bundle(exported, keys, tmp_path):
    root = _copy(exported, tmp_path)
    next(c for c in cases(root, keys[1]) if c.name.startswith("re-sign")).change(root)
    assert (
        export.verify_bundle(export.read_bundle(root)).problems == []
    )  # self-consistent on its own
    found = export.verify_bundle(
        export.read_bundle(root), previous=export.read_bundle(exported / "first")
    ).problems
    assert found == [
        f"chain: this bundle is signed by key {keys[1].keyid}, the previous one by key "
        f"{keys[0].keyid}: if the key was rotated, give both with --key"
    ]


def test_a_bundle_that_does_not_follow_the_previous_one_is_named(exported, keys):
    found = export.verify_bundle(
        export.read_bundle(exported / "first"),
        trusted(keys[0]),
        previous=export.read_bundle(exported / "second"),
    ).problems
    assert len(found) == 2
    assert found[0].startswith(
        f"chain: scan {FIRST} (seq 1) has prev None, but the previous "
        f"bundle's scan {SECOND} (seq 2) has envelope sha256 "
    )
    assert found[1].endswith("expected seq 3")


def test_unsafe_archives_are_refused_without_extracting_anything(tmp_path):
    unsafe = tmp_path / "evil.tar"
    with tarfile.open(unsafe, "w") as tar:
        for name, kind in (("../escape", tarfile.REGTYPE), ("b/link", tarfile.SYMTYPE)):
            info = tarfile.TarInfo(name)
            info.type = kind
            tar.addfile(info, io.BytesIO(b""))
    bundle = export.read_bundle(unsafe)
    assert bundle.files == {}
    assert "../escape: an unsafe path in the archive" in bundle.problems
    assert any("not a regular file" in p for p in bundle.problems)
    assert "manifest.dsse.json: missing from the bundle" in export.verify_bundle(bundle).problems
    assert not (tmp_path.parent / "escape").exists()
    (tmp_path / "junk.tar").write_bytes(b"not a tar")
    with pytest.raises(BundleError, match=r"junk\.tar: not a directory or a readable tar"):
        export.read_bundle(tmp_path / "junk.tar")


def test_symbolic_links_in_a_bundle_directory_are_problems(exported, tmp_path):
    root = _copy(exported, tmp_path)
    (root / "extra").symlink_to("/etc/passwd")
    assert (
        "extra: a symbolic link, not a file of the bundle"
        in export.verify_bundle(export.read_bundle(root)).problems
    )


def test_an_unsigned_scan_exports_an_unsigned_bundle_said_to_be(tmp_path):
    store = Store(tmp_path / "h.db")
    store.save(scan_n(1))
    bundle = export.bundle_files(store, FIRST, None)
    assert "signing.pub" not in bundle.files
    export.write_bundle(bundle, tmp_path / "out")
    check = export.verify_bundle(export.read_bundle(tmp_path / "out"))
    assert check.problems == [] and check.notes[0].startswith("UNSIGNED")
    assert b"UNSIGNED" in bundle.files["report.html"]


def test_export_refuses_evidence_that_no_longer_matches_its_seal(tmp_path, keys):
    path = tmp_path / "h.db"
    store = Store(path)
    store.save(scan_n(1), keys[0])
    with pytest.raises(ExportError, match=r"signed by key .* no key is configured"):
        export.bundle_files(store, FIRST, None)
    with pytest.raises(ExportError, match="the configured key is"):
        export.bundle_files(store, FIRST, keys[1])
    store.close()
    tamper(path, "UPDATE facts SET stdout = CAST('x' AS BLOB) WHERE name = 'os_release'")
    store = Store(path)
    with pytest.raises(ExportError, match=r"no longer matches its seal .*facts/db1/os_release"):
        export.bundle_files(store, FIRST, keys[0])
