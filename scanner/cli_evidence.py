"""``hygie keys``, ``hygie export`` and ``hygie verify``: signed, chained, checkable evidence.

Exit codes of ``verify``: 0 intact; 4 tampered or broken (a file, digest, signature or
chain link does not match: each problem is printed); 3 bad input (no such scan or path, an
unreadable archive or key). ``export --tsa`` exits 3 when the TSA gives no usable token:
nothing is written then.

The signing key is ``$HYGIE_SIGNING_KEY``, else ``~/.config/hygie/signing.key`` (its
public key beside it, ``signing.pub``); its passphrase comes from
``$HYGIE_SIGNING_PASSPHRASE`` or a prompt (``--ask-passphrase``), never from the command
line. Without a key, scans are stored unsigned and said to be so everywhere.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import click

from hygie.chain import ChainCheck, walk
from hygie.cli_store import db_option, open_store
from hygie.export import (
    TIMESTAMP,
    BundleError,
    Exported,
    ExportError,
    bundle_files,
    read_bundle,
    timestamp_bundle,
    verify_bundle,
    write_bundle,
)
from hygie.reports.cli import BadInput
from hygie.reports.i18n import DEFAULT_LANG, LANGS
from hygie.signing import (
    PASSPHRASE_ENV,
    PublicKey,
    Signer,
    SigningError,
    configured_key_path,
    generate_key,
    load_public_key,
    load_signer,
    public_path,
    read_public_key,
)
from hygie.store import StoreError
from hygie.timestamp import TimestampError, TsaTrust, read_trust

EXIT_TAMPERED = 4

passphrase_option = click.option(
    "--ask-passphrase",
    is_flag=True,
    help=f"Prompt for the signing key's passphrase (else ${PASSPHRASE_ENV}).",
)
_tsa_cert_option = click.option(
    "--tsa-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The RFC 3161 TSA's CA certificate (PEM; its chain and the TSA's own certificate "
    "may follow it): the bundle's timestamp token must be signed under it.",
)


def _passphrase(ask: bool, confirm: bool = False) -> bytes | None:
    if ask:
        first = getpass.getpass("signing key passphrase: ")
        if confirm and getpass.getpass("again: ") != first:
            raise BadInput("the passphrases differ")
        return first.encode()
    given = os.environ.get(PASSPHRASE_ENV)
    return given.encode() if given else None


def configured_signer(ask_passphrase: bool) -> Signer | None:
    """The signing key, loaded before anything is scanned so that a wrong passphrase
    stops the command at once; None when no key is configured (scans are then unsigned)."""
    path, explicit = configured_key_path()
    if not explicit and not path.exists():
        return None
    try:
        return load_signer(path, _passphrase(ask_passphrase))
    except SigningError as exc:
        raise BadInput(str(exc)) from None


@click.group()
def keys() -> None:
    """The key that signs stored scans and exported bundles."""


@keys.command("generate")
@click.option(
    "--key",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write it (default $HYGIE_SIGNING_KEY, else "
    "~/.config/hygie/signing.key); the public key goes beside it (.pub).",
)
@passphrase_option
def keys_generate(path, ask_passphrase) -> None:
    """Create an Ed25519 signing key (mode 0600) and its public key; print its fingerprint."""
    path = path or configured_key_path()[0]
    passphrase = _passphrase(ask_passphrase, confirm=True)
    try:
        signer = generate_key(path, passphrase)
    except SigningError as exc:
        raise BadInput(str(exc)) from None
    encrypted = passphrase is not None
    click.echo(f"private key: {path} (mode 0600, {'encrypted' if encrypted else 'NOT encrypted'})")
    click.echo(f"public key:  {public_path(path)}")
    click.echo(f"fingerprint (keyid): {signer.keyid}")
    if not encrypted:
        click.echo(f"protect it, or encrypt it: --ask-passphrase or ${PASSPHRASE_ENV}", err=True)


@keys.command("show")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@passphrase_option
def keys_show(path, ask_passphrase) -> None:
    """Print the fingerprint (keyid: SHA-256 of the public key's DER) of PATH, a public or
    private key, by default the configured signing key."""
    key, _ = configured_key_path()
    path = path or (public_path(key) if public_path(key).exists() else key)
    if not path.exists():
        raise BadInput(f"no signing key at {key}: scans are stored unsigned (hygie keys generate)")
    data = path.read_bytes()
    try:
        found = (
            load_signer(path, _passphrase(ask_passphrase)).public
            if b"PRIVATE KEY" in data
            else load_public_key(data, str(path))
        )
    except SigningError as exc:
        raise BadInput(str(exc)) from None
    click.echo(f"{found.keyid}  {path}")


@click.command("export")
@click.argument("scan_ref", default="latest")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="A new (or empty) directory, or FILE.tar.",
)
@click.option(
    "--lang",
    type=click.Choice(LANGS),
    default=DEFAULT_LANG,
    show_default=True,
    help="Language of the HTML and OSCAL reports.",
)
@click.option(
    "--framework",
    "frameworks",
    multiple=True,
    help="Only this framework in the reports (repeatable; default: every catalog).",
)
@click.option(
    "--tsa",
    "tsa_url",
    metavar="URL",
    help="RFC 3161 Time-Stamp Authority to ask for a token over the manifest envelope, "
    f"stored as {TIMESTAMP}: trusted time. The token differs on each export.",
)
@_tsa_cert_option
@db_option
@passphrase_option
def export(scan_ref, output, lang, frameworks, tsa_url, tsa_cert, db, ask_passphrase) -> None:
    """Write a stored scan's evidence bundle: every raw fact, the results, the OSCAL and
    HTML reports, the scan's signed envelope, a signed manifest of all of them and the
    public key. Exporting twice gives identical bytes (with --tsa, all but the token)."""
    trust = _tsa_trust(tsa_cert)
    if trust is not None and not tsa_url:
        raise BadInput("--tsa-cert checks the token of a TSA: give --tsa URL too")
    store = open_store(db)
    try:
        scan_id = store.resolve(scan_ref)
        seal = store.seal(scan_id)
        signer = configured_signer(ask_passphrase) if seal and seal.keyid else None
        bundle = bundle_files(store, scan_id, signer, lang=lang, frameworks=frameworks or None)
        bundle, stamp = _timestamp(bundle, tsa_url, trust)
        write_bundle(bundle, output)
    except (StoreError, ExportError, TimestampError) as exc:
        raise BadInput(str(exc)) from None
    finally:
        store.close()
    mark = f"signed by key {seal.keyid}" if seal and seal.keyid else "UNSIGNED"
    click.echo(f"bundle of scan {scan_id} ({len(bundle.files)} files, {mark}) written to {output}")
    if stamp:
        click.echo(stamp)


def _tsa_trust(path: Path | None) -> TsaTrust | None:
    try:
        return read_trust(path) if path else None
    except TimestampError as exc:
        raise BadInput(str(exc)) from None


def _timestamp(
    bundle: Exported, url: str | None, trust: TsaTrust | None
) -> tuple[Exported, str | None]:
    """The bundle with the TSA's token when one is asked for, and what to say of it."""
    if not url:
        return bundle, None
    bundle, trusted = timestamp_bundle(bundle, url, trust)
    if trusted is not None:
        return bundle, f"{TIMESTAMP}: {trusted}"
    return bundle, f"{TIMESTAMP}: token of TSA {url}, not checked (no --tsa-cert)"


def _ranges(numbers: list[int]) -> str:
    """1, 2, 3, 5 -> '1-3, 5'."""
    spans: list[list[int]] = []
    for n in sorted(numbers):
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in spans)


def _trusted(key_files: tuple[Path, ...]) -> dict[str, PublicKey] | None:
    try:
        found = [read_public_key(p) for p in key_files]
    except SigningError as exc:
        raise BadInput(str(exc)) from None
    return {k.keyid: k for k in found} or None


def _chain_lines(chain: ChainCheck, trusted: Mapping | None) -> list[str]:
    lines = [f"BROKEN {p}" for p in chain.problems] + [f"WARNING {w}" for w in chain.warnings]
    if chain.head is not None:
        lines.append(
            f"chain: {chain.links} links; head: link {chain.head.seq} (scan "
            f"{chain.head.scan_id}), envelope sha256 {chain.head.digest}"
        )
    lines += [f"  signed by key {k}: links {_ranges(s)}" for k, s in chain.signers.items()]
    if chain.unsigned:
        lines.append(f"  UNSIGNED links: {_ranges(chain.unsigned)}")
    if chain.legacy:
        lines.append(f"  {len(chain.legacy)} scans stored before the chain began: not covered")
    if chain.signers and trusted is None:
        lines.append(
            "  signatures checked with the public keys recorded in the store: this proves the "
            "chain is intact, not who signed it (pass --key to check against your key)"
        )
    return lines


def _verify_store(scan_ref: str, db: Path | None, trusted: Mapping | None) -> int:
    store = open_store(db)
    try:
        problems = store.verify(scan_ref)
        scan_id = store.resolve(scan_ref)
        chain = walk(store, trusted)
    except (StoreError, SigningError) as exc:
        raise BadInput(str(exc)) from None
    finally:
        store.close()
    for p in problems:
        click.echo(f"ALTERED {p}")
    click.echo(f"{scan_id}: {'evidence intact' if not problems else 'EVIDENCE ALTERED'}")
    for line in _chain_lines(chain, trusted):
        click.echo(line)
    broken = problems or chain.problems
    click.echo(f"evidence chain: {'BROKEN' if chain.problems else 'intact'}")
    return EXIT_TAMPERED if broken else 0


def _verify_bundle(
    path: Path, previous: Path | None, trusted: Mapping | None, tsa: TsaTrust | None
) -> int:
    try:
        bundle = read_bundle(path)
        before = read_bundle(previous) if previous else None
    except BundleError as exc:
        raise BadInput(str(exc)) from None
    check = verify_bundle(bundle, trusted, before, tsa)
    for p in check.problems:
        click.echo(f"TAMPERED {p}")
    click.echo(f"bundle {path}: scan {check.scan_id}, chain link {check.seq}, {check.files} files")
    for note in check.notes:
        click.echo(note)
    click.echo("bundle: TAMPERED" if check.problems else "bundle: intact")
    return EXIT_TAMPERED if check.problems else 0


def _is_bundle_path(target: str) -> bool:
    """A path that exists is a bundle; something path-like that does not is an error;
    anything else is a stored scan reference (id, prefix, ``latest``)."""
    if Path(target).exists():
        return True
    if os.sep in target or target.endswith(".tar"):
        raise BadInput(f"{target}: no such bundle")
    return False


@click.command()
@click.argument("target", default="latest")
@click.option(
    "--key",
    "key_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Public key the evidence must be signed by (repeatable, e.g. after a key "
    "rotation); default: the bundle's own signing.pub, or the store's keys.",
)
@click.option(
    "--previous",
    type=click.Path(exists=True, path_type=Path),
    help="The bundle of the scan stored just before: checks the chain link.",
)
@_tsa_cert_option
@db_option
def verify(target, key_files, previous, tsa_cert, db) -> None:
    """Check evidence offline. TARGET is a bundle (directory or .tar from `hygie export`)
    or a stored scan (id, prefix, `latest`).

    A bundle: the manifest's signature, every file's digest, no file missing or extra, the
    scan envelope's signature and subjects, with --previous the chain link, and with
    --tsa-cert the RFC 3161 timestamp token and its time. A stored
    scan: its facts re-hashed, then the whole chain of the store from its first link
    (each link's prev and seq, signature, and subjects against the stored facts and
    results), which finds an edited, deleted or reordered scan.

    Exit codes: 0 intact; 4 tampered or broken; 3 bad input.
    """
    trusted = _trusted(key_files)
    if _is_bundle_path(target):
        sys.exit(_verify_bundle(Path(target), previous, trusted, _tsa_trust(tsa_cert)))
    if previous or tsa_cert:
        raise BadInput("--previous and --tsa-cert apply to a bundle, not to a stored scan")
    sys.exit(_verify_store(target, db, trusted))


COMMANDS: tuple[Callable, ...] = (keys, export, verify)
