"""Text that came from a target (banners, stderr, file contents) made inert for one line.

One place, because every stage that prints a reason (transport errors, the collector, the
console) must neutralise the same things: control characters and ANSI escapes, bidi
overrides that reorder what an admin reads, and lines long enough to flood a terminal.
"""

from __future__ import annotations

import unicodedata

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
