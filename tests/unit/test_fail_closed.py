"""Fail closed, the pure parts: resolution, failure reasons from a session's output, the
nmap "did it scan the right address" test, inventory network settings, inert text.

The same behaviours against real misbehaving peers are in tests/integration/test_fault_lab.py.
"""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest

from hygie.collect import HEADER_WITHIN, Privilege, collect
from hygie.engine import probe_facts
from hygie.facts.network import scanned_host
from hygie.factspec import FactSpec, network_setting_problems
from hygie.inventory import InventoryError, Target, load_inventory
from hygie.model import Fact
from hygie.resolve import Resolution, resolve, ssh_endpoint
from hygie.script import MARK, build_script
from hygie.text import printable
from hygie.transports.base import CATEGORIES, ExecResult, TransportError

SPECS = [FactSpec("os_release", "cat /etc/os-release", "d")]


class Replay:
    """A transport that returns one recorded session outcome (pure logic under test)."""

    connections = execs = 0

    def __init__(self, result: ExecResult):
        self.result = result

    def connect(self) -> None: ...

    def run(self, command, stdin, timeout, max_bytes, header=None) -> ExecResult:
        return self.result

    def close(self) -> None: ...


def _collect(result: ExecResult, privilege: Privilege | None = None) -> TransportError:
    with pytest.raises(TransportError) as caught:
        collect(
            Replay(result),
            SPECS,
            privilege or Privilege(),
            10,
            where="db1 at 192.0.2.9:22",
            deadline_label="timeout 60s",
        )
    assert caught.value.kind in CATEGORIES and "db1 at 192.0.2.9:22" in caught.value.message
    return caught.value


def _framed(*, done: bool, missing: str = "") -> bytes:
    lines = [
        f"{MARK} START 1 0",
        f"{MARK} TOOLS{missing}",
        f"{MARK} BEGIN os_release",
        "49 44 3d 64 65 62 69 61 6e 0a",
        f"{MARK} STDERR",
        f"{MARK} END os_release 0",
    ]
    if done:
        lines.append(f"{MARK} DONE")
    return ("\n".join(lines) + "\n").encode()


def test_each_session_outcome_gets_its_category():
    flood = _collect(ExecResult(b"y\n" * HEADER_WITHIN, b"", None, capped=True))
    assert flood.kind == "output-cap" and "without the collection header" in flood.message
    capped = _collect(ExecResult(_framed(done=False), b"", None, capped=True))
    assert capped.kind == "output-cap" and "output exceeded" in capped.message
    hung = _collect(ExecResult(b"", b"", None, timed_out=True))
    assert hung.kind == "timeout" and "deadline (timeout 60s)" in hung.message
    dropped = _collect(ExecResult(_framed(done=False), b"", None))
    assert dropped.kind == "dropped" and "1 of 1 facts" in dropped.message
    cut = _collect(ExecResult(_framed(done=False), b"", 0))
    assert cut.kind == "dropped"
    partial = _collect(ExecResult(_framed(done=True, missing=" awk dpkg-query rpm"), b"", 0))
    assert partial.kind == "partial" and "awk, dpkg-query, rpm" in partial.message


def test_sudo_refusals_name_the_fix_and_never_the_password():
    secret = Privilege("sudo", "hunter2-secret")
    asked = _collect(
        ExecResult(b"", b"sudo: a password is required for hunter2-secret\n", 1), secret
    )
    assert asked.kind == "privilege" and "sudo needs a password" in asked.message
    assert "hunter2-secret" not in asked.message
    absent = _collect(ExecResult(b"", b"sh: 1: sudo: not found\n", 127), Privilege("sudo"))
    assert absent.kind == "partial" and "missing tools on the target: sudo" in absent.message
    banner = _collect(ExecResult(b"Welcome!\x1b[2J\n", b"", 0))
    assert banner.kind == "exec" and "\x1b" not in banner.message


def test_the_script_reports_only_missing_tools_it_checked():
    script = build_script(SPECS)
    assert f"{MARK} TOOLS" in script and "dpkg-query rpm" in script


def test_resolution_prefers_inventory_then_ssh_config(tmp_path: Path):
    config_file = tmp_path / "config"
    config_file.write_text("Host pacs1\n  HostName 192.0.2.15\n  Port 2222\n  User audit\n")
    config = paramiko.SSHConfig.from_path(str(config_file))
    alias = resolve("pacs1", None, config)
    assert alias.address == "192.0.2.15" and alias.endpoint.source == "ssh_config"
    assert alias.endpoint.port == 2222 and alias.endpoint.user == "audit"
    given = resolve("pacs1", "192.0.2.99", config)
    assert given.address == "192.0.2.99" and given.endpoint.source == "inventory"
    literal = resolve("198.51.100.7", None, None)
    assert literal.address == "198.51.100.7" and literal.hostname is None


def test_probes_of_an_unresolved_target_fail_with_the_reason():
    ran = []
    spec = FactSpec("ports", "", "d", probe=lambda ctx: ran.append(ctx) or b"")
    target = Target(name="ghost", transport="none")
    endpoint = ssh_endpoint("ghost", None)
    failed = Resolution("ghost", endpoint, error="cannot resolve host name 'ghost'")
    facts = probe_facts(target, [spec], {}, 1e12, failed)
    assert not ran and facts["ports"].exit_status == 1
    assert b"cannot resolve host name" in facts["ports"].stderr


def test_a_probe_is_not_run_on_a_failed_input_and_sees_only_what_it_requires():
    seen = {}
    specs = [
        FactSpec("ports", "", "d", probe=lambda ctx: (_ for _ in ()).throw(OSError("down"))),
        FactSpec("tls", "", "d", requires=("ports",), probe=lambda ctx: b""),
        FactSpec("wire", "", "d", probe=lambda ctx: seen.update(ctx.facts) or b"ok"),
    ]
    facts = probe_facts(
        Target("h", "192.0.2.1"),
        specs,
        {"other": Fact("other", b"x")},
        1e12,
        resolve("h", "192.0.2.1", None),
    )
    assert facts["tls"].exit_status == 1 and b"needs ports, which failed" in facts["tls"].stderr
    assert seen == {}  # "wire" requires nothing, so it is handed nothing


@pytest.mark.parametrize(
    ("xml", "stderr"),
    [
        (
            "<nmaprun><runstats><hosts up='0' down='0' total='0'/></runstats></nmaprun>",
            'Failed to resolve "pacs1".',
        ),
        ("<nmaprun><host><status state='down'/><address addr='192.0.2.7'/></host></nmaprun>", ""),
        (
            "<nmaprun><host><status state='up'/><address addr='192.0.2.8'/><ports/>"
            "</host></nmaprun>",
            "",
        ),
    ],
)
def test_nmap_must_show_the_resolved_address_up(xml, stderr):
    with pytest.raises(RuntimeError, match=r"nmap did not scan 192\.0\.2\.7"):
        scanned_host({"xml": xml, "stderr": stderr}, "192.0.2.7")


def test_unknown_network_settings_are_refused_with_the_closest_key(tmp_path: Path):
    assert network_setting_problems({"tls_port": [443]}) == [
        ("tls_port", "network.tls_port: unknown network setting; did you mean 'tls_ports'?")
    ]
    assert network_setting_problems({"tls_ports": [443], "ports": [22], "hl7_ports": [2575]}) == []
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(
        "hosts:\n  pacs1:\n    network:\n      allowed_ports: [104]\n      tls_port: [443]\n"
    )
    with pytest.raises(InventoryError, match=r"inv.yaml:5: host pacs1: network.tls_port"):
        load_inventory(inventory)
    inventory.write_text("hosts:\n  pacs1:\n    network:\n      dicom_ae_title: 'x\\\\y'\n")
    with pytest.raises(InventoryError, match=r"inv.yaml:4: .*dicom_ae_title"):
        load_inventory(inventory)


def test_hostile_text_is_one_inert_line():
    hostile = "ok\x1b[2J\u202egnp.exe\n" + "A" * 500
    clean = printable(hostile, 40)
    assert "\x1b" not in clean and "\u202e" not in clean and "\n" not in clean
    assert clean.endswith("...") and len(clean) == 43
