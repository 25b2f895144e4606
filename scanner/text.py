"""Text that came from a target (banners, stderr, file contents) made inert for one line.

One place, because every stage that prints a reason (transport errors, the collector, the
console) must neutralise the same things: control characters and ANSI escapes, bidi
overrides that reorder what an admin reads, and lines long enough to flood a terminal.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

#: Unicode format characters (Cf) include the bidi overrides and isolates (U+202A-202E,
#: U+2066-2069) and zero-width characters: printable to Python, misleading to a reader.
_HIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def printable(text: str, limit: int = 300) -> str:
    """``text`` on one line, every control or format character shown as ``?``, cut at
    ``limit`` characters (with ``...``)."""
    clean = "".join(
        "?" if unicodedata.category(c) in _HIDDEN_CATEGORIES or not c.isprintable() else c
        for c in text[: limit + 1].replace("\n", " ")
    )
    return clean[:limit] + ("..." if len(clean) > limit else "")


def capped(items: Iterable[str], limit: int, sep: str = ", ") -> str:
    """At most ``limit`` items joined, then how many more: one bad host (ten thousand
    world-writable files, a thousand weak suites) cannot flood a message or a report."""
    items = list(items)
    shown = sep.join(items[:limit])
    return f"{shown} (+{len(items) - limit} more)" if len(items) > limit else shown
