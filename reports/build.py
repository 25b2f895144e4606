"""Build a report: decide everything it shows, from a scan and the framework catalogs.

Kept apart from :mod:`hygie.reports.model` (the vocabulary renderers read) and
:mod:`hygie.reports.gaps` (the gap decisions, which build that vocabulary), so that the
data model depends on nothing and each stage only on the one before it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime

from hygie.frameworks import Catalog
from hygie.model import Scan
from hygie.registry import CheckMeta
from hygie.reports import gaps
from hygie.reports.attest import Attestation, Waiver
from hygie.reports.model import Report


@contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """A 5,000-host report is half a million small acyclic objects; the cyclic collector
    would rescan them over and over while they are built (half the build time, measured)
    and can free none of them. Reference counting still frees everything as usual."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def build_report(
    scan: Scan,
    *,
    frameworks: Sequence[str] | None = None,
    attestations: Sequence[Attestation] = (),
    waivers: Sequence[Waiver] = (),
    today: date,
    lang: str = "en",
    excerpt_bytes: int = 2000,
    catalogs: Mapping[str, Catalog] | None = None,
    checks: Mapping[str, CheckMeta] | None = None,
    generated_at: datetime | None = None,
) -> Report:
    """Decide everything a report shows. ``frameworks`` limits the catalogs (all by
    default; an unknown id raises ValueError); ``catalogs`` and ``checks`` default to the
    built-in catalogs and the check registry."""
    with _without_cyclic_gc():
        return gaps.assemble(
            scan,
            frameworks=frameworks,
            attestations=attestations,
            waivers=waivers,
            today=today,
            lang=lang,
            excerpt_bytes=excerpt_bytes,
            catalogs=catalogs,
            checks=checks,
            generated_at=(generated_at or datetime.now(UTC)).astimezone(UTC),
        )
