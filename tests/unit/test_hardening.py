"""Firewall, MAC, account-database permission and disk-encryption checks from recorded facts.

nft/iptables fixtures were captured on Debian 12 (nftables 1.0.6, iptables 1.8.9 nf_tables)
inside a scratch network namespace; ufw, firewalld, SELinux and RHEL outputs are written
from the tools' documented formats.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hygie.facts.hardening import (
    no_more_permissive,
    parse_block_devices,
    parse_iptables_input_chains,
    parse_mac_status,
    parse_nft_input_chains,
)
from hygie.model import Fact, Status
from tests.unit.conftest import run_check

FIX = Path(__file__).parent.parent / "fixtures" / "hardening"


def fx(name: str) -> bytes:
    return (FIX / name).read_bytes()


def absent(name: str) -> Fact:
    return Fact(name, b"", exit_status=127)


def firewall(**given: bytes | Fact) -> dict:
    """Firewall facts: tools not given are absent (exit 127)."""
    names = ("nft_ruleset", "iptables_rules", "ufw_status", "firewalld_state")
    return {n: given.get(n, absent(n)) for n in names}


# --- firewall -------------------------------------------------------------


def test_nft_parser_ignores_non_input_and_netdev_chains():
    chains = parse_nft_input_chains(fx("nft_ip_only_drop.txt").decode())
    assert [(c.family, c.default_deny) for c in chains] == [("ip", True), ("ip6", False)]
    firewalld = parse_nft_input_chains(fx("nft_firewalld_rhel9.pass.txt").decode())
    assert [c.name for c in firewalld] == ["filter_INPUT"]


def test_ipv4_only_filter_passes_unless_ipv6_required():
    facts = firewall(nft_ruleset=fx("nft_ip_only_drop.txt"))
    v = run_check("fw_host_firewall_active", facts)
    assert v.status is Status.PASS and "IPv6 not filtered" in v.message
    v = run_check("fw_host_firewall_active", facts, require_ipv6=True)
    assert v.status is Status.FAIL and "ipv6" in v.message


def test_iptables_parser_accepts_bare_iptables_save():
    text = fx("iptables_policy_drop.pass.txt").decode().split("==> ip6tables <==")[0]
    bare = text.replace("==> iptables <==\n", "")
    assert [c.policy for c in parse_iptables_input_chains(bare)] == ["drop"]


def test_firewalld_zones_and_not_running():
    run = run_check(
        "fw_host_firewall_active", firewall(firewalld_state=fx("firewalld_running_public.pass.txt"))
    )
    assert run.status is Status.PASS
    trusted = firewall(firewalld_state=fx("firewalld_running_trusted.fail.txt"))
    assert run_check("fw_host_firewall_active", trusted).status is Status.FAIL
    stopped = Fact("firewalld_state", fx("firewalld_not_running.fail.txt"), exit_status=252)
    v = run_check("fw_host_firewall_active", firewall(firewalld_state=stopped))
    assert v.status is Status.FAIL and "firewalld not running" in v.evidence[0].actual


def test_no_firewall_tool_at_all_fails():
    v = run_check("fw_host_firewall_active", firewall())
    assert v.status is Status.FAIL and v.evidence[0].actual == "no firewall tooling found"


def test_unreadable_ruleset_is_error_not_fail():
    denied = Fact("nft_ruleset", b"", b"Operation not permitted\n", exit_status=1)
    v = run_check(
        "fw_host_firewall_active",
        firewall(nft_ruleset=denied, ufw_status=fx("ufw_inactive.fail.txt")),
    )
    assert v.status is Status.ERROR and "nft_ruleset (exit 1)" in v.message
    # ...but a readable default-deny elsewhere is enough to pass
    v = run_check(
        "fw_host_firewall_active",
        firewall(nft_ruleset=denied, iptables_rules=fx("iptables_policy_drop.pass.txt")),
    )
    assert v.status is Status.PASS


# --- MAC ---------------------------------------------------------------------------------------


def test_apparmor_complain_profiles_param():
    facts = {"mac_status": fx("mac_status_apparmor_debian12.pass.txt")}
    v = run_check("hardening_mac_enforcing", facts, require_all_enforce=True)
    assert v.status is Status.FAIL and "/usr/sbin/cupsd" in v.message
    mac = parse_mac_status(facts["mac_status"].decode())
    assert "nvidia_modprobe//kmod" in mac.apparmor_enforce


def test_selinux_mode_from_sysfs_when_getenforce_missing():
    text = "==> selinux_enforce <==\n1\n==> getenforce <==\n==> selinux_config <==\n"
    assert parse_mac_status(text).selinux_mode == "enforcing"


# --- permissions -------------------------------------------------------------


def test_permissions_fail_lists_offenders_and_tolerates_missing_backups():
    v = run_check(
        "hardening_sensitive_file_permissions",
        {"sensitive_file_perms": fx("perms_shadow_readable.fail.txt")},
    )
    assert v.status is Status.FAIL
    for bad in ("/etc/passwd 664", "/etc/shadow 644", "/etc/gshadow- 640 root:adm"):
        assert bad in v.message
    assert "/etc/group 644" not in v.message and "missing" not in v.message


def test_permissions_missing_primary_file_fails():
    v = run_check(
        "hardening_sensitive_file_permissions",
        {"sensitive_file_perms": b"/etc/passwd 644 root root\n"},
    )
    assert v.status is Status.FAIL and "/etc/shadow missing" in v.message


def test_permissions_uncollected_expectation_is_error():
    v = run_check(
        "hardening_sensitive_file_permissions",
        {"sensitive_file_perms": fx("perms_debian12.pass.txt")},
        expectations=["/etc/sudoers 440 root root"],
    )
    assert v.status is Status.ERROR


def test_mode_comparison_includes_special_bits():
    assert no_more_permissive(0o600, 0o640) and no_more_permissive(0, 0o640)
    assert not no_more_permissive(0o4640, 0o640)
    assert not no_more_permissive(0o660, 0o644)


# --- disk encryption -------------------------------------------------------------


def test_disk_encryption_reports_which_mounts():
    v = run_check(
        "hardening_disk_encryption", {"block_devices": fx("block_devices_rhel9_home_only.fail.txt")}
    )
    assert "/ on rhel-root(lvm) <- nvme0n1p3(part) <- nvme0n1(disk)" in v.message
    assert "/home on luks-" in v.evidence[0].actual
    raid = run_check(
        "hardening_disk_encryption", {"block_devices": fx("block_devices_raid_luks.pass.txt")}
    )
    assert "/srv (nfs4)" in raid.evidence[0].actual  # network mounts are skipped, not judged


def test_disk_encryption_param_and_lsblk_missing():
    layout = fx("block_devices_debian_luks_lvm.pass.txt")
    v = run_check(
        "hardening_disk_encryption", {"block_devices": layout}, data_mountpoints=["/boot"]
    )
    assert v.status is Status.FAIL
    from hygie.registry import MissingFact

    with pytest.raises(MissingFact):
        run_check("hardening_disk_encryption", {"block_devices": absent("block_devices")})


def test_raid_member_needs_every_parent_encrypted():
    text = (
        '==> lsblk <==\nNAME="sda1" KNAME="sda1" TYPE="part" FSTYPE="" MOUNTPOINT="" PKNAME=""\n'
        'NAME="sdb1" KNAME="sdb1" TYPE="part" FSTYPE="" MOUNTPOINT="" PKNAME=""\n'
        'NAME="c1" KNAME="dm-0" TYPE="crypt" FSTYPE="" MOUNTPOINT="" PKNAME="sda1"\n'
        'NAME="md0" KNAME="md0" TYPE="raid1" FSTYPE="ext4" MOUNTPOINT="/srv" PKNAME="dm-0"\n'
        'NAME="md0" KNAME="md0" TYPE="raid1" FSTYPE="ext4" MOUNTPOINT="/srv" PKNAME="sdb1"\n'
        "==> mounts <==\n/dev/md0 /srv ext4 rw 0 0\n"
    )
    layout = parse_block_devices(text)
    ok, _chain = layout.encrypted(layout.device_for(layout.mount_at("/srv")))
    assert not ok


# --- world-writable ------------------------------------------------------------------------


def test_world_writable_none_passes():
    facts = {"world_writable": fx("world_writable_none_debian12.pass.txt")}
    assert run_check("hardening_world_writable_files", facts).status is Status.PASS


def test_world_writable_found_fails_with_paths_containing_spaces():
    facts = {"world_writable": fx("world_writable_found.fail.txt")}
    v = run_check("hardening_world_writable_files", facts)
    assert v.status is Status.FAIL
    assert "file 666 root /var/tmp/hyg_ww/data export.csv" in v.message
    assert "dir 777 root /var/tmp/hyg_ww/sub" in v.message
    ok = run_check("hardening_world_writable_files", facts, allowed_prefixes=["/var/tmp/hyg_ww/"])
    assert ok.status is Status.PASS


def test_world_writable_without_gnu_find_is_error():
    from hygie.registry import MissingFact

    with pytest.raises(MissingFact):
        run_check("hardening_world_writable_files", {"world_writable": absent("world_writable")})
