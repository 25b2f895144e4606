"""Machine-readable results: the JSON written by ``hygie scan -o`` and ``hygie evaluate -o``.

Facts are summarised (name, exit status, sha256, size), not embedded: the raw evidence stays
in the store, and the hash ties each result back to it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from hygie.jsonfmt import pretty
from hygie.model import Scan, Status

FORMAT_VERSION = "1.0"


def counts(results) -> dict[str, int]:
    c = Counter(r.status.value for r in results)
    return {s.value: c.get(s.value, 0) for s in Status}


def _assessed_by(host) -> dict:
    """Who assessed a host of a multi-site scan; nothing for an in-process one, so that the
    canonical results of every scan sealed before sites existed stay byte-identical."""
    return {k: v for k, v in (("site", host.site), ("runner", host.runner)) if v is not None}


def scan_to_dict(scan: Scan) -> dict:
    return {
        "format": "hygie-results",
        "format_version": FORMAT_VERSION,
        "scan": {
            "id": scan.id,
            "started": scan.started,
            "finished": scan.finished,
            "tool_version": scan.tool_version,
            "facts_from": scan.facts_from,
            "policy": {
                "name": scan.policy_name,
                "version": scan.policy_version,
                "digest": scan.policy_digest,
            },
            "summary": counts(scan.results()),
        },
        "hosts": [
            {
                "name": h.name,
                "address": h.address,
                "transport": h.transport,
                "family": h.family,
                "error": h.error,
                "error_category": h.error_category,
                "uid": h.uid,
                "tags": list(h.tags),
                "duration_s": round(h.duration, 3),
                "connections": h.connections,
                "execs": h.execs,
                **_assessed_by(h),
                "summary": counts(h.results),
                "facts": [
                    {
                        "name": f.name,
                        "exit_status": f.exit_status,
                        "truncated": f.truncated,
                        "sha256": f.sha256,
                        "bytes": len(f.stdout),
                    }
                    for f in sorted(h.facts.values(), key=lambda f: f.name)
                ],
                "results": [r.to_dict() for r in h.results],
            }
            for h in scan.hosts
        ],
    }


def write_json(scan: Scan, path: Path) -> None:
    path.write_bytes(pretty(scan_to_dict(scan)))


def exit_code(scan: Scan) -> int:
    """0: everything assessed passed; 1: at least one failure; 2: something could not be
    assessed (an error outranks a failure: the picture is incomplete)."""
    statuses = {r.status for r in scan.results()}
    if Status.ERROR in statuses or any(h.error for h in scan.hosts):
        return 2
    if Status.FAIL in statuses:
        return 1
    return 0
