"""What changed between two scans: the quarter-on-quarter view an admin reports on.

Compares results by (host, check): new failures, fixed ones, failures still open, checks
that became unassessable, and hosts that appeared or disappeared. Pure: reads two Scans.
"""

from __future__ import annotations

from dataclasses import dataclass

from hygie.model import Result, Scan, Status

Key = tuple[str, str]


@dataclass(frozen=True)
class ScanDiff:
    old_id: str
    new_id: str
    new_failures: tuple[Result, ...]
    fixed: tuple[Result, ...]
    still_failing: tuple[Result, ...]
    newly_unassessed: tuple[Result, ...]
    hosts_added: tuple[str, ...]
    hosts_removed: tuple[str, ...]

    @property
    def regressed(self) -> bool:
        return bool(self.new_failures or self.newly_unassessed)


def _by_key(scan: Scan) -> dict[Key, Result]:
    return {(r.host, r.check_id): r for r in scan.results()}


def _worst_first(results) -> tuple[Result, ...]:
    return tuple(sorted(results, key=lambda r: (-r.severity.rank, r.host, r.check_id)))


def diff_scans(old: Scan, new: Scan) -> ScanDiff:
    before, after = _by_key(old), _by_key(new)
    old_hosts = {h.name for h in old.hosts}
    new_hosts = {h.name for h in new.hosts}
    new_failures, fixed, still, unassessed = [], [], [], []
    for key, now in after.items():
        was = before.get(key)
        if now.status is Status.FAIL:
            (still if was is not None and was.status is Status.FAIL else new_failures).append(now)
        elif was is not None and was.status is Status.FAIL and now.status is Status.PASS:
            fixed.append(was)
        elif now.status is Status.ERROR and was is not None and was.status is not Status.ERROR:
            unassessed.append(now)
    return ScanDiff(
        old_id=old.id,
        new_id=new.id,
        new_failures=_worst_first(new_failures),
        fixed=_worst_first(fixed),
        still_failing=_worst_first(still),
        newly_unassessed=_worst_first(unassessed),
        hosts_added=tuple(sorted(new_hosts - old_hosts)),
        hosts_removed=tuple(sorted(old_hosts - new_hosts)),
    )
