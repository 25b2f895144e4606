"""The CISA Known Exploited Vulnerabilities catalog (JSON, schema in shared/data/cisa-kev).

A CVE in KEV is being exploited in the wild now: CISA gives US federal agencies a due date
to fix it, and says whether ransomware campaigns are known to use it, the health sector's
main threat.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

from hygie.feeds.osv import FeedFormatError


@dataclass(frozen=True)
class KevEntry:
    cve: str
    date_added: str
    due_date: str
    ransomware: str  # "Known" or "Unknown", as CISA spells it
    vendor: str
    product: str
    name: str


@dataclass(frozen=True)
class KevCatalog:
    version: str
    released: str  # ISO date-time
    entries: tuple[KevEntry, ...]


def is_kev(data: object) -> TypeGuard[dict]:
    return isinstance(data, dict) and "catalogVersion" in data and "vulnerabilities" in data


def parse_kev(data: object, origin: str = "KEV") -> KevCatalog:
    if not is_kev(data):
        raise FeedFormatError(f"{origin}: not a CISA KEV catalog (no catalogVersion)")
    try:
        entries = tuple(
            KevEntry(
                cve=v["cveID"],
                date_added=v["dateAdded"],
                due_date=v["dueDate"],
                ransomware=v.get("knownRansomwareCampaignUse", "Unknown"),
                vendor=v.get("vendorProject", ""),
                product=v.get("product", ""),
                name=v.get("vulnerabilityName", ""),
            )
            for v in data["vulnerabilities"]
        )
    except (KeyError, TypeError) as exc:
        raise FeedFormatError(f"{origin}: KEV entry without {exc}") from None
    return KevCatalog(str(data["catalogVersion"]), str(data.get("dateReleased", "")), entries)


def read_kev(path: Path) -> KevCatalog:
    try:
        data = json.loads(path.read_bytes())
    except ValueError as exc:
        raise FeedFormatError(f"{path}: not JSON ({exc})") from None
    return parse_kev(data, str(path))
