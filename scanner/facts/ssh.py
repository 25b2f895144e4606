"""Facts about the OpenSSH server: its effective configuration, host keys and file modes.

The configuration is read with ``sshd -T`` rather than by parsing ``sshd_config``: the
daemon itself resolves ``Include`` drop-ins, first-match-wins ordering, defaults compiled
into the distribution build and deprecated aliases, which a hand-written parser would get
wrong. ``sshd -T`` needs root (it loads the host keys) and exits 127 when sshd is absent.
For the same reason, whether the configuration is valid and which file:line sets what come
from sshd itself (``sshd -t`` and its debug trace), and the banner file is the one
``sshd -T`` names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from hygie.factspec import fact

_HAS_SSHD = "command -v sshd >/dev/null 2>&1 || exit 127; "


def _run_sshd(flags: str) -> str:
    """Shell that runs ``sshd FLAGS`` with the options the service itself is started with.

    RHEL 8 passes the system crypto policy to sshd on its command line (systemd unit:
    ``sshd -D $OPTIONS $CRYPTO_POLICY``), so plain ``sshd -T`` would show the compiled-in
    algorithm lists instead of the effective ones. The variable is taken from the policy
    back-end file without sourcing it (RHEL 9 uses the same path for an include file).
    ``sshd -T`` and ``-t`` refuse to run without the privilege-separation directory, which
    only exists while sshd runs; when it is missing, sshd runs in a private mount namespace
    on a throwaway tmpfs /run, so the host's own file systems are never written.
    """
    return (
        "CP=''; f=/etc/crypto-policies/back-ends/opensshserver.config; "
        'if [ -r "$f" ] && grep -q \'^CRYPTO_POLICY=\' "$f"; then '
        'CP=$(sed -n "s/^CRYPTO_POLICY=\'\\(.*\\)\'\\$/\\1/p" "$f"); fi; '
        "if [ -d /run/sshd ] || [ -d /var/empty/sshd ] || ! command -v unshare >/dev/null 2>&1; "
        f"then sshd {flags} $CP; else "
        "unshare -m sh -c 'mount -t tmpfs -o size=64k,mode=755 hygie /run && mkdir /run/sshd "
        f'&& exec sshd {flags} "$@"\' sh $CP; fi'
    )


SSHD_EFFECTIVE = fact(
    "sshd_effective",
    _HAS_SSHD + _run_sshd("-T"),
    "sshd -T: the effective OpenSSH server configuration (defaults and drop-ins resolved)",
    privileged=True,
)

# sshd -t says whether the daemon accepts its configuration (it would refuse to start, or
# to reload, otherwise), quoting file and line. At debug level 3 it also traces every
# global setting it reads as "FILE:LINE setting KEYWORD VALUE", Include files resolved and
# Match blocks left out: the only trustworthy file:line evidence for a keyword set twice.
# Everything goes to stdout (the trace can be long; stderr is capped small).
SSHD_CONFIG_TEST = fact(
    "sshd_config_test",
    _HAS_SSHD + _run_sshd("-t -ddd") + " 2>&1",
    "sshd -t -ddd: whether sshd accepts its configuration, and each global setting's file:line",
    privileged=True,
)

# The banner file is only named on the target, so the snippet reads sshd -T's banner
# value itself, then reports what the file is: never its content (a misconfigured Banner
# could name any file root can read), only its type, size and whether its first 4 KiB hold
# any visible character. -f is tested before reading, so a FIFO or device cannot hang it.
_BANNER_REPORT = r"""
b=$(printf '%s\n' "$t" | awk '$1 == "banner" { sub(/^banner[ \t]+/, ""); print; exit }')
case $b in ''|none) echo 'banner none'; exit 0;; esac
printf 'banner %s\n' "$b"
if [ ! -e "$b" ]; then echo 'state missing'
elif [ ! -f "$b" ]; then echo 'state not-a-file'
elif [ ! -r "$b" ]; then echo 'state unreadable'
else
  echo 'state file'; printf 'size %s\n' "$(stat -L -c %s -- "$b")"
  if head -c 4096 -- "$b" | grep -q '[^[:space:]]'; then echo 'text yes'; else echo 'text no'; fi
fi"""
SSHD_BANNER_FILE = fact(
    "sshd_banner_file",
    _HAS_SSHD + "t=$(" + _run_sshd("-T") + ") || exit $?" + _BANNER_REPORT,
    "the file sshd -T names as Banner: exists, regular, size, has text (never its content)",
    privileged=True,
)

SSH_HOST_KEYS = fact(
    "ssh_host_keys",
    "command -v ssh-keygen >/dev/null 2>&1 || exit 127; "
    'for f in /etc/ssh/ssh_host_*_key.pub; do [ -f "$f" ] || continue; '
    'printf \'%s\\t\' "$f"; ssh-keygen -lf "$f" 2>&1 | head -n 1; done; true',
    "type and size of each public SSH host key (ssh-keygen -lf on the .pub files only)",
)

SSHD_FILE_MODES = fact(
    "sshd_file_modes",
    "for f in /etc/ssh/sshd_config /etc/ssh/sshd_config.d /etc/ssh/sshd_config.d/* "
    '/etc/ssh/ssh_host_*_key; do [ -e "$f" ] || continue; '
    "stat -L -c '%a %U %G %A %n' -- \"$f\"; done; true",
    "mode, owner and group of sshd_config, its drop-ins and the private host keys (stat only)",
)

# Options whose value is a comma-separated algorithm list.
COMMA_LISTS = frozenset(
    {
        "ciphers",
        "macs",
        "kexalgorithms",
        "hostkeyalgorithms",
        "pubkeyacceptedalgorithms",
        "pubkeyacceptedkeytypes",
        "hostbasedacceptedalgorithms",
        "hostbasedacceptedkeytypes",
        "casignaturealgorithms",
        "gssapikexalgorithms",
    }
)


@dataclass(frozen=True)
class SshdConfig(Mapping[str, tuple[str, ...]]):
    """``sshd -T`` output as a read-only mapping: lowercase keyword -> values.

    Every value is a tuple: one element per occurrence for repeated keywords (``hostkey``,
    ``allowusers``, ``listenaddress``...), one element per algorithm for the comma lists
    (``ciphers``, ``macs``, ``kexalgorithms``...). :meth:`value` gives the raw first value.
    """

    lines: Mapping[str, tuple[str, ...]]

    def __getitem__(self, key: str) -> tuple[str, ...]:
        key = key.lower()
        raw = self.lines[key]
        if key in COMMA_LISTS:
            return tuple(item for value in raw for item in value.split(",") if item)
        return raw

    def __iter__(self) -> Iterator[str]:
        return iter(self.lines)

    def __len__(self) -> int:
        return len(self.lines)

    def value(self, key: str, default: str = "") -> str:
        """The first value of ``key`` as printed by sshd (e.g. ``"10:30:100"``)."""
        raw = self.lines.get(key.lower())
        return raw[0] if raw else default

    def flag(self, key: str) -> bool:
        """True when a yes/no option is ``yes``."""
        return self.value(key).lower() == "yes"


def parse_sshd_t(text: str) -> SshdConfig:
    """``keyword value`` lines; blank and ``#`` lines ignored, keywords case-folded."""
    collected: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        collected.setdefault(key.lower(), []).append(value.strip())
    return SshdConfig(MappingProxyType({k: tuple(v) for k, v in collected.items()}))


@dataclass(frozen=True)
class HostKey:
    """A public host key as ``ssh-keygen -lf`` describes it (``bits`` 0 when unreadable)."""

    path: str
    type: str
    bits: int
    error: str = ""

    @property
    def private_path(self) -> str:
        return self.path.removesuffix(".pub")


_KEYGEN = re.compile(r"^(\d+)\s+\S+\s+.*\((\w[\w-]*)\)\s*$")


def parse_host_keys(text: str) -> tuple[HostKey, ...]:
    """``path<TAB>2048 SHA256:... comment (RSA)`` lines, one per public key file."""
    keys = []
    for line in text.splitlines():
        path, sep, rest = line.partition("\t")
        if not sep:
            continue
        m = _KEYGEN.match(rest.strip())
        if m:
            keys.append(HostKey(path, m.group(2).upper(), int(m.group(1))))
        else:
            keys.append(HostKey(path, "UNKNOWN", 0, rest.strip()))
    return tuple(keys)


@dataclass(frozen=True)
class FileMode:
    """One ``stat -c '%a %U %G %A %n'`` line."""

    mode: int
    owner: str
    group: str
    is_dir: bool
    path: str


def parse_file_modes(text: str) -> tuple[FileMode, ...]:
    modes = []
    for line in text.splitlines():
        parts = line.split(" ", 4)
        if len(parts) != 5 or not re.fullmatch(r"[0-7]{1,4}", parts[0]):
            continue
        octal, owner, group, symbolic, path = parts
        modes.append(FileMode(int(octal, 8), owner, group, symbolic.startswith("d"), path))
    return tuple(modes)


# Keywords sshd accumulates (each occurrence adds a value): repeating them is no conflict.
# Every other keyword keeps one value, so differing repeats mean the file says two things.
ACCUMULATING = frozenset(
    {
        "acceptenv",
        "allowgroups",
        "allowusers",
        "denygroups",
        "denyusers",
        "hostcertificate",
        "hostkey",
        "include",
        "listenaddress",
        "port",
        "setenv",
        "subsystem",
    }
)
# Old spellings sshd still accepts for the same option.
KEYWORD_ALIASES = {
    "challengeresponseauthentication": "kbdinteractiveauthentication",
    "pubkeyacceptedkeytypes": "pubkeyacceptedalgorithms",
    "hostbasedacceptedkeytypes": "hostbasedacceptedalgorithms",
}

_SETTING = re.compile(r"^debug3: (?P<path>.+):(?P<line>\d+) setting (?P<kw>\S+)\s*(?P<value>.*)$")
# sshd's own complaints about a file ("F: line 3: Bad configuration option: X",
# "F line 4: MaxAuthTries integer value invalid.", "F: terminating, 2 bad configuration
# options"); deprecation notices share the shape but do not stop the daemon.
_CONFIG_ERROR = re.compile(r"\bline \d+: |: terminating, \d+ bad configuration options")
_CONFIG_WARNING = re.compile(r"\bline \d+: (Deprecated|Unsupported) option")


@dataclass(frozen=True)
class ConfigLine:
    """One global setting as sshd read it: keyword as written, its file and line."""

    keyword: str
    value: str
    path: str
    lineno: int

    @property
    def where(self) -> str:
        return f"{self.path}:{self.lineno}"


@dataclass(frozen=True)
class SshdTest:
    """The ``sshd -t -ddd`` trace: global settings in reading order, and sshd's messages
    (its non-debug lines: errors when it refuses the configuration, notices otherwise)."""

    settings: tuple[ConfigLine, ...]
    messages: tuple[str, ...]

    @property
    def errors(self) -> tuple[str, ...]:
        return config_errors("\n".join(self.messages))

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(m for m in self.messages if _CONFIG_WARNING.search(m))

    def conflicts(self) -> dict[str, tuple[ConfigLine, ...]]:
        """Single-valued keywords (lowercase, aliases folded) set more than once with
        different values, each with every line that sets it. Which one applies differs by
        keyword: ``sshd -T`` is the authority, these lines are the evidence."""
        groups: dict[str, list[ConfigLine]] = {}
        for line in self.settings:
            key = line.keyword.lower()
            key = KEYWORD_ALIASES.get(key, key)
            if key not in ACCUMULATING:
                groups.setdefault(key, []).append(line)
        return {
            key: tuple(lines)
            for key, lines in groups.items()
            if len({" ".join(ln.value.split()).lower() for ln in lines}) > 1
        }


def config_errors(text: str) -> tuple[str, ...]:
    """The lines of sshd output that reject the configuration (file and line quoted)."""
    return tuple(
        line.strip()
        for line in text.splitlines()
        if not line.startswith("debug")
        and _CONFIG_ERROR.search(line)
        and not _CONFIG_WARNING.search(line)
    )


def parse_sshd_test(text: str) -> SshdTest:
    settings, messages = [], []
    for raw in text.splitlines():
        m = _SETTING.match(raw)
        if m:
            settings.append(ConfigLine(m["kw"], m["value"].strip(), m["path"], int(m["line"])))
        elif raw.strip() and not raw.startswith("debug"):
            messages.append(raw.strip())
    return SshdTest(tuple(settings), tuple(messages))


@dataclass(frozen=True)
class BannerFile:
    """What the ``sshd_banner_file`` fact found. ``state`` is ``none`` (no Banner),
    ``missing``, ``not-a-file``, ``unreadable`` or ``file``; ``has_text`` says whether the
    first 4 KiB hold a visible character."""

    path: str
    state: str
    size: int | None = None
    has_text: bool = False


def parse_banner_file(text: str) -> BannerFile:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        fields[key] = value
    path = fields.get("banner", "none")
    size = fields.get("size", "")
    return BannerFile(
        path,
        "none" if path == "none" else fields.get("state", ""),
        int(size) if size.isdigit() else None,
        fields.get("text") == "yes",
    )


def host_key_fingerprints(text: str) -> dict[str, str]:
    """Public host key path -> its ``SHA256:...`` fingerprint, from the ``ssh_host_keys``
    fact (:func:`parse_host_keys` keeps type and size only)."""
    found = {}
    for line in text.splitlines():
        path, _, rest = line.partition("\t")
        fp = next((w for w in rest.split() if w.startswith(("SHA256:", "MD5:"))), None)
        if fp:
            found[path] = fp
    return found


# Gathered for ``hygie drift`` (see hygie.drift). The keys of root (every UID 0 account)
# and of the sudo/wheel/admin members are fingerprinted ON THE TARGET by ssh-keygen -lf:
# only ``user<TAB>file<TAB>bits SHA256:... comment (TYPE)`` leaves the host, never a key.
# Only the default AuthorizedKeysFile paths are read; at most 200 keys per file.
_PRIVILEGED_HOMES = (
    "awk -F: 'NR == FNR { if ($1 ~ /^(sudo|wheel|admin)$/) { g[$3] = 1; "
    'n = split($4, m, ","); for (i = 1; i <= n; i++) p[m[i]] = 1 } next } '
    '($3 == 0 || ($1 in p) || ($4 in g)) && $6 ~ /^\\// { print $1 ":" $6 }\' '
    "/etc/group /etc/passwd"
)
AUTHORIZED_KEYS = fact(
    "authorized_keys_fingerprints",
    "command -v ssh-keygen >/dev/null 2>&1 || exit 127; "
    + _PRIVILEGED_HOMES
    + " | while IFS=: read -r u h; do "
    'for f in "$h/.ssh/authorized_keys" "$h/.ssh/authorized_keys2"; do '
    '[ -f "$f" ] || continue; ssh-keygen -lf "$f" 2>/dev/null | head -n 200 | '
    'while IFS= read -r l; do printf \'%s\\t%s\\t%s\\n\' "$u" "$f" "$l"; done; '
    "done; done; true",
    "SHA256 fingerprints (ssh-keygen -lf on the target) of the authorized_keys of UID 0 "
    "accounts and sudo/wheel/admin members; never the keys",
    privileged=True,
    max_bytes=256 << 10,
    timeout=15,
)


@dataclass(frozen=True)
class AuthorizedKey:
    user: str
    file: str
    fingerprint: str
    type: str
    comment: str


_KEY_LINE = re.compile(r"^\d+\s+(\S+:\S+)\s*(.*?)\s*\((\w[\w-]*)\)\s*$")


def parse_authorized_keys(text: str) -> tuple[AuthorizedKey, ...]:
    """``user<TAB>file<TAB>ssh-keygen -lf line`` records; anything else is skipped."""
    keys = []
    for line in text.splitlines():
        parts = line.split("\t", 2)
        m = _KEY_LINE.match(parts[2]) if len(parts) == 3 else None
        if m:
            keys.append(AuthorizedKey(parts[0], parts[1], m.group(1), m.group(3), m.group(2)))
    return tuple(keys)
