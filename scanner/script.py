"""The single collection script: every fact a policy needs, gathered in one exec.

Why one script: a round trip per fact costs latency on every host of a fleet; one exec on
one connection keeps a full audit close to the cost of a bare SSH login.

Framing: each fact's stdout and stderr are hex-encoded on the target (``od``, one process
that also applies the size cap), so nothing a target prints (hostile banners, files
containing our markers) can forge or break a frame. We read one byte past the cap to know
whether a fact was truncated. Commands run with stdin closed and, unless they only read a
file (timeout 0: evaluated in the shell, saving two processes), under their own
``timeout``. The script only reads: it creates no file, not even a temporary one.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field

from hygie.factspec import FactSpec
from hygie.model import Fact

MARK = "@@HYGIE@@"
STDERR_CAP = 4096
PROTOCOL = "1"

_PRELUDE = f"""\
exec </dev/null 3>&1
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
LC_ALL=C; LANG=C; export PATH LC_ALL LANG
command -v timeout >/dev/null 2>&1 && _hy_to=1 || _hy_to=
_hy_fact() {{
  printf '\\n{MARK} BEGIN %s\\n' "$1"
  if [ "$3" = 0 ]; then
    _hy_r=$( {{ {{ eval "$4" 2>&4 3>&- 4>&-; echo "@rc=$?" >&4; }} \\
             | od -An -v -tx1 -N "$2" >&3; }} 4>&1 )
  elif [ -n "$_hy_to" ]; then
    _hy_r=$( {{ {{ timeout -k 2 "$3" sh -c "$4" 2>&4 3>&- 4>&-; echo "@rc=$?" >&4; }} \\
             | od -An -v -tx1 -N "$2" >&3; }} 4>&1 )
  else
    _hy_r=$( {{ {{ sh -c "$4" 2>&4 3>&- 4>&-; echo "@rc=$?" >&4; }} \\
             | od -An -v -tx1 -N "$2" >&3; }} 4>&1 )
  fi
  _hy_e=${{_hy_r%@rc=*}}
  printf '{MARK} STDERR\\n'
  [ -z "$_hy_e" ] || printf '%s' "$_hy_e" | od -An -v -tx1 -N {STDERR_CAP}
  printf '{MARK} END %s %s\\n' "$1" "${{_hy_r##*@rc=}}"
}}
printf '{MARK} START {PROTOCOL} %s\\n' "$(id -u)"
_hy_m=
for _hy_t in {{tools}}; do command -v "$_hy_t" >/dev/null 2>&1 || _hy_m="$_hy_m $_hy_t"; done
printf '{MARK} TOOLS%s\\n' "$_hy_m"
"""


#: What every fact snippet may use: a host without one of them is only partly readable.
BASE_TOOLS = ("awk", "cat", "date", "find", "grep", "head", "od", "sed", "stat", "uname")
#: One of them lists the installed packages (Debian, RHEL families).
PACKAGE_TOOLS = ("dpkg-query", "rpm")
HEADER = f"{MARK} START ".encode()


def _tools(specs: Iterable[FactSpec]) -> tuple[str, ...]:
    declared = sorted({t for s in specs for t in s.tools})
    return tuple(dict.fromkeys((*BASE_TOOLS, *PACKAGE_TOOLS, *declared)))


def missing_essentials(missing: Iterable[str], specs: Iterable[FactSpec]) -> list[str]:
    """The missing tools that leave the collection incomplete: any base tool, a tool a
    selected fact declares, and a package lister when neither exists."""
    missing = set(missing)
    needed = set(BASE_TOOLS) | {t for s in specs for t in s.tools}
    essential = missing & needed
    if set(PACKAGE_TOOLS) <= missing:
        essential |= set(PACKAGE_TOOLS)
    return sorted(essential)


def build_script(specs: Iterable[FactSpec]) -> str:
    """One POSIX-sh script that collects ``specs`` in order, each framed separately."""
    specs = list(specs)
    lines = [_PRELUDE.replace("{tools}", " ".join(_tools(specs)))]
    for spec in sorted(specs, key=lambda s: s.name):
        lines.append(
            f"_hy_fact {spec.name} {spec.max_bytes + 1} {spec.timeout} {shlex.quote(spec.command)}"
        )
    lines.append(f"printf '\\n{MARK} DONE\\n'")
    return "\n".join(lines) + "\n"


class FrameError(Exception):
    """The output is not a complete collection: the host is reported as ``error``."""


@dataclass(frozen=True)
class Collected:
    facts: dict[str, Fact]
    uid: int
    complete: bool
    missing_tools: tuple[str, ...] = ()


_LINE = re.compile(rf"^{re.escape(MARK)} (START|TOOLS|BEGIN|STDERR|END|DONE)(?: (.*))?$")


def parse_output(output: bytes, specs: Iterable[FactSpec]) -> Collected:
    """Turn the framed output back into facts; sizes are checked against each spec's cap.

    A fact whose frame is cut off (the exec hit its deadline) is left out, so the checks
    that need it report ``error`` rather than judging partial text.
    """
    specs = list(specs)
    frames = _Frames({s.name: s.max_bytes for s in specs}, set(_tools(specs)))
    for raw in output.split(b"\n"):
        line = raw.decode("ascii", errors="replace").rstrip("\r")
        m = _LINE.match(line)
        if m:
            frames.marker(m.group(1), m.group(2) or "", line)
        elif frames.name is not None and line:
            frames.chunks[frames.section].append(raw.strip())
    if frames.uid is None:
        raise FrameError("no collection header in the output (the script did not run)")
    return Collected(frames.facts, frames.uid, frames.done, frames.missing)


@dataclass
class _Frames:
    """What has been read of the framed output so far; ``name`` is the fact whose frame is
    open, ``section`` the stream (out or err) its hex lines belong to."""

    caps: dict[str, int]
    known_tools: set[str]
    missing: tuple[str, ...] = ()
    facts: dict[str, Fact] = field(default_factory=dict)
    uid: int | None = None
    done: bool = False
    name: str | None = None
    section: str = ""
    chunks: dict[str, list[bytes]] = field(default_factory=lambda: {"out": [], "err": []})

    def marker(self, kind: str, arg: str, line: str) -> None:
        if kind == "START":
            parts = arg.split()
            if len(parts) != 2 or parts[0] != PROTOCOL or not parts[1].isdigit():
                raise FrameError(f"unexpected collection header {line!r}")
            self.uid = int(parts[1])
        elif kind == "TOOLS":
            self.missing = tuple(t for t in arg.split() if t in self.known_tools)
        elif kind == "BEGIN":
            self.name, self.section, self.chunks = arg, "out", {"out": [], "err": []}
        elif kind == "STDERR" and self.name is not None:
            self.section = "err"
        elif kind == "END" and self.name is not None:
            self._end(arg)
        elif kind == "DONE":
            self.done = True

    def _end(self, arg: str) -> None:
        """Close the open frame; it becomes a fact only if the END names it and it was asked."""
        end_name, _, rc = arg.partition(" ")
        if end_name == self.name and self.name in self.caps:
            self.facts[self.name] = _make_fact(self.name, self.chunks, rc, self.caps[self.name])
        self.name = None


def _make_fact(name: str, chunks: dict[str, list[bytes]], rc: str, cap: int) -> Fact:
    try:
        stdout = bytes.fromhex(b" ".join(chunks["out"]).decode("ascii"))
        stderr = bytes.fromhex(b" ".join(chunks["err"]).decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return Fact(name, b"", b"undecodable frame", exit_status=None)
    truncated = len(stdout) > cap
    exit_status = int(rc) if rc.strip().isdigit() else None
    return Fact(name, stdout[:cap], stderr, exit_status=exit_status, truncated=truncated)
