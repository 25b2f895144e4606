"""``hygie feeds update``: fetch the feeds from their publishers, then import them.

Downloads go to a temporary file and are imported by the same code as ``feeds import``;
a failure names the URL and says how to import by hand on an offline network.
"""

from __future__ import annotations

import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hygie import __version__
from hygie.feeds.store import FeedImport, FeedStore

OSV_URL = "https://osv-vulnerabilities.storage.googleapis.com/{ecosystem}/all.zip"
KEV_URL = "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"
EPSS_URL = "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz"
DEFAULT_ECOSYSTEMS = ("Debian", "Ubuntu", "Rocky Linux", "AlmaLinux")


class DownloadError(Exception):
    pass


@dataclass(frozen=True)
class Source:
    label: str
    url: str
    filename: str


def sources(ecosystems: tuple[str, ...], osv_url: str, kev_url: str, epss_url: str) -> list[Source]:
    osv = [
        Source(f"OSV {e}", osv_url.format(ecosystem=urllib.parse.quote(e)), f"osv-{e}.zip")
        for e in ecosystems
    ]
    return [
        *osv,
        Source("CISA KEV", kev_url, "kev.json"),
        Source("FIRST EPSS", epss_url, "epss.csv.gz"),
    ]


def fetch(source: Source, directory: Path, timeout: float) -> Path:
    target = directory / source.filename
    request = urllib.request.Request(source.url, headers={"User-Agent": f"hygie/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, target.open("wb") as f:
            shutil.copyfileobj(response, f, 1 << 20)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"{source.label}: cannot download {source.url}: {reason}. Without network access, "
            "fetch the file on a connected machine and run `hygie feeds import FILE`"
        ) from None
    return target


def update(
    store: FeedStore,
    chosen: list[Source],
    timeout: float = 60.0,
    on_import: Callable[[Source, FeedImport], None] | None = None,
) -> list[FeedImport]:
    """Download every source first, import only if all succeeded: a half-updated feed set
    would mix dates without saying so."""
    with tempfile.TemporaryDirectory(prefix="hygie-feeds-") as tmp:
        files = [(s, fetch(s, Path(tmp), timeout)) for s in chosen]
        done = []
        for source, path in files:
            imported = store.import_path(path)
            done.append(imported)
            if on_import:
                on_import(source, imported)
        return done
