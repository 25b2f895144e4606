"""SSH transport against real sshd hosts: ~/.ssh/config, ProxyJump, host-key policies."""

from __future__ import annotations

import pytest

from tests.integration.conftest import load_results

pytestmark = pytest.mark.lab


def scan(lab_fleet, name: str, *args: str) -> tuple[int, dict, str]:
    out = lab_fleet.workdir / f"{name}.json"
    proc = lab_fleet.hygie("scan", *args, "-p", "nist-800-63b", "--no-store", "-o", str(out), "-q")
    hosts = load_results(out) if out.exists() else {}
    return proc.returncode, hosts, proc.stderr


def test_ssh_config_alias_and_proxy_jump(lab_fleet):
    """`hygie scan target-alias` resolves HostName/User/IdentityFile/ProxyJump from the ssh
    config; the target sees the connection come from the jump host, not the scanner."""
    lab = lab_fleet.lab
    jump, target = lab.address("weak-net"), lab.address("weak-patch")
    config = lab_fleet.workdir / "ssh_config"
    config.write_text(
        f"Host pacs-archive\n  HostName {target}\n  User {lab.user}\n"
        f"  IdentityFile {lab.private_key_path}\n  ProxyJump {jump}\n"
    )
    before = lab.sshd_log("weak-patch").count(f"Connection from {jump}")
    _, hosts, err = scan(
        lab_fleet,
        "jump",
        "pacs-archive",
        "--become",
        "--ssh-config",
        str(config),
        "--known-hosts",
        str(lab.known_hosts_path),
    )
    host = hosts["pacs-archive"]
    assert host["error"] is None, err
    assert host["uid"] == 0 and host["connections"] == 2 and host["execs"] == 1
    assert lab.sshd_log("weak-patch").count(f"Connection from {jump}") == before + 1


def test_unknown_host_key_is_refused_by_default(lab_fleet):
    lab = lab_fleet.lab
    empty = lab_fleet.workdir / "empty_known_hosts"
    empty.write_text("")
    rc, hosts, _ = scan(
        lab_fleet,
        "strict",
        f"{lab.user}@{lab.address('hardened')}",
        "-k",
        str(lab.private_key_path),
        "--known-hosts",
        str(empty),
        "--ssh-config",
        "/dev/null",
    )
    (host,) = hosts.values()
    assert rc == 2 and host["error_category"] == "host-key" and "unknown host key" in host["error"]
    assert "SHA256:" in host["error"] and empty.read_text() == ""


def test_trust_on_first_use_records_the_key_then_verifies_it(lab_fleet):
    lab = lab_fleet.lab
    known = lab_fleet.workdir / "tofu_known_hosts"
    args = [
        f"{lab.user}@{lab.address('hardened')}",
        "-k",
        str(lab.private_key_path),
        "--known-hosts",
        str(known),
        "--ssh-config",
        "/dev/null",
        "--become",
    ]
    _, hosts, _ = scan(lab_fleet, "tofu1", *args, "--trust-on-first-use")
    assert next(iter(hosts.values()))["error"] is None
    assert lab.address("hardened") in known.read_text()
    _, hosts, _ = scan(lab_fleet, "tofu2", *args)  # strict now, and the key is known
    assert next(iter(hosts.values()))["error"] is None


def test_changed_host_key_is_refused_even_with_trust_on_first_use(lab_fleet):
    lab = lab_fleet.lab
    theirs = next(
        line
        for line in lab.known_hosts_path.read_text().splitlines()
        if line.startswith(lab.address("weak-ssh") + " ") and "ssh-ed25519" in line
    )
    wrong = next(
        line.split()[-1]
        for line in lab.known_hosts_path.read_text().splitlines()
        if line.startswith(lab.address("hardened") + " ") and "ssh-ed25519" in line
    )
    forged = lab_fleet.workdir / "forged_known_hosts"
    forged.write_text(" ".join([*theirs.split()[:2], wrong]) + "\n")
    _, hosts, _ = scan(
        lab_fleet,
        "mitm",
        f"{lab.user}@{lab.address('weak-ssh')}",
        "-k",
        str(lab.private_key_path),
        "--known-hosts",
        str(forged),
        "--ssh-config",
        "/dev/null",
        "--trust-on-first-use",
    )
    error = next(iter(hosts.values()))["error"]
    assert error.startswith("host-key:") and "man-in-the-middle" in error


def test_output_sent_after_the_exit_status_is_still_read(lab_fleet):
    """OpenSSH may send a command's exit status before the last of its output: the
    transport reads until EOF, so a large, fast final write is never cut short."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    from hygie.resolve import ssh_endpoint
    from hygie.transports.ssh import SshOptions, SshTransport

    lab = lab_fleet.lab
    address = lab.address("hardened")
    options = SshOptions(known_hosts=lab.known_hosts_path, ssh_config=None, use_agent=False)

    def once(_: int) -> int:
        endpoint = ssh_endpoint(address, None, user=lab.user, keys=(str(lab.private_key_path),))
        deadline = time.monotonic() + 60
        transport = SshTransport(
            "hardened",
            endpoint,
            address,
            options,
            connect_timeout=10,
            deadline=deadline,
            deadline_label="timeout 60s",
        )
        try:
            transport.connect()
            result = transport.run("head -c 3000000 /dev/zero", None, 50, 4_000_000)
        finally:
            transport.close()
        assert result.exit_status == 0
        return len(result.stdout)

    with lab.in_scanner_ns(), ThreadPoolExecutor(8) as pool:
        sizes = list(pool.map(once, range(24)))
    assert sizes == [3_000_000] * 24
