"""Collect once: the facts a policy needs, in one exec, with privilege raised once.

The script travels base64-encoded inside a single-quoted argument, so it survives any login
shell (sh, bash, zsh, even csh) unchanged. With ``become: sudo`` the same single exec runs
under ``sudo``; a sudo password goes to sudo's stdin, and the script closes its own stdin
first, so no collected command can ever read it.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterable
from dataclasses import dataclass

from hygie.factspec import FactSpec
from hygie.script import Collected, FrameError, build_script, parse_output
from hygie.transports.base import Transport, TransportError

# Beyond this, the encoded script is gzipped to stay well under the kernel's 128 KiB limit
# for one argument (MAX_ARG_STRLEN).
_GZIP_ABOVE = 64 * 1024
_OUTPUT_SLACK = 1 << 20


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


def collect(
    transport: Transport,
    specs: Iterable[FactSpec],
    privilege: Privilege,
    timeout: float,
) -> Collected:
    """Run the collection on a connected transport; raise TransportError if it could not
    run at all. A run cut short returns the facts that completed: checks needing the others
    report ``error``, while the evidence already gathered is kept."""
    specs = list(specs)
    command, stdin = command_line(build_script(specs), privilege)
    max_bytes = sum(s.max_bytes * 4 // 3 + 8192 for s in specs) + _OUTPUT_SLACK
    result = transport.run(command, stdin, timeout, max_bytes)
    try:
        collected = parse_output(result.stdout, specs)
    except FrameError:
        reason = _stderr_reason(result.stderr, privilege)
        if result.timed_out:
            reason = f"no output within {timeout:g}s"
        raise TransportError(
            "privilege" if privilege.become == "sudo" else "exec", reason
        ) from None
    if privilege.become == "sudo" and collected.uid != 0:
        raise TransportError("privilege", f"sudo ran the collection as uid {collected.uid}")
    if result.timed_out and not collected.facts:
        raise TransportError("timeout", f"no fact collected within {timeout:g}s")
    return collected


def _stderr_reason(stderr: bytes, privilege: Privilege) -> str:
    text = stderr.decode("utf-8", errors="replace")
    if privilege.password:
        text = text.replace(privilege.password, "***")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    clean = "".join(c if c.isprintable() else "?" for c in " / ".join(lines[-3:]))
    return clean[:300] or "the collection script produced no output"
