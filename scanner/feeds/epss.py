"""FIRST EPSS scores: the probability that a CVE is exploited in the next 30 days, and its
percentile among all scored CVEs.

The daily file is a gzipped CSV whose first line is a comment such as
``#model_version:v2025.03.14,score_date:2025-03-14T00:00:00Z``, then ``cve,epss,percentile``.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from pathlib import Path

from hygie.feeds.osv import FeedFormatError


@dataclass(frozen=True)
class EpssScores:
    model_version: str
    score_date: str  # ISO date-time from the header
    scores: tuple[tuple[str, float, float], ...]  # (cve, probability, percentile)


def parse_epss(text: str, origin: str = "EPSS") -> EpssScores:
    lines = io.StringIO(text)
    first = lines.readline()
    if not first.startswith("#"):
        raise FeedFormatError(f"{origin}: no '#model_version' header line")
    meta = dict(item.split(":", 1) for item in first[1:].strip().split(",") if ":" in item)
    reader = csv.DictReader(lines)
    if not reader.fieldnames or not {"cve", "epss", "percentile"} <= set(reader.fieldnames):
        raise FeedFormatError(f"{origin}: expected columns cve,epss,percentile")
    try:
        scores = tuple((row["cve"], float(row["epss"]), float(row["percentile"])) for row in reader)
    except (TypeError, ValueError) as exc:
        raise FeedFormatError(f"{origin}: bad score row ({exc})") from None
    if "score_date" not in meta:
        raise FeedFormatError(f"{origin}: header has no score_date")
    return EpssScores(meta.get("model_version", ""), meta["score_date"], scores)


def read_epss(path: Path) -> EpssScores:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return parse_epss(raw.decode("utf-8-sig"), str(path))
