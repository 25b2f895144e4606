"""nmap settings, command lines and parsing; port-policy and exposed-service checks on facts
recorded from the namespace lab (tests/fixtures/network, see test_network_lab.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from defusedxml import EntitiesForbidden

from hygie.discover import Discovery, DiscoveryError, inventory_yaml, live_hosts, parse_network
from hygie.facts.cleartext_http import login_kind, parse_http_cleartext
from hygie.facts.network import (
    AUDITED_PORTS,
    Port,
    ProbePorts,
    ScanSettings,
    SettingsError,
    discovery_argv,
    parse_nmap_services,
    port_list,
    scan_flags,
    target_address,
    top_tcp_ports,
)
from hygie.inventory import load_inventory
from hygie.model import Status
from tests.unit.conftest import run_check
from tests.unit.nmap_records import nmap_record

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "network"
HOST_FACTS = ("nmap_services", "network_port_policy", "http_cleartext")


def recorded(host: str) -> dict[str, bytes]:
    return {name: (FIXTURES / f"{host}.{name}.json").read_bytes() for name in HOST_FACTS}


def record(ports_xml: str, argv: list[str] | None = None, safe: bool = False) -> bytes:
    """A minimal nmap_services fact with one discovery run."""
    return nmap_record(ports_xml, argv=argv, safe=safe)


def port_xml(port: int, name: str, proto: str = "tcp", state: str = "open", **attrs) -> str:
    extra = " ".join(f'{k}="{v}"' for k, v in attrs.items())
    return (
        f'<port protocol="{proto}" portid="{port}"><state state="{state}"/>'
        f'<service name="{name}" {extra}/></port>'
    )


# -- settings ---------------------------------------------------------------------------------


def test_port_lists_accept_numbers_and_protocol_strings():
    assert port_list({"p": [22, "161/udp", "443/tcp", 22]}, "p") == (
        ("tcp", 22),
        ("udp", 161),
        ("tcp", 443),
    )
    assert port_list({}, "p") is None


@pytest.mark.parametrize("bad", [[0], [70000], ["ssh"], [True], "22", [22.5]])
def test_bad_port_lists_name_the_key(bad):
    with pytest.raises(SettingsError, match=r"network\.allowed_ports"):
        port_list({"allowed_ports": bad}, "allowed_ports")


def test_fragile_tag_turns_on_safe_mode_and_settings_are_validated():
    assert ScanSettings.from_settings({}, ("fragile",)).safe
    assert not ScanSettings.from_settings({"safe": False}, ("fragile",)).safe
    with pytest.raises(SettingsError, match="scan_type"):
        ScanSettings.from_settings({"scan_type": "xmas"}, ())
    with pytest.raises(SettingsError, match="timing"):
        ScanSettings.from_settings({"timing": 9}, ())


@pytest.mark.parametrize("address", ["-oN/tmp/x", "a b", "--script=x", ""])
def test_addresses_that_could_read_as_options_are_refused(address):
    with pytest.raises(SettingsError):
        target_address(address)


def test_top_ports_follow_nmap_frequencies(tmp_path):
    services = tmp_path / "nmap-services"
    services.write_text(
        "# comment\nhttp\t80/tcp\t0.48\nssh\t22/tcp\t0.18\nsnmp\t161/udp\t0.43\nftp\t21/tcp\t0.19\n"
    )
    assert top_tcp_ports(2, services) == [80, 21]


def test_discovery_always_adds_health_and_audited_ports_and_udp_only_as_root():
    cfg = ScanSettings(tcp_ports=(443,))
    probes = ProbePorts.declared({"hl7_ports": [2576]})
    assert {104, 2575, 2576, 2761, 2762, 4242, 8042, 11112} == probes.scanned
    assert 8042 not in probes.quiet and {104, 2575, 2576} <= probes.quiet
    argv = discovery_argv("192.0.2.7", cfg, privileged=True, budget=60, probes=probes)
    ports = argv[argv.index("-p") + 1]
    tcp = {int(p) for p in ports.split(",U:")[0].removeprefix("T:").split(",")}
    assert tcp == {443, *probes.scanned, *AUDITED_PORTS} and ports.endswith("U:161")
    assert "-sS" in argv and "-sU" in argv and argv[-1] == "192.0.2.7"
    unprivileged = discovery_argv("192.0.2.7", cfg, privileged=False, budget=60, probes=probes)
    assert "-sT" in unprivileged and "-sU" not in unprivileged
    assert unprivileged[unprivileged.index("--host-timeout") + 1] == "60s"


def test_safe_mode_is_one_gentle_connection_at_a_time():
    flags = scan_flags(ScanSettings(safe=True, safe_rate=5), privileged=True)
    assert flags[:2] == ["-sT", "-T2"]
    assert flags[flags.index("--max-parallelism") + 1] == "1"
    assert flags[flags.index("--max-rate") + 1] == "5"
    with pytest.raises(SettingsError, match="root"):
        scan_flags(ScanSettings(scan_type="syn"), privileged=False)


# -- parsing -----------------------------------------------------------------------------------


def test_version_runs_refine_discovery_and_timeouts_are_noted():
    scan = parse_nmap_services(recorded("weak")["nmap_services"])
    by_label = {p.label: p for p in scan.open_ports}
    assert set(by_label) >= {
        "21/tcp",
        "22/tcp",
        "23/tcp",
        "80/tcp",
        "2200/tcp",
        "5900/tcp",
        "6379/tcp",
        "161/udp",
    }
    assert by_label["21/tcp"].product == "vsftpd" and by_label["21/tcp"].method == "probed"
    assert (
        by_label["23/tcp"].method == "table" and "did not finish" in by_label["23/tcp"].version_note
    )
    assert "None (1)" in by_label["5900/tcp"].scripts["vnc-info"]
    assert scan.udp_scanned == (161,) and scan.version_detection


def test_port_description_says_how_the_service_was_named():
    assert Port("tcp", 23, "open", "telnet").describe == "23/tcp telnet (by port number)"
    probed = Port("tcp", 8443, "open", "http", product="nginx", tunnel="ssl", method="probed")
    assert probed.describe == "8443/tcp ssl/http (nginx)"


def test_hostile_xml_is_refused():
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]>'
        "<nmaprun>&b;</nmaprun>"
    )
    doc = {
        "format": "hygie-nmap/1",
        "address": "x",
        "privileged": True,
        "safe_mode": False,
        "runs": [{"phase": "discovery", "argv": [], "xml": bomb}],
    }
    with pytest.raises(EntitiesForbidden):
        parse_nmap_services(json.dumps(doc))


# -- checks on the lab's recorded facts -----------------------------------------------------


def test_port_policy_checks_do_not_apply_without_a_policy():
    facts = recorded("weak") | {
        "network_port_policy": b'{"allowed_ports": null, "forbidden_ports": null}'
    }
    assert run_check("net_ports_allowed", facts).status == Status.NOT_APPLICABLE
    assert run_check("net_ports_forbidden", facts).status == Status.NOT_APPLICABLE


def test_allowed_ports_waive_a_database_but_never_telnet():
    policy = b'{"allowed_ports": ["23/tcp", "6379/tcp"], "forbidden_ports": null}'
    facts = {
        "nmap_services": record(port_xml(23, "telnet") + port_xml(6379, "redis")),
        "network_port_policy": policy,
    }
    db = run_check("net_database_exposed", facts)
    assert db.status == Status.PASS and "accepted by network.allowed_ports" in db.message
    assert run_check("net_telnet_exposed", facts).status == Status.FAIL


def test_identified_protocol_wins_over_the_port_number():
    ssh_on_23 = port_xml(23, "ssh", method="probed", product="OpenSSH")
    telnet_on_2323 = port_xml(2323, "telnet", method="probed")
    ftps = port_xml(21, "ftp", method="probed", tunnel="ssl")
    assert run_check("net_telnet_exposed", {"nmap_services": record(ssh_on_23)}).status == (
        Status.PASS
    )
    assert run_check("net_telnet_exposed", {"nmap_services": record(telnet_on_2323)}).status == (
        Status.FAIL
    )
    assert run_check("net_ftp_cleartext", {"nmap_services": record(ftps)}).status == Status.PASS


def test_snmp_needs_a_udp_scan():
    verdict = run_check("net_snmp_v1_v2c", {"nmap_services": record(port_xml(22, "ssh"))})
    assert verdict.status == Status.ERROR and "root" in verdict.message
    closed = record(port_xml(161, "snmp", "udp", "closed"), ["nmap", "-sU", "-p", "U:161", "x"])
    assert run_check("net_snmp_v1_v2c", {"nmap_services": closed}).status == Status.PASS


def test_safe_mode_cannot_judge_snmp_or_vnc_security():
    facts = {"nmap_services": (FIXTURES / "fragile.nmap_services.json").read_bytes()}
    assert run_check("net_snmp_v1_v2c", facts).status == Status.ERROR
    assert run_check("net_vnc_no_auth", facts).status == Status.ERROR
    assert run_check("net_telnet_exposed", facts).status == Status.FAIL


# -- plain-HTTP logins ----------------------------------------------------------------------


def test_login_kinds():
    assert login_kind(401, {"www-authenticate": 'Basic realm="Orthanc"'}, "").startswith(
        "HTTP Basic"
    )
    assert login_kind(200, {}, "<INPUT class=x TYPE='password' name=p>").startswith("password")
    assert login_kind(200, {}, "<input type=text name=user>") == ""
    assert login_kind(401, {"www-authenticate": "Bearer"}, "") == ""


def test_redirect_to_https_passes_and_unreadable_endpoints_are_errors():
    good = parse_http_cleartext(recorded("good")["http_cleartext"])
    assert good[0].location.startswith("https://") and not good[0].login
    facts = {"http_cleartext": (FIXTURES / "tarpit.http_cleartext.json").read_bytes()}
    verdict = run_check("net_http_login_cleartext", facts)
    assert verdict.status == Status.ERROR and "could not read" in verdict.message


# -- discovery -------------------------------------------------------------------------------

SWEEP = """<?xml version="1.0"?><nmaprun>
<host><status state="up" reason="localhost-response"/><address addr="198.18.0.1" addrtype="ipv4"/></host>
<host><status state="up" reason="arp-response"/><address addr="198.18.0.11" addrtype="ipv4"/>
<address addr="EA:C3:DE:12:57:3C" addrtype="mac"/></host>
<host><status state="up" reason="syn-ack"/><address addr="198.18.0.9" addrtype="ipv4"/></host>
<host><status state="down" reason="no-response"/><address addr="198.18.0.12" addrtype="ipv4"/></host>
</nmaprun>"""  # noqa: E501


def test_live_hosts_leave_out_the_scanner_and_sort_by_address():
    assert live_hosts(SWEEP) == ("198.18.0.9", "198.18.0.11")


@pytest.mark.parametrize("bad", ["10.0.0.0/8", "not-a-net", "198.18.0.0/33"])
def test_discovery_refuses_huge_or_bad_ranges(bad):
    with pytest.raises(DiscoveryError):
        parse_network(bad)


def test_discovered_inventory_loads_as_network_only_targets(tmp_path):
    text = inventory_yaml([Discovery("198.18.0.0/24", ("198.18.0.9", "198.18.0.11"), 1.5, "")])
    assert text.startswith("# hygie discover 198.18.0.0/24")
    path = tmp_path / "inv.yaml"
    path.write_text(text)
    targets = load_inventory(path).targets
    assert [(t.name, t.transport, t.tags) for t in targets] == [
        ("198.18.0.9", "none", ("discovered",)),
        ("198.18.0.11", "none", ("discovered",)),
    ]
    assert yaml.safe_load(text)["groups"]["discovered"]["vars"]["transport"] == "none"


def test_cli_refuses_a_slash_8_before_any_packet():
    proc = subprocess.run(
        [sys.executable, "-m", "hygie.cli", "discover", "10.0.0.0/8"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 3 and "at most a /16" in proc.stderr
