"""Keys and DSSE envelopes: the standard formats, and errors that never quote a secret."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess

import pytest

from hygie.signing import (
    PAYLOAD_TYPE,
    EnvelopeError,
    SigningError,
    check_signatures,
    generate_key,
    load_signer,
    open_envelope,
    pae,
    public_path,
    read_public_key,
    seal,
    signature_problems,
)


def test_pae_matches_the_dsse_specification_vector():
    # github.com/secure-systems-lab/dsse/blob/master/protocol.md, "Test cases"
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_generated_key_is_private_and_its_keyid_is_the_spki_der_sha256(tmp_path):
    path = tmp_path / "conf" / "signing.key"
    signer = generate_key(path, None)
    assert path.stat().st_mode & 0o777 == 0o600
    assert public_path(path) == tmp_path / "conf" / "signing.pub"
    assert read_public_key(public_path(path)).keyid == signer.keyid
    if shutil.which("openssl"):
        der = subprocess.run(
            ["openssl", "pkey", "-pubin", "-in", str(public_path(path)), "-outform", "DER"],
            capture_output=True,
            check=True,
            timeout=30,
        ).stdout
        assert hashlib.sha256(der).hexdigest() == signer.keyid
    assert "PRIVATE" not in repr(signer) and "_key" not in repr(signer)
    with pytest.raises(SigningError, match="exists"):
        generate_key(path, None)


def test_encrypted_key_needs_its_passphrase_and_errors_never_quote_it(tmp_path):
    path = tmp_path / "signing.key"
    secret = b"correct horse battery staple"
    signer = generate_key(path, secret)
    assert b"ENCRYPTED PRIVATE KEY" in path.read_bytes()
    assert load_signer(path, secret).keyid == signer.keyid
    with pytest.raises(SigningError, match="encrypted") as missing:
        load_signer(path, None)
    with pytest.raises(SigningError, match="wrong passphrase") as wrong:
        load_signer(path, b"not it")
    for exc in (missing, wrong):
        assert "horse" not in str(exc.value) and "not it" not in str(exc.value)
    with pytest.raises(SigningError, match="empty"):
        generate_key(tmp_path / "other.key", b"")


def test_a_key_readable_by_others_is_refused(tmp_path):
    path = tmp_path / "signing.key"
    generate_key(path, None)
    path.chmod(0o644)
    with pytest.raises(SigningError, match="chmod 600"):
        load_signer(path, None)


def test_not_a_key_is_a_clear_error(tmp_path):
    bogus = tmp_path / "x.pub"
    bogus.write_text("hello")
    with pytest.raises(SigningError, match="not a PEM public key"):
        read_public_key(bogus)
    bogus.chmod(0o600)
    with pytest.raises(SigningError, match="not a PEM private key"):
        load_signer(bogus, None)


def test_envelope_round_trip_and_signature_outcomes(tmp_path):
    signer = generate_key(tmp_path / "a.key", None)
    other = generate_key(tmp_path / "b.key", None)
    data = seal(b'{"hello":"world"}', signer)
    env = open_envelope(data)
    assert env.payload_type == PAYLOAD_TYPE and env.keyids == (signer.keyid,)
    keys = {signer.keyid: signer.public}
    assert check_signatures(env, keys).valid == (signer.keyid,)
    unknown = check_signatures(env, {other.keyid: other.public})
    assert signature_problems(unknown, "x", require=True) == [
        f"x: signed by key {signer.keyid}, not by a key given to verify"
    ]
    doc = json.loads(data)
    doc["payload"] = base64.b64encode(b'{"hello":"mars"}').decode()
    forged = open_envelope(json.dumps(doc).encode())
    assert signature_problems(check_signatures(forged, keys), "x", require=False) == [
        f"x: signature by key {signer.keyid} does not verify"
    ]
    unsigned = check_signatures(open_envelope(seal(b"{}", None)), keys)
    assert unsigned.unsigned
    assert signature_problems(unsigned, "x", require=False) == []
    assert signature_problems(unsigned, "x", require=True) == [
        "x: unsigned, but a signature by a given key is required"
    ]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"[]",
        b'{"payload": "!!", "payloadType": "t", "signatures": []}',
        b'{"payloadType": "t", "signatures": []}',
        b'{"payload": "", "payloadType": "t"}',
    ],
)
def test_malformed_envelopes_are_named_not_tracebacks(data):
    with pytest.raises(EnvelopeError, match="not a DSSE envelope"):
        open_envelope(data)
