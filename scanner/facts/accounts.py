"""Account facts: /etc/passwd, a hash-free summary of /etc/shadow, and the places that
set the default umask. login.defs and the PAM stacks, which the umask check reads too, are
declared and parsed in :mod:`hygie.facts.password`.

Nothing here ever reads a password hash: the shadow fact is reduced on the target by awk
to the scheme name and the aging fields before it leaves the host.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from hygie.facts.password import strip_comment
from hygie.factspec import fact, file_fact, files_fact, split_files

# --------------------------------------------------------------------------- facts

ETC_PASSWD = file_fact(
    "etc_passwd", "/etc/passwd", "local accounts (no secrets: hashes are in shadow)"
)

# The awk program never prints field 2 (the hash): only a scheme name derived from its
# prefix, a locked flag, and the numeric aging fields (anything non-numeric becomes "?",
# so even a malformed line cannot leak text). Portable to mawk, gawk and busybox awk
# (no regex interval expressions).
SHADOW_AWK = r"""awk -F: '
function n(v) { if (v ~ /^-?[0-9]*$/) return v; return "?" }
NF >= 2 && $1 !~ /^[+-]/ && $1 !~ /^#/ {
  h = $2; lk = 0
  while (substr(h, 1, 1) == "!") { lk = 1; h = substr(h, 2) }
  if ($2 == "") s = "empty"
  else if (h == "" || substr(h, 1, 1) == "*") s = "none"
  else if (substr(h, 1, 3) == "$y$") s = "yescrypt"
  else if (substr(h, 1, 4) == "$gy$") s = "gost_yescrypt"
  else if (substr(h, 1, 3) == "$7$") s = "scrypt"
  else if (substr(h, 1, 3) == "$6$") s = "sha512"
  else if (substr(h, 1, 3) == "$5$") s = "sha256"
  else if (substr(h, 1, 3) == "$1$") s = "md5"
  else if (h ~ /^[$]2[abxy]?[$]/) s = "bcrypt"
  else if (substr(h, 1, 6) == "$sha1$") s = "sha1"
  else if (substr(h, 1, 4) == "$md5") s = "sun_md5"
  else if (substr(h, 1, 1) == "_" && length(h) == 20) s = "bsdi_des"
  else if (length(h) == 13 && h ~ /^[.\/0-9A-Za-z]+$/) s = "des"
  else if (length(h) > 13 && length(h) % 11 == 2 && h ~ /^[.\/0-9A-Za-z]+$/) s = "bigcrypt"
  else s = "unknown"
  print $1 ":" s ":" lk ":" n($3) ":" n($4) ":" n($5) ":" n($6) ":" n($7) ":" n($8)
}' /etc/shadow"""

SHADOW_SUMMARY = fact(
    "shadow_summary",
    SHADOW_AWK,
    "per user: name:scheme:locked:lastchg:min:max:warn:inactive:expire (never the hash)",
    privileged=True,
)

UMASK_FILES = "/etc/profile /etc/bash.bashrc /etc/bashrc /etc/profile.d/*.sh /etc/default/login"
UMASK_SOURCES = fact(
    "umask_sources",
    f'rc=0; for f in {UMASK_FILES}; do [ -f "$f" ] || continue; '
    'awk -v f="$f" \'tolower($0) ~ /umask/ { print f ":" FNR ":" $0 }\' "$f" || rc=1; '
    'done; [ "$rc" -eq 0 ]',
    "lines mentioning umask in shell start-up files and /etc/default/login (path:line:text)",
)

# --------------------------------------------------------------------------- passwd / shadow


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    password: str  # "x" when shadowed; never a hash on a sane system
    uid: int
    gid: int
    gecos: str
    home: str
    shell: str
    lineno: int


def parse_passwd(text: str) -> tuple[PasswdEntry, ...]:
    """/etc/passwd, skipping comments, NIS ``+``/``-`` lines and malformed entries."""
    entries = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith(("#", "+", "-")):
            continue
        parts = line.split(":")
        if len(parts) < 7:
            continue
        try:
            uid, gid = int(parts[2]), int(parts[3])
        except ValueError:
            continue
        entries.append(
            PasswdEntry(
                parts[0], parts[1], uid, gid, parts[4], parts[5], ":".join(parts[6:]), lineno
            )
        )
    return tuple(entries)


UNUSABLE_SCHEMES = ("none", "empty", "unknown")


@dataclass(frozen=True)
class ShadowEntry:
    """One /etc/shadow line as summarised on the target. Aging fields are None when empty
    (the feature is disabled for that user) or unparsable."""

    name: str
    scheme: str
    locked: bool
    lastchg: int | None
    min: int | None
    max: int | None
    warn: int | None
    inactive: int | None
    expire: int | None

    @property
    def has_usable_password(self) -> bool:
        """A real hash that is not locked: someone can log in with a password."""
        return not self.locked and self.scheme not in UNUSABLE_SCHEMES


def _opt_int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def parse_shadow_summary(text: str) -> tuple[ShadowEntry, ...]:
    """Output of the ``shadow_summary`` fact (``name:scheme:locked:lastchg:min:max:warn:
    inactive:expire``)."""
    entries = []
    for line in text.splitlines():
        parts = line.strip().split(":")
        if len(parts) != 9:
            continue
        name, scheme, locked, *aging = parts
        nums = [_opt_int(v) for v in aging]
        entries.append(ShadowEntry(name, scheme, locked == "1", *nums))
    return tuple(entries)


# --------------------------------------------------------------------------- umask


@dataclass(frozen=True)
class UmaskSetting:
    """A umask set somewhere; ``value`` is None when the line could not be interpreted
    (symbolic forms other than ``u=..,g=..,o=..``, variables)."""

    value: int | None
    text: str
    source: str


_SYMBOLIC = re.compile(r"^u=([rwx]*),g=([rwx]*),o=([rwx]*)$")


def parse_umask_value(word: str) -> int | None:
    """``027``/``0027`` octal, or the symbolic ``u=rwx,g=rx,o=`` (what is *allowed*)."""
    if re.fullmatch(r"[0-7]{1,4}", word):
        return int(word, 8)
    m = _SYMBOLIC.match(word)
    if m:
        mask = 0
        for shift, perms in zip((6, 3, 0), m.groups(), strict=True):
            allowed = sum(bit for ch, bit in (("r", 4), ("w", 2), ("x", 1)) if ch in perms)
            mask |= (7 - allowed) << shift
        return mask
    return None


def parse_umask_sources(text: str) -> tuple[UmaskSetting, ...]:
    """The ``umask_sources`` fact (``path:line:text``): every ``umask VALUE`` command
    outside comments, and ``UMASK=`` in /etc/default/login (read by pam_umask)."""
    found = []
    for raw in text.splitlines():
        path, _, rest = raw.partition(":")
        lineno, _, line = rest.partition(":")
        code = strip_comment(line)
        for m in re.finditer(r"(?:^|[\s;&|(){}])umask\s+(-S\s+)?([^\s;&|)]+)", code):
            if m.group(2).startswith("-"):
                continue
            found.append(UmaskSetting(parse_umask_value(m.group(2)), code, f"{path}:{lineno}"))
        m = re.match(r"^UMASK\s*=\s*['\"]?([0-7]{3,4})", code)
        if m and path == "/etc/default/login":  # elsewhere UMASK= is just a variable
            found.append(UmaskSetting(int(m.group(1), 8), code, f"{path}:{lineno}"))
    return tuple(found)


# --------------------------------------------------------------------------- drift facts
# Gathered for ``hygie drift`` (the policy's ``collect: [drift]``, see hygie.drift): who is
# an administrator, and what sudo lets whom do. /etc/group holds no secret (group
# passwords are in gshadow, never read); sudoers rules name users, hosts and commands.

ETC_GROUP = file_fact("etc_group", "/etc/group", "local groups and their members (no secrets)")
SUDOERS = files_fact(
    "sudoers",
    "/etc/sudoers /etc/sudoers.d/*",
    "sudoers(5) and its sudoers.d drop-ins: who may run what as whom",
    privileged=True,
    max_bytes=256 << 10,
)
ADMIN_GROUPS = ("sudo", "wheel", "admin")


@dataclass(frozen=True)
class GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


def parse_group(text: str) -> tuple[GroupEntry, ...]:
    """/etc/group, skipping comments, NIS lines and malformed entries."""
    entries = []
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) != 4 or line.startswith(("#", "+", "-")) or not parts[2].isdigit():
            continue
        members = tuple(m.strip() for m in parts[3].split(",") if m.strip())
        entries.append(GroupEntry(parts[0], int(parts[2]), members))
    return tuple(entries)


def admin_members(passwd: str, group: str) -> frozenset[tuple[str, str]]:
    """(group, user) for every member of sudo/wheel/admin, listed in /etc/group or by the
    user's primary group in /etc/passwd."""
    groups = [g for g in parse_group(group) if g.name in ADMIN_GROUPS]
    by_gid = {g.gid: g.name for g in groups}
    found = {(g.name, m) for g in groups for m in g.members}
    found |= {(by_gid[e.gid], e.name) for e in parse_passwd(passwd) if e.gid in by_gid}
    return frozenset(found)


def _sudoers_file_used(path: str) -> bool:
    """sudo skips sudoers.d files whose name ends in ``~`` or contains a dot."""
    if not path.startswith("/etc/sudoers.d/"):
        return True
    name = path.rsplit("/", 1)[-1]
    return not name.endswith("~") and "." not in name


def _logical_lines(text: str) -> Iterator[str]:
    """Lines with backslash continuations joined."""
    pending = ""
    for line in text.splitlines():
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield pending + line
        pending = ""
    if pending:
        yield pending


def _sudoers_rule(line: str) -> str | None:
    """The rule a sudoers line holds, whitespace collapsed; None for a blank line or a
    comment (``#include`` and ``#includedir`` are directives, not comments)."""
    stripped = line.strip()
    if stripped.startswith(("#include", "#includedir")):
        return " ".join(stripped.split())
    rule = re.sub(r"(?<!\\)#.*$", "", stripped).strip()
    return " ".join(rule.split()) or None


def parse_sudoers_rules(text: str) -> frozenset[str]:
    """Every normalised rule of the files sudo reads (comments dropped, continuations
    joined, whitespace collapsed), so reformatting a file is no drift."""
    rules = set()
    for path, content in split_files(text).items():
        if not _sudoers_file_used(path):
            continue
        rules.update(r for r in map(_sudoers_rule, _logical_lines(content)) if r)
    return frozenset(rules)
