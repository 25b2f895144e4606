"""Scores and failures over the stored scans: is the fleet getting better, quarter on quarter?

Per framework, fleet-wide and per host, each scan's score (the share of controls
satisfied or attested among those that apply, computed by the report's own functions,
hygie.reports.gaps) and its failures: controls in ``gap`` and the (host, check) failures
behind them. Waivers and attestations are files given to one report, not part of a scan,
so a trend ignores them: it shows what the scans measured. Pure: reads Scans.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hygie.drift import ScanRef, ref
from hygie.frameworks import Catalog, coverage, load_catalogs
from hygie.model import Scan
from hygie.registry import CheckMeta, all_checks
from hygie.reports import gaps

DEFAULT_LAST = 8  # scans compared unless told otherwise


@dataclass(frozen=True)
class Point:
    score: float  # 0..100, as the report computes it
    gaps: int  # controls in gap
    failures: int  # distinct (host, check) failures behind those controls


@dataclass(frozen=True)
class Series:
    framework: str
    host: str | None  # None: fleet-wide
    points: tuple[Point | None, ...]  # one per scan, oldest first; None: host not in it


@dataclass(frozen=True)
class Trend:
    scans: tuple[ScanRef, ...]  # oldest first
    fleet: tuple[Series, ...]
    hosts: tuple[Series, ...]

    def to_dict(self) -> dict:
        def series(s: Series) -> dict:
            points = [None if p is None else vars(p) for p in s.points]
            return {"framework": s.framework, "host": s.host, "points": points}

        return {
            "format": "hygie-trend",
            "scans": [s.to_dict() for s in self.scans],
            "fleet": [series(s) for s in self.fleet],
            "hosts": [series(s) for s in self.hosts],
        }


class _Judge:
    """The report's gap functions, with what they share across scans."""

    def __init__(self, catalogs: Mapping[str, Catalog], checks: Mapping[str, CheckMeta]):
        self.catalogs = catalogs
        self.direct = coverage(checks)
        self.shared = gaps.Shared(checks, 0, "en")

    def point(self, framework: str, hosts: Sequence) -> Point:
        summary = gaps.framework_summary(
            self.catalogs[framework],
            self.direct.get(framework, {}),
            gaps.outcomes(hosts),
            (),
            "en",
        )
        failing = {pair for c in summary.controls for pair in c.failing}
        return Point(summary.score, summary.counts["gap"], len(failing))


def trend(
    scans: Sequence[Scan],
    *,
    frameworks: Sequence[str] | None = None,
    catalogs: Mapping[str, Catalog] | None = None,
    checks: Mapping[str, CheckMeta] | None = None,
) -> Trend:
    """``scans`` oldest first; ``frameworks`` limits the catalogs (an unknown id raises
    ValueError, as the report does)."""
    catalogs = load_catalogs() if catalogs is None else catalogs
    wanted = list(catalogs) if not frameworks else list(dict.fromkeys(frameworks))
    unknown = [f for f in wanted if f not in catalogs]
    if unknown:
        raise ValueError(f"unknown frameworks {unknown}; known: {sorted(catalogs)}")
    judge = _Judge(catalogs, all_checks() if checks is None else checks)
    fleet: dict[str, list[Point | None]] = {f: [] for f in wanted}
    per_host: dict[tuple[str, str], list[Point | None]] = {}
    for i, scan in enumerate(scans):
        hosts = [gaps.host_summary(h, (), judge.shared) for h in scan.hosts]
        for f in wanted:
            fleet[f].append(judge.point(f, hosts))
            for h in hosts:
                per_host.setdefault((h.name, f), [None] * len(scans))[i] = judge.point(f, [h])
    return Trend(
        scans=tuple(ref(s) for s in scans),
        fleet=tuple(Series(f, None, tuple(p)) for f, p in fleet.items()),
        hosts=tuple(Series(f, h, tuple(p)) for (h, f), p in sorted(per_host.items())),
    )
