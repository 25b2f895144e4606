"""Host hardening: packet filter, mandatory access control, account-database permissions,
encryption of data at rest.

These are the controls that limit the blast radius once something is exposed or
compromised: what can reach the host, what a hijacked daemon may touch, who can read
password hashes, and what a stolen disk reveals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hygie.facts.hardening import (
    SENSITIVE_FILES,
    WORLD_WRITABLE_LIMIT,
    InputChain,
    no_more_permissive,
    parse_block_devices,
    parse_firewalld_state,
    parse_iptables_input_chains,
    parse_mac_status,
    parse_nft_input_chains,
    parse_stat_lines,
    parse_ufw_status,
    parse_world_writable,
)
from hygie.model import Evidence
from hygie.registry import (
    Facts,
    Param,
    Verdict,
    check,
    errored,
    failed,
    judge,
    not_applicable,
    passed,
)
from hygie.text import capped

#: Public ids are never renamed: the firewall check kept its fw_ name here.
ID_PREFIXES = ("fw_", "hardening_")


def _cap(items: list[str], limit: int = 50) -> str:
    return capped(items, limit)


# --- firewall -------------------------------------------------------------

# firewalld's exit status when the daemon is not running: an answer, not a failure to read.
FIREWALLD_NOT_RUNNING = 252


#: (description of what was seen, IP versions protected by a default-deny inbound filter)
Coverage = tuple[list[str], set[str]]


def _chain_coverage(chains: list[InputChain], source: str) -> Coverage:
    """(description of each chain, IP versions protected by a default-deny chain)."""
    seen, covered = [], set()
    for chain in chains:
        seen.append(f"{source} {chain.label}{' default-deny' if chain.default_deny else ''}")
        if chain.default_deny:
            covered |= {"inet": {"ipv4", "ipv6"}, "ip": {"ipv4"}, "ip6": {"ipv6"}}[chain.family]
    return seen, covered


def _nft_coverage(text: str) -> Coverage:
    seen, covered = _chain_coverage(parse_nft_input_chains(text), "nftables")
    return seen or ["nftables: no input chain"], covered


def _iptables_coverage(text: str) -> Coverage:
    return _chain_coverage(parse_iptables_input_chains(text), "iptables")


def _ufw_coverage(text: str) -> Coverage:
    ufw = parse_ufw_status(text)
    seen = [f"ufw {'active' if ufw.active else 'inactive'}, incoming {ufw.incoming}"]
    denies = ufw.active and ufw.incoming in ("deny", "reject")
    return seen, {"ipv4", "ipv6"} if denies else set()


def _firewalld_coverage(text: str) -> Coverage:
    state = parse_firewalld_state(text)
    seen = [
        f"firewalld {'running, zone ' + state.default_zone if state.running else 'not running'}"
    ]
    denies = state.running and state.default_zone not in ("trusted", "")
    return seen, {"ipv4", "ipv6"} if denies else set()


#: Each firewall's fact, an exit status that is still an answer (None: only success is), and
#: the reader of its output; in the order their descriptions are shown.
_FIREWALLS: tuple[tuple[str, int | None, Callable[[str], Coverage]], ...] = (
    ("nft_ruleset", None, _nft_coverage),
    ("iptables_rules", None, _iptables_coverage),
    ("ufw_status", None, _ufw_coverage),
    ("firewalld_state", FIREWALLD_NOT_RUNNING, _firewalld_coverage),
)


@check(
    facts=("nft_ruleset", "iptables_rules", "ufw_status", "firewalld_state"),
    params={
        "require_ipv6": Param(
            False, "also require IPv6 inbound traffic to be default-deny (set on dual-stack)"
        )
    },
)
def fw_host_firewall_active(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    seen: list[str] = []
    covered: set[str] = set()
    unreadable: list[str] = []
    for name, answer_status, coverage in _FIREWALLS:
        fact = facts.get(name)
        if fact.ok or (answer_status is not None and fact.exit_status == answer_status):
            s, c = coverage(fact.text)
            seen += s
            covered |= c
        elif not fact.command_missing:
            unreadable.append(f"{name} (exit {fact.exit_status})")

    needed = {"ipv4", "ipv6"} if params["require_ipv6"] else {"ipv4"}
    actual = _cap(seen) or "no firewall tooling found"
    evidence = Evidence(
        f"default-deny inbound for {', '.join(sorted(needed))}", actual, "nft_ruleset"
    )
    if needed <= covered:
        note = "" if "ipv6" in covered else " (IPv6 not filtered)"
        return passed(f"inbound traffic is default-deny{note}: {actual}", evidence)
    if unreadable:
        return errored(f"could not read {', '.join(unreadable)}; seen: {actual}", evidence)
    missing = ", ".join(sorted(needed - covered))
    return failed(f"no default-deny inbound filter for {missing}", evidence)


# --- mandatory access control -------------------------------------------------------------


@check(
    facts=("mac_status",),
    params={
        "require_all_enforce": Param(
            False, "AppArmor: fail when any loaded profile is in complain mode"
        )
    },
)
def hardening_mac_enforcing(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    mac = facts.parsed("mac_status", parse_mac_status)
    expected = "SELinux enforcing, or AppArmor enabled with enforcing profiles"
    if mac.selinux_mode == "enforcing":
        actual = f"SELinux enforcing (config SELINUX={mac.selinux_configured or 'unknown'})"
        persistent = mac.selinux_configured in ("enforcing", "")
        return judge(
            persistent,
            "SELinux is enforcing"
            if persistent
            else "SELinux is enforcing now but /etc/selinux/config would not keep it at boot",
            Evidence(expected, actual, "mac_status"),
        )
    aa = (
        f"AppArmor {'enabled' if mac.apparmor_enabled else 'not enabled'}, "
        f"{len(mac.apparmor_enforce)} enforce / {len(mac.apparmor_complain)} complain profiles"
    )
    actual = f"{aa}; SELinux {mac.selinux_mode or 'absent'}"
    if mac.apparmor_enabled and mac.apparmor_enforce:
        if params["require_all_enforce"] and mac.apparmor_complain:
            return failed(
                f"AppArmor profiles in complain mode: {_cap(list(mac.apparmor_complain))}",
                Evidence(expected + " only", actual, "mac_status"),
            )
        return passed(f"AppArmor is enforcing ({aa})", Evidence(expected, actual, "mac_status"))
    return failed(f"no MAC is enforcing: {actual}", Evidence(expected, actual, "mac_status"))


# --- account database permissions -------------------------------------------------------------


def _parse_expectation(spec: str) -> tuple[str, int, str, set[str]]:
    """``"path mode owner group[,group]"`` -> (path, mode, owner, allowed groups)."""
    path, mode, owner, groups = spec.split()
    return path, int(mode, 8), owner, set(groups.split(","))


@check(
    facts=("sensitive_file_perms",),
    params={
        "expectations": Param(
            [
                "/etc/passwd 644 root root",
                "/etc/group 644 root root",
                "/etc/shadow 640 root root,shadow",
                "/etc/gshadow 640 root root,shadow",
                "/etc/passwd- 644 root root",
                "/etc/group- 644 root root",
                "/etc/shadow- 640 root root,shadow",
                "/etc/gshadow- 640 root root,shadow",
            ],
            "'path maxmode owner group[,group]' per file; mode is the most permissive "
            "allowed; backups (ending in '-') may be absent",
        )
    },
)
def hardening_sensitive_file_permissions(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    stats = facts.parsed("sensitive_file_perms", parse_stat_lines)
    bad, checked = [], []
    for spec in params["expectations"]:
        path, mode, owner, groups = _parse_expectation(spec)
        if path not in SENSITIVE_FILES:
            return errored(f"{path} is not collected by the sensitive_file_perms fact")
        st = stats.get(path)
        if st is None:
            if not path.endswith("-"):
                bad.append(f"{path} missing")
            continue
        checked.append(path)
        got = f"{path} {st.mode:o} {st.owner}:{st.group}"
        if not (no_more_permissive(st.mode, mode) and st.owner == owner and st.group in groups):
            bad.append(got)
    expected = _cap(list(params["expectations"]))
    if bad:
        return failed(
            f"unsafe permissions: {_cap(bad)}",
            Evidence(expected, _cap(bad), "sensitive_file_perms"),
        )
    return passed(
        f"{len(checked)} files have safe permissions",
        Evidence(expected, _cap([f"{p} ok" for p in checked]), "sensitive_file_perms"),
    )


# --- encryption at rest -------------------------------------------------------------

_CONTAINER_ROOT_FS = {"overlay", "tmpfs", "aufs", "fuse-overlayfs", "shiftfs", "rootfs"}
_NOT_BLOCK_FS = (
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "ceph",
    "glusterfs",
    "9p",
    "virtiofs",
    "zfs",
    "tmpfs",
    "overlay",
    "squashfs",
)


@check(
    facts=("block_devices",),
    params={
        "data_mountpoints": Param(
            ["/", "/var", "/home", "/srv", "/var/lib"],
            "mount points holding data; those that are not separate mounts are skipped",
        )
    },
)
def hardening_disk_encryption(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    layout = facts.parsed("block_devices", parse_block_devices)
    root = layout.mount_at("/")
    if root is not None and root.fstype in _CONTAINER_ROOT_FS:
        return not_applicable(f"root filesystem is {root.fstype}: container (encrypt the host)")
    encrypted, plain, skipped, unknown = [], [], [], []
    for target in params["data_mountpoints"]:
        mount = layout.mount_at(target)
        if mount is None:
            continue
        if mount.fstype.startswith(_NOT_BLOCK_FS) or mount.fstype.startswith("fuse"):
            skipped.append(f"{target} ({mount.fstype})")
            continue
        dev = layout.device_for(mount)
        if dev is None:
            unknown.append(f"{target} ({mount.source})")
            continue
        ok, chain = layout.encrypted(dev)
        (encrypted if ok else plain).append(f"{target} on {' <- '.join(chain)}")
    actual = "; ".join(
        f"{k}: {_cap(v)}"
        for k, v in (
            ("encrypted", encrypted),
            ("not encrypted", plain),
            ("unverifiable", unknown),
            ("skipped", skipped),
        )
        if v
    )
    evidence = Evidence("every data mount on a dm-crypt device", actual, "block_devices")
    if plain:
        return failed(f"not encrypted: {_cap(plain)}", evidence)
    if unknown:
        return errored(f"backing device not found for {_cap(unknown)}", evidence)
    if not encrypted:
        return not_applicable(f"no local block-device data mounts ({actual or 'none'})", evidence)
    return passed(f"encrypted: {_cap(encrypted)}", evidence)


# --- world-writable files ------------------------------------------------------------------


@check(
    facts=("world_writable",),
    params={
        "allowed_prefixes": Param(
            [], "path prefixes where world-writable entries are accepted (e.g. an upload spool)"
        )
    },
)
def hardening_world_writable_files(facts: Facts, params: Mapping[str, Any]) -> Verdict:
    entries = facts.parsed("world_writable", parse_world_writable)
    allowed = tuple(params["allowed_prefixes"])
    bad = [
        f"{'dir' if e.kind == 'd' else 'file'} {e.mode} {e.owner} {e.path}"
        for e in entries
        if not (allowed and e.path.startswith(allowed))
    ]
    more = " or more" if len(entries) >= WORLD_WRITABLE_LIMIT else ""
    evidence = Evidence(
        "no world-writable files, sticky bit on world-writable dirs",
        _cap(bad) or "none",
        "world_writable",
    )
    return judge(
        not bad,
        f"{len(bad)}{more} world-writable entries: {_cap(bad, 10)}"
        if bad
        else "no world-writable files or non-sticky directories",
        evidence,
    )
