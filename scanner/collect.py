"""Collect once: the facts a policy needs, in one exec, with privilege raised once.

The script travels base64-encoded inside a single-quoted argument, so it survives any login
shell (sh, bash, zsh, even csh) unchanged. With ``become: sudo`` the same single exec runs
under ``sudo``; a sudo password goes to sudo's stdin, and the script closes its own stdin
first, so no collected command can ever read it.

Fail closed: output that is not one complete collection (capped, cut off, dropped without
an exit status, missing tools) is never evaluated; the host gets a :class:`TransportError`
whose category says which of these happened.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterable
from dataclasses import dataclass

from hygie.factspec import FactSpec
from hygie.script import (
    HEADER,
    Collected,
    FrameError,
    build_script,
    missing_essentials,
    parse_output,
)
from hygie.text import printable
from hygie.transports.base import ExecResult, Transport, TransportError

# Beyond this, the encoded script is gzipped to stay well under the kernel's 128 KiB limit
# for one argument (MAX_ARG_STRLEN).
_GZIP_ABOVE = 64 * 1024
_OUTPUT_SLACK = 1 << 20
#: ``od -An -v -tx1`` writes " xx" per byte plus a newline per 16 bytes: 3.06 bytes each.
_HEX_EXPANSION = 3.1
#: However many facts a policy selects, no collection reads more than this (documented in
#: the README): a session printing without end is stopped here.
MAX_OUTPUT = 256 << 20
#: The collection header comes first; shell startup noise before it stays far below this.
HEADER_WITHIN = 64 << 10


@dataclass(frozen=True)
class Privilege:
    become: str = "none"
    password: str | None = None

    def __repr__(self) -> str:  # never show the password, even in a traceback
        return f"Privilege(become={self.become!r}, password={'***' if self.password else None})"


def command_line(script: str, privilege: Privilege) -> tuple[str, bytes | None]:
    """The exec's command line and stdin for running ``script`` with ``privilege``."""
    raw = script.encode()
    decode = "base64 -d"
    if len(raw) > _GZIP_ABOVE:
        raw = gzip.compress(raw, mtime=0)
        decode = "base64 -d | gzip -dc"
    payload = base64.b64encode(raw).decode("ascii")
    inner = f"sh -c 'eval \"$(echo {payload} | {decode})\"'"
    if privilege.become != "sudo":
        return inner, None
    if privilege.password is None:
        return f"sudo -n -- {inner}", None
    return f"sudo -S -p '' -- {inner}", (privilege.password + "\n").encode()


def output_cap(specs: Iterable[FactSpec]) -> int:
    """The most output a complete collection of ``specs`` can produce, framing included."""
    total = sum(int(s.max_bytes * _HEX_EXPANSION) + 8192 for s in specs) + _OUTPUT_SLACK
    return min(total, MAX_OUTPUT)


def collect(
    transport: Transport,
    specs: Iterable[FactSpec],
    privilege: Privilege,
    timeout: float,
    *,
    where: str,
    deadline_label: str,
) -> Collected:
    """Run the collection on a connected transport. Anything but one complete collection
    raises :class:`TransportError`; ``where`` (host and address) starts every reason."""
    specs = list(specs)
    command, stdin = command_line(build_script(specs), privilege)
    cap = output_cap(specs)
    result = transport.run(command, stdin, timeout, cap, (HEADER, HEADER_WITHIN))
    if result.capped and HEADER not in result.stdout:
        raise TransportError(
            "output-cap",
            f"{where}: output exceeded {_size(HEADER_WITHIN)} without the collection header; "
            "stopped reading (a ForceCommand or a login script printing instead?)",
        )
    if result.capped:
        raise TransportError(
            "output-cap",
            f"{where}: output exceeded the {_size(cap)} this collection can produce; stopped "
            f"reading (a ForceCommand or a login script printing?)",
        )
    if result.timed_out:
        got = f"{_size(len(result.stdout))} received" if result.stdout else "no output"
        raise TransportError(
            "timeout",
            f"{where}: collection still running at the per-host deadline ({deadline_label}); "
            f"{got}, nothing evaluated",
        )
    try:
        collected = parse_output(result.stdout, specs)
    except FrameError:
        raise _not_started(result, privilege, where) from None
    if result.exit_status is None or not collected.complete:
        status = "no exit status" if result.exit_status is None else "exit status without end"
        raise TransportError(
            "dropped",
            f"{where}: session dropped mid-output ({status}, {len(collected.facts)} of "
            f"{len(specs)} facts received); partial output not evaluated",
        )
    if privilege.become == "sudo" and collected.uid != 0:
        raise TransportError(
            "privilege", f"{where}: sudo ran the collection as uid {collected.uid}, not root"
        )
    missing = missing_essentials(collected.missing_tools, specs)
    if missing:
        raise TransportError(
            "partial",
            f"{where}: missing tools on the target: {', '.join(missing)}; "
            f"{sum(f.ok for f in collected.facts.values())} of {len(specs)} facts readable, "
            "no check judged",
        )
    return collected


def _not_started(result: ExecResult, privilege: Privilege, where: str) -> TransportError:
    """Why the output holds no collection header: what sudo or the shell said."""
    text = result.stderr.decode("utf-8", errors="replace")
    if privilege.password:
        text = text.replace(privilege.password, "***")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    said = printable(" / ".join(lines[-3:]))
    lowered = said.lower()
    if privilege.become == "sudo":
        if result.exit_status == 127 and "sudo" in lowered:
            return TransportError("partial", f"{where}: missing tools on the target: sudo")
        if "password" in lowered:
            return TransportError(
                "privilege",
                f"{where}: sudo needs a password ({said}); set become_password_env or pass "
                "--ask-become-pass, or allow NOPASSWD for the audit account",
            )
        if "sudo" in lowered or "sudoers" in lowered:
            return TransportError("privilege", f"{where}: sudo refused: {said}")
    if result.exit_status is None:
        return TransportError(
            "dropped", f"{where}: session ended without an exit status before any output"
        )
    if result.stdout:
        return TransportError(
            "exec",
            f"{where}: {_size(len(result.stdout))} of output without the collection header "
            f"(exit {result.exit_status}; a ForceCommand or restricted shell?) {said}".strip(),
        )
    return TransportError(
        "exec", f"{where}: the collection did not run (exit {result.exit_status}) {said}".strip()
    )


def _size(n: int) -> str:
    if n >= 1 << 20:
        return f"{n / (1 << 20):.0f} MiB"
    if n >= 1 << 10:
        return f"{n / (1 << 10):.0f} KiB"
    return f"{n} bytes"
