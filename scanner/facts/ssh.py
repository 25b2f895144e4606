"""Facts about the OpenSSH server: its effective configuration, host keys and file modes.

The configuration is read with ``sshd -T`` rather than by parsing ``sshd_config``: the
daemon itself resolves ``Include`` drop-ins, first-match-wins ordering, defaults compiled
into the distribution build and deprecated aliases, which a hand-written parser would get
wrong. ``sshd -T`` needs root (it loads the host keys) and exits 127 when sshd is absent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from hygie.factspec import fact

# RHEL 8 passes the system crypto policy to sshd on its command line (systemd unit:
# ``sshd -D $OPTIONS $CRYPTO_POLICY``), so plain ``sshd -T`` would show the compiled-in
# algorithm lists instead of the effective ones. The variable is taken from the policy
# back-end file without sourcing it (RHEL 9 uses the same path for an include file).
# ``sshd -T`` refuses to run without its privilege-separation directory, which only exists
# while sshd runs; when it is missing, sshd -T runs in a private mount namespace on a
# throwaway tmpfs /run, so the host's own file systems are never written.
SSHD_EFFECTIVE = fact(
    "sshd_effective",
    "command -v sshd >/dev/null 2>&1 || exit 127; "
    "CP=''; f=/etc/crypto-policies/back-ends/opensshserver.config; "
    'if [ -r "$f" ] && grep -q \'^CRYPTO_POLICY=\' "$f"; then '
    'CP=$(sed -n "s/^CRYPTO_POLICY=\'\\(.*\\)\'\\$/\\1/p" "$f"); fi; '
    "if [ -d /run/sshd ] || [ -d /var/empty/sshd ] || ! command -v unshare >/dev/null 2>&1; "
    "then sshd -T $CP; else "
    "unshare -m sh -c 'mount -t tmpfs -o size=64k,mode=755 hygie /run && mkdir /run/sshd "
    '&& exec sshd -T "$@"\' sh $CP; fi',
    "sshd -T: the effective OpenSSH server configuration (defaults and drop-ins resolved)",
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
