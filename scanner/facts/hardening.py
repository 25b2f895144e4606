"""Facts for host hardening: packet filter, mandatory access control, permissions of the
account databases, and encryption of data volumes at rest.

Every firewall front-end (nftables, iptables, ufw, firewalld) is collected on its own, with
its absence visible as exit status 127, because a host may use any of them and the check
must credit whichever one actually filters. Parsers return what the kernel enforces, not
what a configuration file intends.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from hygie.factspec import fact, split_files

# --- firewall -------------------------------------------------------------

NFT_RULESET = fact(
    "nft_ruleset",
    "command -v nft >/dev/null 2>&1 || exit 127; nft list ruleset",
    "nftables ruleset loaded in the kernel (nft list ruleset)",
    privileged=True,
)
IPTABLES_RULES = fact(
    "iptables_rules",
    "command -v iptables-save >/dev/null 2>&1 || exit 127; "
    "echo '==> iptables <=='; iptables-save || exit $?; "
    "if command -v ip6tables-save >/dev/null 2>&1; then "
    "echo '==> ip6tables <=='; ip6tables-save; fi",
    "iptables-save and ip6tables-save (legacy or nf_tables backend)",
    privileged=True,
)
UFW_STATUS = fact(
    "ufw_status",
    "command -v ufw >/dev/null 2>&1 || exit 127; ufw status verbose",
    "ufw status verbose: active or not, default incoming policy",
    privileged=True,
)
FIREWALLD_STATE = fact(
    "firewalld_state",
    "command -v firewall-cmd >/dev/null 2>&1 || exit 127; "
    "firewall-cmd --state || exit $?; firewall-cmd --get-default-zone",
    "firewalld state (running / not running, exit 252) and default zone",
    privileged=True,
)

# --- mandatory access control -------------------------------------------------------------

MAC_STATUS = fact(
    "mac_status",
    "echo '==> apparmor_enabled <=='; cat /sys/module/apparmor/parameters/enabled 2>/dev/null; "
    "echo '==> apparmor_profiles <=='; "
    "cat /sys/kernel/security/apparmor/profiles 2>/dev/null; "
    "echo '==> selinux_enforce <=='; cat /sys/fs/selinux/enforce 2>/dev/null && echo; "
    "echo '==> getenforce <=='; getenforce 2>/dev/null; "
    "echo '==> selinux_config <=='; "
    "grep -E '^[[:space:]]*SELINUX(TYPE)?=' /etc/selinux/config 2>/dev/null; exit 0",
    "AppArmor enabled flag and loaded profiles with mode; SELinux mode (live and configured)",
    privileged=True,
)

# --- permissions of account databases -------------------------------------------------------------

SENSITIVE_FILES = (
    "/etc/passwd",
    "/etc/passwd-",
    "/etc/group",
    "/etc/group-",
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
)
SENSITIVE_FILE_PERMS = fact(
    "sensitive_file_perms",
    "stat -c '%n %a %U %G' " + " ".join(SENSITIVE_FILES) + " 2>/dev/null; exit 0",
    "mode (octal), owner and group of the account databases and their backups",
)

# --- storage -------------------------------------------------------------

BLOCK_DEVICES = fact(
    "block_devices",
    "command -v lsblk >/dev/null 2>&1 || exit 127; "
    "echo '==> lsblk <=='; lsblk -P -o NAME,KNAME,TYPE,FSTYPE,MOUNTPOINT,PKNAME || exit $?; "
    "echo '==> mounts <=='; cat /proc/self/mounts",
    "block device tree (lsblk -P, parents via PKNAME) and the mount table",
)


# --- firewall parsers -------------------------------------------------------------


@dataclass(frozen=True)
class InputChain:
    """One base chain filtering packets addressed to the host."""

    family: str  # nft family: inet, ip, ip6 (iptables: ip, ip6)
    table: str
    name: str
    policy: str  # accept | drop
    last_rule: str

    @property
    def default_deny(self) -> bool:
        return self.policy == "drop" or _is_catch_all_deny(self.last_rule)

    @property
    def label(self) -> str:
        return f"{self.family} {self.table} {self.name} (policy {self.policy})"


_NFT_VERDICT = re.compile(
    r"^(?:counter(?: packets \d+ bytes \d+)?\s+)?"
    r"(?:log(?: prefix \"[^\"]*\")?(?: level \w+)?(?: flags [\w,]+)?\s+)?"
    r"(?:counter(?: packets \d+ bytes \d+)?\s+)?"
    r"(drop|reject(?: with .*)?)$"
)
_IPT_VERDICT = re.compile(
    r"^-A \S+(?: -m comment --comment (?:\"[^\"]*\"|\S+))?(?: -j LOG\b.*)?"
    r" -j (DROP|REJECT)(?: --reject-with \S+)?$"
)


def _is_catch_all_deny(rule: str) -> bool:
    """An unconditional final drop/reject (optionally counted or logged)."""
    return bool(_NFT_VERDICT.match(rule) or _IPT_VERDICT.match(rule))


def parse_nft_input_chains(text: str) -> list[InputChain]:
    """Base chains hooked on ``input`` in an ``nft list ruleset`` dump."""
    chains: list[InputChain] = []
    family = table = chain = ""
    policy = ""
    hooked = False
    last = ""
    depth = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^table (\w+) (\S+) \{$", line)
        if m and depth == 0:
            family, table = m.groups()
            depth = 1
            continue
        m = re.match(r"^chain (\S+) \{$", line)
        if m and depth == 1:
            chain, policy, hooked, last = m.group(1), "accept", False, ""
            depth = 2
            continue
        if line.endswith("{"):
            depth += 1
            continue
        if line == "}":
            if depth == 2 and hooked:
                chains.append(InputChain(family, table, chain, policy, last))
            depth -= 1
            continue
        if depth == 2:
            if line.startswith("type ") and " hook " in line:
                hooked = re.search(r"\bhook input\b", line) is not None
                pm = re.search(r"\bpolicy (\w+);", line)
                policy = pm.group(1) if pm else "accept"
            else:
                last = line
    return [c for c in chains if c.family in ("inet", "ip", "ip6")]


def parse_iptables_input_chains(text: str) -> list[InputChain]:
    """The ``filter`` table's INPUT chain from ``iptables-save`` (and ``ip6tables-save``)."""
    sections = split_files(text) if text.startswith("==> ") else {"iptables": text}
    chains = []
    for section, content in sections.items():
        family = "ip6" if section == "ip6tables" else "ip"
        table = ""
        policy: str | None = None
        last = ""
        for raw in content.splitlines():
            line = raw.strip()
            if line.startswith("*"):
                table = line[1:]
            elif table == "filter" and line.startswith(":INPUT "):
                policy = line.split()[1].lower()
            elif table == "filter" and line.startswith("-A INPUT "):
                last = line
        if policy is not None:
            chains.append(InputChain(family, "filter", "INPUT", policy, last))
    return chains


@dataclass(frozen=True)
class UfwStatus:
    active: bool
    incoming: str  # deny | reject | allow | "" when unknown


def parse_ufw_status(text: str) -> UfwStatus:
    active = bool(re.search(r"^Status:\s*active\b", text, re.M))
    m = re.search(r"^Default:.*?\b(\w+) \(incoming\)", text, re.M)
    return UfwStatus(active, m.group(1).lower() if m else "")


@dataclass(frozen=True)
class FirewalldState:
    running: bool
    default_zone: str


def parse_firewalld_state(text: str) -> FirewalldState:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    running = bool(lines) and lines[0] == "running"
    return FirewalldState(running, lines[1] if running and len(lines) > 1 else "")


# --- MAC parsers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MacStatus:
    apparmor_enabled: bool
    apparmor_enforce: tuple[str, ...]
    apparmor_complain: tuple[str, ...]
    selinux_mode: str  # enforcing | permissive | disabled | "" (no SELinux)
    selinux_configured: str  # SELINUX= in /etc/selinux/config, "" when absent


def parse_mac_status(text: str) -> MacStatus:
    s = split_files(text)
    enforce, complain = [], []
    for line in s.get("apparmor_profiles", "").splitlines():
        m = re.match(r"^(.*) \((\w+)\)$", line.strip())
        if m:
            (enforce if m.group(2) == "enforce" else complain).append(m.group(1))
    mode = s.get("getenforce", "").strip().lower()
    live = s.get("selinux_enforce", "").strip()
    if not mode and live in ("0", "1"):
        mode = "enforcing" if live == "1" else "permissive"
    configured = ""
    for line in s.get("selinux_config", "").splitlines():
        key, _, value = line.strip().partition("=")
        if key == "SELINUX":
            configured = value.strip().strip("\"'").lower()
    return MacStatus(
        apparmor_enabled=s.get("apparmor_enabled", "").strip().upper().startswith("Y"),
        apparmor_enforce=tuple(enforce),
        apparmor_complain=tuple(complain),
        selinux_mode=mode,
        selinux_configured=configured,
    )


# --- permissions parsers -------------------------------------------------------------


@dataclass(frozen=True)
class FileStat:
    path: str
    mode: int
    owner: str
    group: str


def parse_stat_lines(text: str) -> dict[str, FileStat]:
    """``stat -c '%n %a %U %G'`` lines (paths here never contain spaces)."""
    stats = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4 and re.fullmatch(r"[0-7]{1,4}", parts[1]):
            stats[parts[0]] = FileStat(parts[0], int(parts[1], 8), parts[2], parts[3])
    return stats


def no_more_permissive(actual: int, allowed: int) -> bool:
    """True when ``actual`` sets no permission bit (incl. setuid/setgid/sticky) that
    ``allowed`` does not."""
    return actual & ~allowed & 0o7777 == 0


# --- storage parsers -------------------------------------------------------------


@dataclass(frozen=True)
class BlockDevice:
    name: str
    kname: str
    type: str
    fstype: str
    mountpoint: str
    pkname: str


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    fstype: str


@dataclass(frozen=True)
class StorageLayout:
    devices: tuple[BlockDevice, ...]
    mounts: tuple[Mount, ...]

    def mount_at(self, target: str) -> Mount | None:
        """The mount visible at ``target`` (the last one mounted there wins)."""
        found = [m for m in self.mounts if m.target == target]
        return found[-1] if found else None

    def device_for(self, mount: Mount) -> BlockDevice | None:
        """The block device backing a mount: by lsblk mountpoint, else by device path."""
        for dev in self.devices:
            if dev.mountpoint == mount.target:
                return dev
        source = mount.source.removeprefix("/dev/mapper/").removeprefix("/dev/")
        for dev in self.devices:
            if source in (dev.name, dev.kname):
                return dev
        return None

    def encrypted(self, dev: BlockDevice) -> tuple[bool, list[str]]:
        """Whether the device or any ancestor is a dm-crypt mapping, with the chain walked.

        Devices with several parents (RAID members) appear once per parent in ``lsblk -P``;
        every parent must be encrypted for the data to be.
        """
        by_name: dict[str, list[BlockDevice]] = {}
        for d in self.devices:
            by_name.setdefault(d.kname, []).append(d)
        chain: list[str] = []

        def walk(node: BlockDevice, seen: frozenset[str]) -> bool:
            chain.append(f"{node.name}({node.type})")
            if node.type == "crypt":
                return True
            if node.kname in seen:
                return False
            rows = by_name.get(node.kname, [node])
            parent_names = {r.pkname for r in rows if r.pkname}
            parents = [by_name[p][0] for p in sorted(parent_names) if p in by_name]
            return bool(parents) and all(walk(p, seen | {node.kname}) for p in parents)

        return walk(dev, frozenset()), chain


def _unescape_mount(field: str) -> str:
    """/proc/self/mounts escapes space, tab, newline and backslash as octal."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_block_devices(text: str) -> StorageLayout:
    sections = split_files(text)
    devices = []
    for line in sections.get("lsblk", "").splitlines():
        try:
            pairs = dict(p.split("=", 1) for p in shlex.split(line))
        except ValueError:
            continue
        devices.append(
            BlockDevice(
                name=pairs.get("NAME", ""),
                kname=pairs.get("KNAME", pairs.get("NAME", "")),
                type=pairs.get("TYPE", ""),
                fstype=pairs.get("FSTYPE", ""),
                mountpoint=pairs.get("MOUNTPOINT", ""),
                pkname=pairs.get("PKNAME", ""),
            )
        )
    mounts = []
    for line in sections.get("mounts", "").splitlines():
        parts = line.split()
        if len(parts) >= 3:
            mounts.append(Mount(_unescape_mount(parts[0]), _unescape_mount(parts[1]), parts[2]))
    return StorageLayout(tuple(devices), tuple(mounts))


# --- world-writable files -----------------------------------------------------------------

# Walks every local disk filesystem once (deduplicated by device, bind mounts skipped): slow
# on big hosts, hence the long timeout; output capped so a messy host is not "truncated".
WORLD_WRITABLE_LIMIT = 500
WORLD_WRITABLE = fact(
    "world_writable",
    "find / -maxdepth 0 -printf '' >/dev/null 2>&1 || exit 127; "
    "awk '$3 ~ /^(ext[234]|xfs|btrfs|jfs|f2fs|reiserfs)$/ && !seen[$1]++ {print $2}' "
    "/proc/self/mounts | while read -r mp; do "
    'find "$mp" -xdev \\( -type f -perm -0002 -o -type d -perm -0002 ! -perm -1000 \\) '
    "-printf '%y %m %u %p\\n' 2>/dev/null; done | head -n " + str(WORLD_WRITABLE_LIMIT),
    "world-writable files and non-sticky world-writable directories on local filesystems",
    privileged=True,
    timeout=300,
)


@dataclass(frozen=True)
class WritableEntry:
    kind: str  # f (file) | d (directory)
    mode: str
    owner: str
    path: str


def parse_world_writable(text: str) -> list[WritableEntry]:
    """``find -printf '%y %m %u %p'`` lines (the path may contain spaces)."""
    entries = []
    for line in text.splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4:
            entries.append(WritableEntry(*parts))
    return entries
