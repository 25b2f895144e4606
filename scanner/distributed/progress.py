"""A progress bar per site while a multi-site scan waits for its runners (plain lines when
the output is not a terminal, as hygie.console does for a local scan)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hygie.model import HostScan


def _line(host: HostScan) -> str:
    return f"{host.name}: ERROR {host.error}" if host.error else f"{host.name}: assessed"


@contextmanager
def site_progress(console: Console, sites: Counter[str]) -> Iterator[Callable[[HostScan], None]]:
    """Yields the callback to call with each host as its result is ingested."""
    done: Counter[str] = Counter()
    if not console.is_terminal:

        def plain(host: HostScan) -> None:
            site = host.site or "?"
            done[site] += 1
            console.print(f"[{site} {done[site]}/{sites[site]}] {_line(host)}", markup=False)

        yield plain
        return
    site, last = TextColumn("[bold]{task.fields[site]}"), TextColumn("{task.description}")
    columns = (site, BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), last)
    bar = Progress(*columns, console=console, transient=True)
    with bar:
        tasks = {site: bar.add_task("", total=n, site=escape(site)) for site, n in sites.items()}

        def advance(host: HostScan) -> None:
            bar.update(tasks[host.site or ""], advance=1, description=escape(host.name))
            if host.error:
                bar.console.print(f"[yellow]{escape(_line(host))}[/]")

        yield advance
