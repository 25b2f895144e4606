"""Evidence bundles: what a regulator receives (``hygie export``) and checks offline, with
hygie (``hygie verify BUNDLE``) or with standard tools only (README, "Signed evidence").

A bundle is a directory, or a tar of one, holding:

- ``facts/<host>/<fact>``: every fact's raw stdout exactly as collected (``.stderr``
  beside it when there was any);
- ``results.json``: the scan's canonical results (hygie.chain.results_json);
- ``assessment-results.json`` (OSCAL) and ``report.html``: the reports, rendered as of the
  scan's own end, so that exporting twice gives the same bytes;
- ``scan.dsse.json``: the scan's envelope, its link in the store's chain, byte for byte;
- ``signing.pub``: the public key that signed it (signed scans only);
- ``manifest.json``: an in-toto Statement whose subjects are all the files above, and
  ``manifest.dsse.json``: its signed envelope;
- ``manifest.dsse.json.tsr`` (only with ``--tsa``): an RFC 3161 Time-Stamp Authority's
  token over the manifest envelope's bytes (hygie.timestamp), the DER TimeStampResp as the
  TSA sent it. It is made after the manifest is signed, so the manifest cannot list it.

No wall-clock time, random value or file-system order enters a bundle; tar members have a
fixed owner, mode and time (the scan's end) and come in sorted order. The one exception
is the token, which the TSA makes anew each time (its time, serial and our nonce):
every other file of a timestamped bundle is the same as without ``--tsa``.
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import orjson

from hygie import __version__
from hygie.chain import (
    ENVELOPE,
    RESULTS,
    SCAN_PREDICATE,
    STDERR_SUFFIX,
    Statement,
    digest_problems,
    fact_files,
    fact_path,
    read_statement,
    results_json,
    scan_problems,
    sha256,
    statement,
    subject_problems,
)
from hygie.jsonfmt import pretty
from hygie.model import Scan
from hygie.signing import (
    EnvelopeError,
    PublicKey,
    Signer,
    SigningError,
    check_signatures,
    load_public_key,
    open_envelope,
    seal,
    signature_problems,
)
from hygie.store import Store
from hygie.timestamp import TimestampError, Trusted, TsaTrust, request_token, verify_token

MANIFEST = "manifest.json"
MANIFEST_ENVELOPE = "manifest.dsse.json"
PUBLIC_KEY = "signing.pub"
REPORT = "report.html"
OSCAL = "assessment-results.json"
TIMESTAMP = f"{MANIFEST_ENVELOPE}.tsr"
BUNDLE_PREDICATE = "https://hygie.invalid/attestation/bundle/v1"
# what the manifest cannot list: itself, and the token made after it is signed
_UNSIGNED_FILES = (MANIFEST, MANIFEST_ENVELOPE, TIMESTAMP)


class ExportError(Exception):
    """The scan cannot be exported as asked (bad input: nothing was written)."""


class BundleError(Exception):
    """The path is not a bundle that can be read at all (bad input)."""


def _check_sealed(store: Store, scan: Scan, envelope: bytes, results: bytes) -> None:
    """Refuse to package evidence that no longer matches its seal: a bundle vouches for it."""
    env = open_envelope(envelope)
    stmt = read_statement(env.payload_type, env.payload, SCAN_PREDICATE)
    origin = store.seal(scan.facts_from) if scan.facts_from else None
    keys = {k: load_public_key(pem, f"the store's key {k}") for k, pem in store.public_keys()}
    problems = signature_problems(check_signatures(env, keys), ENVELOPE, require=False)
    origin_digest = origin.envelope_sha256 if origin else None
    problems += scan_problems(stmt, scan, results, origin_digest, "the store")
    if problems:
        raise ExportError(
            f"scan {scan.id} no longer matches its seal (run hygie verify): "
            + "; ".join(problems[:5])
            + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        )


def _reports(
    scan: Scan, extra: Mapping[str, bytes], lang: str, frameworks: Sequence[str] | None
) -> dict[str, bytes]:
    """The HTML and OSCAL reports, as of the scan's own end (never today). The OSCAL
    back-matter lists every other file of the bundle with its hash, the HTML included."""
    from hygie.reports.build import build_report
    from hygie.reports.model import Artifact
    from hygie.reports.render_html import render as render_html
    from hygie.reports.render_oscal import assessment_results

    finished = datetime.fromtimestamp(scan.finished, UTC)
    try:
        report = build_report(
            scan, frameworks=frameworks, today=finished.date(), generated_at=finished, lang=lang
        )
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    html = render_html(report).encode()
    media = {REPORT: "text/html", PUBLIC_KEY: "application/x-pem-file"}
    listed = {REPORT: html, **{k: v for k, v in extra.items() if k in media}}
    report = replace(
        report,
        artifacts=report.artifacts
        + tuple(Artifact(p, sha256(data), media[p]) for p, data in sorted(listed.items())),
    )
    return {REPORT: html, OSCAL: pretty(assessment_results(report, excerpts=False))}


@dataclass(frozen=True)
class Exported:
    scan_id: str
    files: dict[str, bytes]  # path in the bundle -> bytes
    mtime: int  # the scan's end: the time of every tar member


def bundle_files(
    store: Store,
    scan_id: str,
    signer: Signer | None,
    *,
    lang: str = "en",
    frameworks: Sequence[str] | None = None,
) -> Exported:
    """Every file of the scan's bundle, by path. A signed scan needs its own key to sign
    the manifest; an unsigned scan gets an unsigned manifest, whatever ``signer`` is."""
    scan = store.load(scan_id)
    envelope = store.envelope(scan.id)
    if envelope is None or scan.seal is None:
        raise ExportError(
            f"scan {scan.id} was stored before hygie sealed scans: it is in no evidence chain "
            "and cannot be exported as a bundle"
        )
    results = results_json(scan)
    _check_sealed(store, scan, envelope, results)
    keyid = scan.seal.keyid
    if keyid is not None and (signer is None or signer.keyid != keyid):
        found = f"the configured key is {signer.keyid}" if signer else "no key is configured"
        raise ExportError(
            f"scan {scan.id} was signed by key {keyid} and its bundle must be too, but {found} "
            "($HYGIE_SIGNING_KEY, or ~/.config/hygie/signing.key)"
        )
    files = dict(fact_files(scan))
    files[RESULTS] = results
    files[ENVELOPE] = envelope
    if keyid is not None:
        files[PUBLIC_KEY] = store.public_key(keyid) or signer.public.pem
    files |= _reports(scan, files, lang, frameworks)
    predicate = {
        "scan": {
            "id": scan.id,
            "seq": scan.seal.seq,
            "prev": scan.seal.prev,
            "envelope_sha256": scan.seal.envelope_sha256,
        },
        "signer": keyid,
        "tool": {"name": "hygie", "version": __version__},
    }
    manifest = statement({p: sha256(d) for p, d in files.items()}, BUNDLE_PREDICATE, predicate)
    files[MANIFEST] = manifest
    files[MANIFEST_ENVELOPE] = seal(manifest, signer if keyid else None)
    return Exported(scan.id, files, int(scan.finished))


def timestamp_bundle(
    bundle: Exported, url: str, trust: TsaTrust | None = None
) -> tuple[Exported, Trusted | None]:
    """The bundle with a TSA's token over its manifest envelope, and with ``trust`` the
    token verified, so that a TSA whose tokens would not verify is found before anything
    is written (TimestampError)."""
    envelope = bundle.files[MANIFEST_ENVELOPE]
    token = request_token(url, envelope, MANIFEST_ENVELOPE)
    trusted = None
    if trust is not None:
        try:
            trusted = verify_token(token, envelope, trust, MANIFEST_ENVELOPE)
        except TimestampError as exc:
            raise TimestampError(f"TSA {url}: its token is {exc}") from None
    return replace(bundle, files={**bundle.files, TIMESTAMP: token}), trusted


def write_bundle(bundle: Exported, output: Path) -> None:
    """A directory, or with a ``.tar`` name, a tar whose members are ``<scan id>/<path>``.
    Nothing existing is overwritten; a tar appears whole or not at all."""
    files = bundle.files
    if output.suffix == ".tar":
        if output.exists():
            raise ExportError(f"{output} exists")
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.")
        try:
            with (
                os.fdopen(fd, "wb") as raw,
                tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar,
            ):
                for path in sorted(files):
                    info = tarfile.TarInfo(f"{bundle.scan_id}/{path}")
                    info.size, info.mtime, info.mode = len(files[path]), bundle.mtime, 0o644
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    tar.addfile(info, io.BytesIO(files[path]))
            os.chmod(tmp, 0o644)
            os.replace(tmp, output)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise ExportError(f"{output} exists and is not an empty directory")
    for path in sorted(files):
        target = output / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(files[path])


@dataclass
class Bundle:
    source: str
    files: dict[str, bytes]
    problems: list[str] = field(default_factory=list)  # odd entries: links, devices, ..


def _read_dir(root: Path) -> Bundle:
    bundle = Bundle(str(root), {})
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            if full.is_symlink():
                bundle.problems.append(f"{rel}: a symbolic link, not a file of the bundle")
            elif full.is_file():
                bundle.files[rel] = full.read_bytes()
            elif not full.is_dir():
                bundle.problems.append(f"{rel}: not a regular file")
        dirnames[:] = [d for d in dirnames if not (Path(dirpath) / d).is_symlink()]
    return bundle


def _read_tar(path: Path) -> Bundle:
    try:
        with tarfile.open(path, "r|*") as tar:  # one pass, no seek per member
            return _tar_bundle(tar, str(path))
    except (tarfile.TarError, OSError) as exc:
        raise BundleError(f"{path}: not a directory or a readable tar archive ({exc})") from None


@dataclass(frozen=True)
class _Member:
    name: str  # as the archive spells it
    parts: tuple[str, ...]  # without empty and "." components
    unsafe: bool  # absolute, or with a ".." component
    data: bytes | None  # None: not a regular file


def _tar_bundle(tar: tarfile.TarFile, source: str) -> Bundle:
    """The members of a tar, read in memory (nothing is extracted to disk): under one top
    directory, which is stripped, or at its root. Paths are split as strings: pathlib per
    member costs seconds on a 40,000-fact bundle."""
    members = []
    for member in tar:
        if member.isdir():
            continue
        parts = tuple(p for p in member.name.split("/") if p not in ("", "."))
        unsafe = member.name.startswith("/") or ".." in parts
        data = None
        if member.isfile() and not unsafe:
            extracted = tar.extractfile(member)
            data = extracted.read() if extracted else b""
        members.append(_Member(member.name, parts, unsafe, data))
    tops = {m.parts[0] for m in members if m.parts}
    strip = len(tops) == 1 and not any(len(m.parts) == 1 for m in members)
    bundle = Bundle(source, {})
    for m in members:
        path = "/".join(m.parts[1:] if strip else m.parts)
        if m.unsafe or not path:
            bundle.problems.append(f"{m.name}: an unsafe path in the archive")
        elif m.data is None:
            bundle.problems.append(f"{path}: not a regular file (tar member type)")
        elif path in bundle.files:
            bundle.problems.append(f"{path}: appears twice in the archive")
        else:
            bundle.files[path] = m.data
    return bundle


def read_bundle(path: Path) -> Bundle:
    if path.is_dir():
        return _read_dir(path)
    if path.is_file():
        return _read_tar(path)
    raise BundleError(f"{path}: no such bundle")


@dataclass
class BundleCheck:
    """What ``hygie verify BUNDLE`` found: problems (the bundle is not intact), and notes
    saying what was, and was not, proven."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    scan_id: str | None = None
    seq: int | None = None
    signer: str | None = None  # keyid whose signature verified
    files: int = 0


def _open(files: Mapping[str, bytes], name: str, kind: str, out: BundleCheck):
    """(envelope, statement) of the bundle's file ``name``, or None with the problem said."""
    if name not in files:
        out.problems.append(f"{name}: missing from the bundle")
        return None
    try:
        env = open_envelope(files[name])
        return env, read_statement(env.payload_type, env.payload, kind)
    except EnvelopeError as exc:
        out.problems.append(f"{name}: {exc}")
        return None


def _keys(bundle: Bundle, trusted: Mapping[str, PublicKey] | None, out: BundleCheck) -> dict:
    if trusted is not None:
        return dict(trusted)
    if PUBLIC_KEY not in bundle.files:
        return {}
    try:
        key = load_public_key(bundle.files[PUBLIC_KEY], PUBLIC_KEY)
    except SigningError as exc:
        out.problems.append(str(exc))
        return {}
    return {key.keyid: key}


def _results_problems(files: Mapping[str, bytes]) -> list[str]:
    """Each fact file against the sha256 results.json lists for it, and the reverse."""
    try:
        hosts = orjson.loads(files[RESULTS])["hosts"]
        listed = {fact_path(h["name"], f["name"]): f["sha256"] for h in hosts for f in h["facts"]}
    except (ValueError, KeyError, TypeError) as exc:
        return [f"{RESULTS}: not hygie results ({exc})"]
    present = {
        p: sha256(d)
        for p, d in files.items()
        if p.startswith("facts/") and not p.endswith(STDERR_SUFFIX)
    }
    return digest_problems(
        listed,
        present,
        missing=f"{{name}}: listed in {RESULTS} but missing from the bundle",
        extra=f"{{name}}: a fact file {RESULTS} does not list",
        altered=f"{{name}}: sha256 {{got}}, {RESULTS} lists {{want}}",
    )


def _scan_envelope(
    bundle: Bundle,
    manifest: Statement,
    signers: tuple[str, ...],
    keys: Mapping[str, PublicKey],
    strict: bool,
    out: BundleCheck,
) -> Statement | None:
    """The scan's own link: its signature (by the manifest's ``signers``), its subjects
    against the bundle's files, and its digest against the one the manifest names. A
    signed scan under an unsigned manifest is a problem: stripping the manifest's
    signature would otherwise let anyone rewrite what the scan envelope does not cover."""
    opened = _open(bundle.files, ENVELOPE, SCAN_PREDICATE, out)
    if opened is None:
        return None
    env, stmt = opened
    check = check_signatures(env, keys)
    out.problems += signature_problems(check, ENVELOPE, require=strict)
    if env.keyids != signers:
        out.problems.append(
            f"{ENVELOPE}: signed by {', '.join(env.keyids) or 'no key'}, the manifest by "
            f"{', '.join(signers) or 'no key'}"
        )
    named = (manifest.predicate.get("scan") or {}).get("envelope_sha256")
    if sha256(bundle.files[ENVELOPE]) != named:
        out.problems.append(
            f"{ENVELOPE}: sha256 {sha256(bundle.files[ENVELOPE])}, the manifest names {named}"
        )
    present = {p: sha256(d) for p, d in bundle.files.items() if p in stmt.subjects}
    out.problems += [
        f"{ENVELOPE}: {p}" for p in subject_problems(stmt.subjects, present, "the bundle")
    ]
    scan_id = (stmt.predicate.get("scan") or {}).get("id")
    if scan_id != (manifest.predicate.get("scan") or {}).get("id"):
        out.problems.append(f"{ENVELOPE}: scan {scan_id}, the manifest names another scan")
    out.scan_id, out.seq = scan_id, stmt.predicate.get("seq")
    return stmt


def _chain_problems(
    stmt: Statement, previous: Bundle, trusted: Mapping[str, PublicKey] | None, out: BundleCheck
) -> None:
    """``prev`` and ``seq`` against the previous bundle's scan envelope; that bundle is
    verified too, and a change of signing key is a problem unless both keys are given."""
    before = verify_bundle(previous, trusted)
    out.problems += [f"previous bundle {previous.source}: {p}" for p in before.problems]
    if ENVELOPE not in previous.files or before.seq is None:
        return
    digest = sha256(previous.files[ENVELOPE])
    seq, prev = stmt.predicate.get("seq"), stmt.predicate.get("prev")
    link = f"chain: scan {out.scan_id} (seq {seq})"
    if prev != digest:
        out.problems.append(
            f"{link} has prev {prev}, but the previous bundle's scan {before.scan_id} "
            f"(seq {before.seq}) has envelope sha256 {digest}: it is not the link before"
        )
    if seq != before.seq + 1:
        out.problems.append(
            f"{link} does not follow the previous bundle's scan {before.scan_id} "
            f"(seq {before.seq}): expected seq {before.seq + 1}"
        )
    if trusted is None and before.signer != out.signer:
        out.problems.append(
            f"chain: this bundle is signed by key {out.signer}, the previous one by key "
            f"{before.signer}: if the key was rotated, give both with --key"
        )
    if not out.problems:
        out.notes.append(f"follows scan {before.scan_id} (seq {before.seq}) of {previous.source}")


def _timestamp_check(bundle: Bundle, trust: TsaTrust | None, out: BundleCheck) -> None:
    """The token over the manifest envelope: checked against ``trust`` (``--tsa-cert``),
    asked for and missing, or present and said to be unchecked."""
    token, envelope = bundle.files.get(TIMESTAMP), bundle.files.get(MANIFEST_ENVELOPE)
    if envelope is None:  # said missing already: nothing to check a token against
        return
    if token is None:
        if trust is not None:
            out.problems.append(f"{TIMESTAMP}: missing, but --tsa-cert asks for a timestamp")
        return
    if trust is None:
        out.notes.append(
            f"{TIMESTAMP}: an RFC 3161 timestamp token, NOT checked (pass --tsa-cert with the "
            "TSA's CA certificate to trust its time)"
        )
        return
    try:
        out.notes.append(str(verify_token(token, envelope, trust, MANIFEST_ENVELOPE)))
    except TimestampError as exc:
        out.problems.append(f"{TIMESTAMP}: {exc}")


def verify_bundle(
    bundle: Bundle,
    trusted: Mapping[str, PublicKey] | None = None,
    previous: Bundle | None = None,
    tsa: TsaTrust | None = None,
) -> BundleCheck:
    """Check a bundle offline. ``trusted``: the keys it must be signed by (``--key``);
    without them its own ``signing.pub`` is used, which proves integrity, not origin.
    ``tsa``: the certificates its RFC 3161 token must chain to (``--tsa-cert``)."""
    out = BundleCheck(problems=list(bundle.problems), files=len(bundle.files))
    opened = _open(bundle.files, MANIFEST_ENVELOPE, BUNDLE_PREDICATE, out)
    if opened is None:
        _timestamp_check(bundle, tsa, out)  # over the envelope's bytes, readable or not
        return out
    env, manifest = opened
    keys = _keys(bundle, trusted, out)
    check = check_signatures(env, keys)
    out.problems += signature_problems(check, MANIFEST_ENVELOPE, require=trusted is not None)
    if env.signatures and not keys and trusted is None:
        out.problems.append(f"{PUBLIC_KEY}: missing, and no --key given to check the signature")
    out.signer = check.valid[0] if check.valid else None
    if manifest.predicate.get("signer") != (env.keyids[0] if env.keyids else None):
        out.problems.append(
            f"{MANIFEST_ENVELOPE}: the manifest names signer {manifest.predicate.get('signer')}, "
            f"the envelope carries {', '.join(env.keyids) or 'no signature'}"
        )
    if bundle.files.get(MANIFEST) != manifest.payload:
        state = "missing" if MANIFEST not in bundle.files else "differs from the statement"
        out.problems.append(f"{MANIFEST}: {state} signed in {MANIFEST_ENVELOPE}")
    present = {p: sha256(d) for p, d in bundle.files.items() if p not in _UNSIGNED_FILES}
    out.problems += subject_problems(manifest.subjects, present, "the bundle")
    stmt = _scan_envelope(bundle, manifest, env.keyids, keys, trusted is not None, out)
    if RESULTS in bundle.files:
        out.problems += _results_problems(bundle.files)
    if stmt is not None and previous is not None:
        _chain_problems(stmt, previous, trusted, out)
    if check.unsigned:
        out.notes.append(
            "UNSIGNED: the digests agree with each other, but nothing proves who made this "
            "bundle (anyone can write an unsigned one)"
        )
    elif out.signer and trusted is None:
        out.notes.append(
            f"signature checked with the bundle's own {PUBLIC_KEY} (key {out.signer}): this "
            "proves the files are intact, not who produced them; compare the fingerprint with "
            "the one the producer published, or pass --key"
        )
    elif out.signer:
        out.notes.append(f"signed by key {out.signer}, one of the keys given with --key")
    _timestamp_check(bundle, tsa, out)
    return out
