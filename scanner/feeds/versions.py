"""Sort keys for dpkg and rpm versions: matching a host against tens of thousands of advisory
ranges must not call a comparator per range.

``compare_versions`` (python-debian, univers) costs 40-100 µs a call: 50,000 ranges would
take seconds per host. A sort key turns each version into nested tuples once (advisory
bounds at import time, installed versions once per host) so every comparison afterwards is
a plain tuple comparison. The keys encode exactly the package managers' algorithms and are
proved equal to ``compare_versions`` and to ``dpkg --compare-versions`` by property-based
tests (tests/unit/test_feeds_versions.py); ``compare_versions`` stays the reference.
"""

from __future__ import annotations

import functools
import re
from typing import Any

VersionKey = tuple[Any, ...]

# -- dpkg (deb-version(7), dpkg's verrevcmp) ---------------------------------------------

_DPKG_PART = re.compile(r"(\D*)(\d*)")
#: a part that is all "end of string": an empty non-digit run and the number 0
_DPKG_END = ((0,), 0)


def _dpkg_order(char: str) -> int:
    """dpkg's order(): ``~`` before the end of the string, letters before other symbols."""
    if char == "~":
        return -1
    if char.isascii() and char.isalpha():
        return ord(char)
    return ord(char) + 256


@functools.lru_cache(maxsize=4096)
def _dpkg_run_key(run: str) -> tuple[int, ...]:
    """A non-digit run (``.``, ``+deb``, ``p``...: few distinct ones) as order values."""
    return (*(_dpkg_order(c) for c in run), 0)


@functools.lru_cache(maxsize=1 << 16)
def _dpkg_string_key(text: str) -> tuple:
    """verrevcmp as a key: alternating (non-digit run, number) parts. Cached: a version
    seen for the first time mostly shares its upstream version with an earlier revision
    of the package, and its revision (``1``, ``2+deb12u3``...) with other packages.

    A non-digit run becomes its characters' order values plus 0, the order of "end of
    string", so that ``~`` (-1) sorts before the end and the end before anything else.
    Trailing all-end parts are dropped and two end parts appended, standing for dpkg's
    endless padding of the shorter string: two, because a version starting with ``0`` has
    an all-end first part ("0" against "0~" is decided at the second part).
    """
    parts = [
        (_dpkg_run_key(alpha), int(digits or 0))
        for alpha, digits in _DPKG_PART.findall(text)
        if alpha or digits
    ]
    while parts and parts[-1] == _DPKG_END:
        parts.pop()
    return (*parts, _DPKG_END, _DPKG_END)


def dpkg_key(version: str) -> VersionKey:
    """``[epoch:]upstream[-revision]``: epoch as a number, then upstream, then revision
    (an absent revision equals ``0``, as in dpkg)."""
    epoch, colon, rest = version.partition(":")
    if not colon or not epoch.isdigit():
        epoch, rest = "0", version
    upstream, dash, revision = rest.rpartition("-")
    if not dash:
        upstream, revision = rest, ""
    return (int(epoch), _dpkg_string_key(upstream), _dpkg_string_key(revision))


# -- rpm (rpmvercmp, rpm >= 4.15 with ~ and ^) --------------------------------------------

_RPM_TOKEN = re.compile(r"[A-Za-z]+|[0-9]+|~|\^")
# Token ranks at one position: ~ < end of string < ^ < letters < digits.
_TILDE, _END, _CARET, _ALPHA, _NUM = range(5)


def _rpm_string_key(text: str) -> tuple:
    """rpmvercmp as a key: separators are skipped, each segment ranked as rpm does, and an
    end token closes the key (``1.0^git1`` > ``1.0`` > ``1.0~rc1``)."""
    tokens = []
    for token in _RPM_TOKEN.findall(text.encode("ascii", "ignore").decode()):
        if token == "~":
            tokens.append((_TILDE,))
        elif token == "^":
            tokens.append((_CARET,))
        elif token.isdigit():
            tokens.append((_NUM, int(token)))
        else:
            tokens.append((_ALPHA, token))
    return (*tokens, (_END,))


def rpm_key(version: str) -> VersionKey:
    """``[epoch:]version[-release]`` split the way univers' RpmVersion (and rpm) do."""
    epoch, colon, rest = version.partition(":")
    if not colon:
        epoch, rest = "0", version
    ver, _, release = rest.partition("-")
    return (int(epoch or 0), _rpm_string_key(ver), _rpm_string_key(release))


@functools.lru_cache(maxsize=1 << 16)
def version_key(manager: str, version: str) -> VersionKey:
    """The sort key of ``version`` for ``manager`` (``dpkg`` or ``rpm``); cached because a
    fleet repeats the same versions on every host."""
    return rpm_key(version) if manager == "rpm" else dpkg_key(version)
