"""Signing keys and DSSE envelopes: how hygie seals evidence so a third party can check it.

Nothing here is home-made cryptography. Keys are Ed25519 (RFC 8032) from pyca/cryptography,
which hygie already depends on through paramiko and sslyze: the private key is a PKCS#8 PEM
file, encrypted with the library's best available scheme when a passphrase is given, so
``openssl pkey`` reads it and no key-file format of hygie's own exists. Envelopes follow the
DSSE v1 specification (github.com/secure-systems-lab/dsse): the signature covers the
pre-authentication encoding ``"DSSEv1" SP len(type) SP type SP len(body) SP body``, which
binds the payload type to the payload. A key is named by its keyid: the SHA-256 of its
public key's SubjectPublicKeyInfo DER, in hex, which ``openssl pkey -pubin -outform DER |
sha256sum`` gives too.

Secrets: the private key object never leaves a :class:`Signer` (not in its repr), and no
error message quotes a passphrase or key bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PAYLOAD_TYPE = "application/vnd.in-toto+json"
KEY_ENV = "HYGIE_SIGNING_KEY"
PASSPHRASE_ENV = "HYGIE_SIGNING_PASSPHRASE"


class SigningError(Exception):
    """A key that cannot be used: missing, unreadable, encrypted without a passphrase."""


class EnvelopeError(Exception):
    """Bytes that are not a DSSE envelope."""


def default_key_path() -> Path:
    """``$XDG_CONFIG_HOME/hygie/signing.key`` (``~/.config/hygie/signing.key``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path("~/.config").expanduser())
    return Path(base) / "hygie" / "signing.key"


def configured_key_path() -> tuple[Path, bool]:
    """The signing key's path, and whether it was chosen explicitly (``$HYGIE_SIGNING_KEY``):
    an explicit key that is missing is an error, a missing default means "unsigned"."""
    given = os.environ.get(KEY_ENV)
    return (Path(given).expanduser(), True) if given else (default_key_path(), False)


def public_path(private: Path) -> Path:
    """Where the public key of ``private`` lives: beside it, ``.pub`` for ``.key``."""
    return private.with_suffix(".pub")


def keyid(public: Ed25519PublicKey) -> str:
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def _public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass(frozen=True)
class PublicKey:
    keyid: str
    pem: bytes
    key: Ed25519PublicKey = field(repr=False, compare=False)

    @classmethod
    def of(cls, key: Ed25519PublicKey) -> PublicKey:
        return cls(keyid(key), _public_pem(key), key)

    def verifies(self, signature: bytes, data: bytes) -> bool:
        try:
            self.key.verify(signature, data)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A loaded private key. Only its public half and keyid are ever shown."""

    public: PublicKey
    _key: Ed25519PrivateKey = field(repr=False, compare=False)

    @property
    def keyid(self) -> str:
        return self.public.keyid

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)


def load_public_key(data: bytes, source: str) -> PublicKey:
    """A PEM public key (SubjectPublicKeyInfo); ``source`` names it in errors."""
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise SigningError(f"{source}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError(f"{source}: not an Ed25519 public key")
    return PublicKey.of(key)


def read_public_key(path: Path) -> PublicKey:
    try:
        return load_public_key(path.read_bytes(), str(path))
    except OSError as exc:
        raise SigningError(f"{path}: {exc.strerror}") from None


def _refuse_loose_mode(path: Path) -> None:
    """Like OpenSSH: a private key others can read is not used."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SigningError(
            f"{path}: the signing key is readable by others (mode {stat.S_IMODE(mode):04o}); "
            "run chmod 600 on it"
        )


def load_signer(path: Path, passphrase: bytes | None) -> Signer:
    """The private key at ``path``; ``passphrase`` decrypts it when it is encrypted."""
    try:
        _refuse_loose_mode(path)
        data = path.read_bytes()
    except OSError as exc:
        raise SigningError(f"{path}: cannot read the signing key ({exc.strerror})") from None
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError:  # encrypted without a passphrase, or a passphrase for a plain key
        if passphrase is None:
            raise SigningError(
                f"{path}: the signing key is encrypted: set ${PASSPHRASE_ENV} "
                "or use --ask-passphrase"
            ) from None
        raise SigningError(
            f"{path}: a passphrase was given but the signing key is not encrypted"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise SigningError(
            f"{path}: cannot read the signing key (wrong passphrase, or not a PEM private key)"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{path}: not an Ed25519 private key")
    return Signer(PublicKey.of(key.public_key()), key)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` from the first byte (never a window where a private
    key is readable by others); an existing file is never overwritten."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def generate_key(path: Path, passphrase: bytes | None) -> Signer:
    """A new Ed25519 key at ``path`` (mode 0600, encrypted when ``passphrase`` is given)
    and its public key beside it (:func:`public_path`). Existing files are kept: replacing
    a signing key would make the evidence it signed unverifiable with the key on file."""
    pub = public_path(path)
    for existing in (path, pub):
        if existing.exists():
            raise SigningError(f"{existing} exists; move it away to generate a new key")
    if passphrase is not None and not passphrase:
        raise SigningError("the passphrase is empty")
    key = Ed25519PrivateKey.generate()
    encryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    signer = Signer(PublicKey.of(key.public_key()), key)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_new(path, pem, 0o600)
        _write_new(pub, signer.public.pem, 0o644)
    except OSError as exc:
        raise SigningError(f"{exc.filename}: {exc.strerror}") from None
    return signer


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what is actually signed."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def canonical_json(value: object) -> bytes:
    """The one serialisation hygie hashes and signs: sorted keys, no spaces, ASCII only
    (any string encodes, and the same value always gives the same bytes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def seal(payload: bytes, signer: Signer | None) -> bytes:
    """The DSSE envelope of ``payload``, as the bytes that are stored, hashed and shipped;
    without a signer its ``signatures`` are empty: unsigned, and visibly so."""
    signatures = []
    if signer is not None:
        signature = signer.sign(pae(PAYLOAD_TYPE, payload))
        signatures.append({"keyid": signer.keyid, "sig": base64.b64encode(signature).decode()})
    envelope = {
        "payload": base64.b64encode(payload).decode(),
        "payloadType": PAYLOAD_TYPE,
        "signatures": signatures,
    }
    return canonical_json(envelope) + b"\n"


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[tuple[str, bytes], ...]  # (keyid, signature)

    @property
    def keyids(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.signatures)


def open_envelope(data: bytes) -> Envelope:
    """Parse an envelope; raises EnvelopeError with what is wrong (never a traceback)."""
    try:
        doc = orjson.loads(data)
        if not isinstance(doc, dict):
            raise EnvelopeError("not a DSSE envelope (not a JSON object)")
        sigs = doc["signatures"]
        if not isinstance(sigs, list):
            raise EnvelopeError("not a DSSE envelope ('signatures' is not a list)")
        return Envelope(
            payload_type=str(doc["payloadType"]),
            payload=base64.b64decode(doc["payload"], validate=True),
            signatures=tuple(
                (str(s["keyid"]), base64.b64decode(s["sig"], validate=True)) for s in sigs
            ),
        )
    except (ValueError, binascii.Error) as exc:  # JSONDecodeError is a ValueError
        raise EnvelopeError(f"not a DSSE envelope ({exc})") from None
    except (KeyError, TypeError) as exc:
        raise EnvelopeError(f"not a DSSE envelope (missing or malformed {exc})") from None


@dataclass(frozen=True)
class SignatureCheck:
    """Which signatures of an envelope verified with the keys given, and which did not."""

    valid: tuple[str, ...]  # keyids whose signature verified
    invalid: tuple[str, ...]  # keyids known whose signature did not verify
    unknown: tuple[str, ...]  # keyids of no key given

    @property
    def unsigned(self) -> bool:
        return not (self.valid or self.invalid or self.unknown)


def check_signatures(envelope: Envelope, keys: Mapping[str, PublicKey]) -> SignatureCheck:
    message = pae(envelope.payload_type, envelope.payload)
    valid, invalid, unknown = [], [], []
    for kid, signature in envelope.signatures:
        key = keys.get(kid)
        if key is None:
            unknown.append(kid)
        elif key.verifies(signature, message):
            valid.append(kid)
        else:
            invalid.append(kid)
    return SignatureCheck(tuple(valid), tuple(invalid), tuple(unknown))


def signature_problems(check: SignatureCheck, what: str, require: bool) -> list[str]:
    """What is wrong with the signatures of ``what``, precisely; ``require``: an unsigned
    envelope is a problem (a key was expected)."""
    problems = [f"{what}: signature by key {k} does not verify" for k in check.invalid]
    if check.unknown and not check.valid:
        problems.append(
            f"{what}: signed by key {', '.join(check.unknown)}, not by a key given to verify"
        )
    if check.unsigned and require:
        problems.append(f"{what}: unsigned, but a signature by a given key is required")
    return problems
