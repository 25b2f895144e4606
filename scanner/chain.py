"""The evidence chain: every stored scan sealed in a signed in-toto Statement, each linked to
the one stored before it.

A scan's Statement (in-toto Statement v1, predicate ``SCAN_PREDICATE``) names as subjects
the facts the scan collected or derived (``facts/<host>/<fact>``: the sha256 of the raw
stdout bytes, and of stderr when there is any, as ``<fact>.stderr``) and its canonical
results (``results.json``); its predicate says what was scanned, when, with which policy,
how each host went, and where the scan sits in the chain: ``seq`` (1, 2, ...) and ``prev``,
the sha256 of the previous scan's envelope bytes. The Statement is signed in a DSSE
envelope (hygie.signing). Editing a fact or a result changes a subject; deleting, inserting
or reordering a scan breaks ``seq`` or ``prev``; neither can be hidden without the key.

Paths are the names files have in an exported bundle (hygie.export): host and fact names
are percent-encoded so that any name is one safe path component.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson

from hygie.jsonfmt import pretty
from hygie.model import Fact, Scan, Seal
from hygie.output import counts, scan_to_dict
from hygie.signing import (
    PAYLOAD_TYPE,
    Envelope,
    EnvelopeError,
    PublicKey,
    Signer,
    canonical_json,
    check_signatures,
    load_public_key,
    open_envelope,
    seal,
    signature_problems,
)

if TYPE_CHECKING:
    from hygie.store import Store

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
# hygie's own type URIs; .invalid (RFC 2606) like its OSCAL namespace: names, not sites
SCAN_PREDICATE = "https://hygie.invalid/attestation/scan/v1"
RESULTS = "results.json"  # names in a bundle (hygie.export)
ENVELOPE = "scan.dsse.json"
STDERR_SUFFIX = ".stderr"
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_PLAIN = {False: re.compile(r"[A-Za-z0-9_-]+"), True: re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _component(name: str, dots: bool) -> str:
    """One path component: characters outside [A-Za-z0-9_-] (and ``.`` when ``dots``) as
    %XX of their UTF-8 bytes, a leading dot too: never empty, ``.``, ``..`` or a slash, and
    two names never share a path. Fact names keep no dot, so ``.stderr`` is unambiguous."""
    if _PLAIN[dots].fullmatch(name):  # the common case, without a loop per character
        return name
    out = []
    for i, char in enumerate(name):
        if char in _SAFE or (dots and char == "." and i > 0):
            out.append(char)
        else:
            out.extend(f"%{b:02X}" for b in char.encode("utf-8", "surrogatepass"))
    return "".join(out) or "%00"


@functools.lru_cache(maxsize=65536)  # reports name each fact once per finding reading it
def fact_path(host: str, fact: str) -> str:
    return f"facts/{_component(host, dots=True)}/{_component(fact, dots=False)}"


def _fact_streams(scan: Scan, own_only: bool) -> Iterator[tuple[str, Fact, bool]]:
    """(path, fact, is stderr) of every fact file of the scan, stdout then stderr when
    there is any; ``own_only``: for a re-evaluation, only the facts it derived itself (its
    collected facts are those of the scan it judged, sealed there)."""
    for host in scan.hosts:
        for fact in sorted(host.facts.values(), key=lambda f: f.name):
            if own_only and scan.facts_from is not None and fact.kind.evidence:
                continue
            path = fact_path(host.name, fact.name)
            yield path, fact, False
            if fact.stderr:
                yield path + STDERR_SUFFIX, fact, True


def fact_files(scan: Scan, own_only: bool = False) -> Iterator[tuple[str, bytes]]:
    """(path, raw bytes) of every fact file: what a bundle holds and a seal hashes."""
    for path, fact, err in _fact_streams(scan, own_only):
        yield path, fact.stderr if err else fact.stdout


def fact_digests(scan: Scan) -> Iterator[tuple[str, str]]:
    """(path, sha256) of every fact file, stdout's from the digest recorded when it was
    collected (a report lists them without hashing a fleet's evidence again)."""
    for path, fact, err in _fact_streams(scan, False):
        yield path, sha256(fact.stderr) if err else fact.sha256


def results_json(scan: Scan) -> bytes:
    """The canonical results of a scan: hygie's results JSON (hygie.output), keys sorted,
    two-space indent, UTF-8. What ``results.json`` holds in a bundle, byte for byte."""
    return pretty(scan_to_dict(scan), sort_keys=True)


def _iso(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="microseconds")
    return moment.replace("+00:00", "Z")


def scan_subjects(scan: Scan, results: bytes) -> dict[str, str]:
    subjects = {path: sha256(data) for path, data in fact_files(scan, own_only=True)}
    subjects[RESULTS] = sha256(results)
    return subjects


def scan_predicate(scan: Scan, *, seq: int, prev: str | None, origin: str | None) -> dict:
    """``origin``: the sha256 of the envelope of the scan a re-evaluation judged."""
    return {
        "scan": {
            "id": scan.id,
            "started": _iso(scan.started),
            "finished": _iso(scan.finished),
            "facts_from": (
                {"id": scan.facts_from, "envelope_sha256": origin} if scan.facts_from else None
            ),
        },
        "tool": {"name": "hygie", "version": scan.tool_version},
        "policy": {
            "name": scan.policy_name,
            "version": scan.policy_version,
            "digest": scan.policy_digest,
        },
        "hosts": [
            {
                "name": h.name,
                "address": h.address,
                "transport": h.transport,
                "status": "not-assessed" if h.error else "assessed",
                "error_category": h.error_category,
                "counts": counts(h.results),
            }
            for h in scan.hosts
        ],
        "seq": seq,
        "prev": prev,
    }


def statement(subjects: Mapping[str, str], predicate_type: str, predicate: dict) -> bytes:
    return canonical_json(
        {
            "_type": STATEMENT_TYPE,
            "subject": [{"name": n, "digest": {"sha256": subjects[n]}} for n in sorted(subjects)],
            "predicateType": predicate_type,
            "predicate": predicate,
        }
    )


def seal_scan(
    scan: Scan,
    results: bytes,
    *,
    seq: int,
    prev: str | None,
    origin: str | None,
    signer: Signer | None,
) -> tuple[bytes, Seal]:
    """The envelope of a scan's link and its Seal."""
    payload = statement(
        scan_subjects(scan, results),
        SCAN_PREDICATE,
        scan_predicate(scan, seq=seq, prev=prev, origin=origin),
    )
    envelope = seal(payload, signer)
    keyid = signer.keyid if signer else None
    return envelope, Seal(seq, sha256(envelope), prev, keyid, sha256(results))


@dataclass(frozen=True)
class Statement:
    subjects: dict[str, str]  # name -> sha256
    predicate: dict
    payload: bytes


def read_statement(payload_type: str, payload: bytes, predicate_type: str) -> Statement:
    """The in-toto Statement of an envelope, checked for shape; EnvelopeError otherwise."""
    if payload_type != PAYLOAD_TYPE:
        raise EnvelopeError(f"payloadType is {payload_type!r}, expected {PAYLOAD_TYPE!r}")
    try:
        doc = orjson.loads(payload)
        if doc["_type"] != STATEMENT_TYPE:
            raise EnvelopeError(f"_type is {doc['_type']!r}, expected {STATEMENT_TYPE!r}")
        if doc["predicateType"] != predicate_type:
            raise EnvelopeError(
                f"predicateType is {doc['predicateType']!r}, expected {predicate_type!r}"
            )
        subjects: dict[str, str] = {}
        for s in doc["subject"]:
            name, digest = str(s["name"]), str(s["digest"]["sha256"])
            if name in subjects:
                raise EnvelopeError(f"subject {name!r} is listed twice")
            subjects[name] = digest
        predicate = doc["predicate"]
        if not isinstance(predicate, dict):
            raise EnvelopeError("the predicate is not an object")
    except (ValueError, UnicodeDecodeError) as exc:
        raise EnvelopeError(f"the payload is not an in-toto Statement ({exc})") from None
    except (KeyError, TypeError) as exc:
        raise EnvelopeError(f"the payload is not an in-toto Statement (missing {exc})") from None
    return Statement(subjects, predicate, payload)


def digest_problems(
    expected: Mapping[str, str],
    actual: Mapping[str, str],
    *,
    missing: str,
    extra: str,
    altered: str,
) -> list[str]:
    """One line per name whose digest differs or that one side lacks, in name order; the
    templates get ``name``, ``want`` (expected sha256) and ``got`` (actual sha256)."""
    lines = []
    for name in sorted(set(expected) | set(actual)):
        want, got = expected.get(name), actual.get(name)
        if want != got:
            template = missing if got is None else extra if want is None else altered
            lines.append(template.format(name=name, want=want, got=got))
    return lines


def subject_problems(signed: Mapping[str, str], actual: Mapping[str, str], place: str) -> list[str]:
    """Each difference between the signed subjects and what ``place`` holds, by name."""
    return digest_problems(
        signed,
        actual,
        missing=f"{{name}}: missing from {place} (signed sha256 {{want}})",
        extra=f"{{name}}: in {place} but not in the signed statement",
        altered=f"{{name}}: sha256 {{got}} in {place}, signed {{want}}: altered",
    )


def scan_problems(
    link: Statement, scan: Scan, results: bytes, origin: str | None, place: str
) -> list[str]:
    """How a scan as ``place`` holds it (and ``results``, its :func:`results_json`) differs
    from its signed Statement."""
    problems = subject_problems(link.subjects, scan_subjects(scan, results), place)
    expected = scan_predicate(
        scan, seq=link.predicate.get("seq"), prev=link.predicate.get("prev"), origin=origin
    )
    problems += [
        f"predicate {key!r}: the signed value differs from the scan in {place}"
        for key in sorted(set(expected) | set(link.predicate))
        if expected.get(key) != link.predicate.get(key)
    ]
    return problems


@dataclass(frozen=True)
class Link:
    """One row of the store's chain table."""

    seq: int
    scan_id: str
    prev: str | None
    digest: str
    keyid: str | None
    envelope: bytes = field(repr=False)


@dataclass
class ChainCheck:
    """The result of walking a store's chain from its first link."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    links: int = 0
    head: Link | None = None
    signers: dict[str, list[int]] = field(default_factory=dict)  # keyid -> seqs
    unsigned: list[int] = field(default_factory=list)
    legacy: list[str] = field(default_factory=list)  # scans stored before the chain began


def _open_link(link: Link, name: str, out: ChainCheck) -> tuple[Envelope, Statement] | None:
    try:
        env = open_envelope(link.envelope)
        return env, read_statement(env.payload_type, env.payload, SCAN_PREDICATE)
    except EnvelopeError as exc:
        out.problems.append(f"{name}: {exc}")
        return None


def _row_problems(link: Link, stmt: Statement, name: str) -> list[str]:
    """The row's columns are an index, not evidence: each must agree with the signed
    statement, or someone edited the table."""
    signed = {
        "seq": stmt.predicate.get("seq"),
        "prev": stmt.predicate.get("prev"),
        "scan id": (stmt.predicate.get("scan") or {}).get("id"),
        "sha256": sha256(link.envelope),
    }
    row = {"seq": link.seq, "prev": link.prev, "scan id": link.scan_id, "sha256": link.digest}
    return [
        f"{name}: the table says {key} {row[key]}, the signed envelope {signed[key]}"
        for key in row
        if row[key] != signed[key]
    ]


def _check_signature(
    link: Link,
    env: Envelope,
    name: str,
    keys: Mapping[str, PublicKey],
    strict: bool,
    out: ChainCheck,
) -> None:
    check = check_signatures(env, keys)
    out.problems += signature_problems(check, name, require=strict)
    if check.valid:
        out.signers.setdefault(check.valid[0], []).append(link.seq)
    elif check.unsigned:
        out.unsigned.append(link.seq)
        if out.signers:
            out.warnings.append(
                f"{name} is unsigned although earlier links are signed: anyone able to "
                "write the store could have appended it"
            )
    if link.keyid != (env.keyids[0] if env.keyids else None):
        out.problems.append(
            f"{name}: the table names key {link.keyid}, the envelope {', '.join(env.keyids)}"
        )


def walk(store: Store, trusted: Mapping[str, PublicKey] | None = None) -> ChainCheck:
    """Check every link from seq 1: the envelope bytes, ``seq`` contiguity, ``prev``, the
    signature (with ``trusted`` keys, or else the public keys recorded in the store), and
    each link's subjects and predicate against the facts and results stored now."""
    out = ChainCheck()
    keys = (
        dict(trusted)
        if trusted is not None
        else {k: load_public_key(pem, f"the store's key {k}") for k, pem in store.public_keys()}
    )
    stored = store.scan_ids()
    digests: dict[str, str] = {}  # scan id -> sha256 of its envelope
    previous: tuple[int, str, str] | None = None  # signed seq, digest, scan id
    for link in store.links():
        out.links += 1
        out.head = link
        name = f"link {link.seq} (scan {link.scan_id})"
        opened = _open_link(link, name, out)
        if opened is None:
            previous = None
            continue
        env, stmt = opened
        digest = sha256(link.envelope)
        digests[link.scan_id] = digest
        out.problems += _row_problems(link, stmt, name)
        seq, prev = stmt.predicate.get("seq"), stmt.predicate.get("prev")
        if previous is None and out.links == 1 and (seq != 1 or prev is not None):
            out.problems.append(f"{name}: the first link has seq {seq} and prev {prev}")
        elif previous is not None and seq != previous[0] + 1:
            out.problems.append(
                f"{name}: signed seq {seq} follows link {previous[0]} (scan {previous[2]}): "
                "links are missing or out of order"
            )
        elif previous is not None and prev != previous[1]:
            out.problems.append(
                f"{name}: prev {prev} is not the sha256 of link {previous[0]}'s envelope "
                f"({previous[1]}): the chain is broken"
            )
        previous = (seq if isinstance(seq, int) else -1, digest, link.scan_id)
        _check_signature(link, env, name, keys, trusted is not None, out)
        if link.scan_id not in stored:
            out.problems.append(f"{name}: the scan is missing from the store")
            continue
        scan = store.load(link.scan_id)
        origin = digests.get(scan.facts_from) if scan.facts_from else None
        found = scan_problems(stmt, scan, results_json(scan), origin, "the store")
        found += store.index_problems(link.scan_id)
        out.problems += [f"{name}: {p}" for p in found]
    for scan_id, legacy in store.unchained():
        if legacy:
            out.legacy.append(scan_id)
        else:
            out.problems.append(f"scan {scan_id}: stored but in no link of the chain")
    return out
