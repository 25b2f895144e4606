"""Indented JSON for every document hygie writes (results, reports, evidence bundles).

The standard library's encoder falls back to pure Python as soon as ``indent`` is set,
which made a 1,000-host OSCAL export take minutes; orjson writes the same layout (two-space
indent, ``": "``, UTF-8 unescaped) natively. The values orjson refuses (integers beyond 64
bits, lone surrogates, non-string keys) go through the standard library instead, so any
value that json accepts is still written, and the same value always gives the same bytes.
"""

from __future__ import annotations

import json

import orjson


def pretty(value: object, *, sort_keys: bool = False) -> bytes:
    """``value`` as indented UTF-8 JSON ending with a newline."""
    option = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
    if sort_keys:
        option |= orjson.OPT_SORT_KEYS
    try:
        return orjson.dumps(value, option=option)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=sort_keys)
        return text.encode("utf-8", "surrogatepass") + b"\n"
