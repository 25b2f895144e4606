"""What listens on a host, seen from the scanner: nmap port discovery and service detection.

The probe runs nmap in two phases so that one hung service cannot cost the whole host:

1. **discovery**: one nmap run finds open ports (SYN scan as root, connect scan otherwise)
   on the configured TCP set, which always includes the health ports (nmap's top-1000
   list contains none of the DICOM/HL7 ports) and the ports the checks judge, plus UDP
   161 as root (UDP scanning needs raw sockets: unprivileged scans cannot judge SNMP);
2. **version**: one short nmap ``-sV`` run per open port, a few at a time (then, on VNC
   and SNMP ports only, a run with one NSE script of the "safe" category), each with its
   own ``--host-timeout`` (``network: {version_timeout: s}``, default 30). nmap throws
   away every result of a host that times out, so a tarpit on one port would otherwise
   erase the other ports' services too. Services nmap cannot identify make it try every
   probe, each waiting for an answer: they hit this limit and are then named by their
   port number, which the evidence says.

Hosts tagged ``fragile`` (or ``network: {safe: true}``) get only phase 1, as a connect
scan with one probe in flight and a low packet rate: no version probes, no scripts.

The fact is a JSON record of every nmap run with its exact argv and raw XML output: the
XML is the evidence, :func:`parse_nmap_services` is the one reader every check uses.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from defusedxml import ElementTree

from hygie.factspec import ProbeContext, probe_fact

#: The ports the network checks judge (cleartext logins, r-services, databases and caches,
#: RDP, SMB, VNC): 6379, 9200 and 27017 are not in nmap's top-1000 list either.
AUDITED_PORTS = (21, 23, 139, 445, 512, 513, 514, 1433, 3306, 3389, 5432, 5900, 6379, 9200, 27017)
DEFAULT_UDP_PORTS = (161,)
#: NSE scripts from nmap's "safe" category, by the service -sV found: which VNC security
#: types are offered; whether SNMP answers community "public". They run in a second short
#: nmap run on those ports only (loading NSE for every port costs seconds of CPU each).
SCRIPTS = {"vnc": "vnc-info", "snmp": "snmp-sysdescr"}
VERSION_WORKERS = 4
QUIET_NOTE = "not version-probed: a clinical protocol port, identified by hygie's own probe"
FORMAT = "hygie-nmap/1"

_HOSTNAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?$")
_PORT_SPEC = re.compile(r"^(\d{1,5})(?:/(tcp|udp))?$")


class SettingsError(ValueError):
    """A ``network:`` inventory value hygie cannot use (the message names the key)."""


# -- inventory settings ------------------------------------------------------------------


def port_list(settings: Mapping[str, Any], key: str) -> tuple[tuple[str, int], ...] | None:
    """``key`` as (protocol, port) pairs; ints are TCP, strings may say ``161/udp``."""
    if key not in settings or settings[key] is None:
        return None
    value = settings[key]
    if not isinstance(value, list):
        raise SettingsError(f"network.{key} must be a list of ports (22 or '161/udp')")
    out = []
    for item in value:
        m = _PORT_SPEC.match(str(item)) if isinstance(item, int | str) else None
        if isinstance(item, bool) or not m or not 0 < int(m[1]) < 65536:
            raise SettingsError(f"network.{key}: {item!r} is not a port (22 or '161/udp')")
        out.append((m[2] or "tcp", int(m[1])))
    return tuple(dict.fromkeys(out))


def _number(settings: Mapping[str, Any], key: str, default, low: float, high: float):
    value = settings.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise SettingsError(f"network.{key} must be a number from {low} to {high}")
    return value


def _flag(settings: Mapping[str, Any], key: str, default: bool) -> bool:
    value = settings.get(key, default)
    if not isinstance(value, bool):
        raise SettingsError(f"network.{key} must be true or false")
    return value


@dataclass(frozen=True)
class ScanSettings:
    """The nmap part of a host's ``network:`` settings, validated."""

    tcp_ports: tuple[int, ...] | None = None  # None: nmap's top ``top_ports``
    udp_ports: tuple[int, ...] = DEFAULT_UDP_PORTS
    top_ports: int = 1000
    scan_type: str = "auto"  # auto | connect | syn
    timing: int = 4
    max_rate: float | None = None
    host_timeout: float | None = None
    version_detection: bool = True
    version_timeout: float = 30.0
    version_intensity: int = 7
    safe: bool = False
    safe_rate: float = 10.0

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], tags: Iterable[str]) -> ScanSettings:
        ports = port_list(settings, "ports")
        udp = port_list(settings, "udp_ports")
        scan_type = settings.get("scan_type", "auto")
        if scan_type not in ("auto", "connect", "syn"):
            raise SettingsError("network.scan_type must be auto, connect or syn")
        return cls(
            tcp_ports=None if ports is None else tuple(p for proto, p in ports if proto == "tcp"),
            udp_ports=DEFAULT_UDP_PORTS if udp is None else tuple(p for _, p in udp),
            top_ports=int(_number(settings, "top_ports", 1000, 1, 65535)),
            scan_type=scan_type,
            timing=int(_number(settings, "timing", 4, 0, 5)),
            max_rate=_number(settings, "max_rate", None, 0.1, 1e6),
            host_timeout=_number(settings, "host_timeout", None, 5, 86400),
            version_detection=_flag(settings, "version_detection", True),
            version_timeout=float(_number(settings, "version_timeout", 30, 2, 3600)),
            version_intensity=int(_number(settings, "version_intensity", 7, 0, 9)),
            safe=_flag(settings, "safe", "fragile" in tuple(tags)),
            safe_rate=float(_number(settings, "safe_rate", 10, 0.1, 1000)),
        )


def target_address(address: str) -> str:
    """The address as nmap will get it; refuses anything that could read as an option."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        if _HOSTNAME.match(address):
            return address
    raise SettingsError(f"{address!r} is not an IP address or host name")


# -- nmap command lines --------------------------------------------------------------------


def nmap_binary() -> str:
    found = shutil.which("nmap")
    if not found:
        raise FileNotFoundError("nmap is not installed on the scanner (apt install nmap)")
    return found


def top_tcp_ports(count: int, services_file: Path | None = None) -> list[int]:
    """nmap's ``--top-ports`` list, read from its nmap-services frequency table.

    Computed here because nmap's ``-p`` and ``--top-ports`` intersect rather than add up,
    and the health ports must be added to the top ports."""
    path = services_file or Path(nmap_binary()).resolve().parent.parent / "share/nmap/nmap-services"
    ranked = []
    for line in path.read_text(errors="replace").splitlines():
        fields = line.split("\t")
        if len(fields) < 3 or line.startswith("#") or not fields[1].endswith("/tcp"):
            continue
        ranked.append((float(fields[2]), int(fields[1].split("/")[0])))
    ranked.sort(key=lambda r: (-r[0], r[1]))
    return [port for _, port in ranked[:count]]


def _privileged() -> bool:
    return os.geteuid() == 0


def scan_flags(cfg: ScanSettings, privileged: bool) -> list[str]:
    """Scan type and pacing, shared by both phases."""
    if cfg.safe:
        # One connection at a time, a few packets a second, full TCP handshakes (half-open
        # SYN scans are what crashes fragile embedded stacks).
        return [
            "-sT",
            "-T2",
            "--max-parallelism",
            "1",
            "--max-rate",
            f"{cfg.safe_rate:g}",
            "--max-retries",
            "1",
        ]
    if cfg.scan_type == "syn" and not privileged:
        raise SettingsError("network.scan_type syn needs root on the scanner")
    syn = cfg.scan_type == "syn" or (cfg.scan_type == "auto" and privileged)
    flags = ["-sS" if syn else "-sT", f"-T{cfg.timing}"]
    if cfg.max_rate:
        flags += ["--max-rate", f"{cfg.max_rate:g}"]
    return flags


@dataclass(frozen=True)
class ProbePorts:
    """What the other probes declare (:class:`hygie.factspec.FactSpec`): the ports nmap
    always scans for them, and those it must not version-probe. Read from every registered
    probe, not only the selected ones, so any subset of checks scans the same ports."""

    scanned: frozenset[int] = frozenset()
    quiet: frozenset[int] = frozenset()

    @classmethod
    def declared(cls, settings: Mapping[str, Any]) -> ProbePorts:
        from hygie.factspec import all_facts

        scanned: set[int] = set()
        quiet: set[int] = set()
        for spec in all_facts().values():
            ports = set(spec.scan_ports)
            for key in spec.port_settings:
                ports |= {p for proto, p in port_list(settings, key) or () if proto == "tcp"}
            scanned |= ports
            if not spec.version_probes:
                quiet |= ports
        return cls(frozenset(scanned), frozenset(quiet))


#: Every per-host nmap run: no DNS, no ping (the host is known up), a reason for each port
#: state, XML on standard output.
_HOST_XML = ("-n", "-Pn", "--reason", "-oX", "-")


def discovery_argv(
    address: str, cfg: ScanSettings, privileged: bool, budget: float, probes: ProbePorts
) -> list[str]:
    tcp = list(cfg.tcp_ports) if cfg.tcp_ports is not None else top_tcp_ports(cfg.top_ports)
    tcp = sorted({*tcp, *probes.scanned, *AUDITED_PORTS})
    ports = "T:" + ",".join(map(str, tcp))
    udp = privileged and cfg.udp_ports
    if udp:
        ports += ",U:" + ",".join(map(str, cfg.udp_ports))
    return [
        nmap_binary(),
        *_HOST_XML,
        *scan_flags(cfg, privileged),
        *(["-sU"] if udp else []),
        "-p",
        ports,
        "--host-timeout",
        f"{int(budget)}s",
        *(["-6"] if ":" in address else []),
        address,
    ]


def version_argv(
    address: str,
    cfg: ScanSettings,
    privileged: bool,
    protocol: str,
    port: int,
    budget: float,
    script: str | None = None,
) -> list[str]:
    seconds = f"{max(1, int(budget))}s"
    flags = ["-sU"] if protocol == "udp" else scan_flags(cfg, privileged)[:1]
    scripts = ["--script", script, "--script-timeout", seconds] if script else []
    return [
        nmap_binary(),
        *_HOST_XML,
        *flags,
        f"-T{cfg.timing}",
        "-sV",
        "--version-intensity",
        str(cfg.version_intensity),
        *scripts,
        "--host-timeout",
        seconds,
        "-p",
        f"{protocol[0].upper()}:{port}",
        *(["-6"] if ":" in address else []),
        address,
    ]


# -- running nmap ----------------------------------------------------------------------------


def run_nmap(argv: list[str], timeout: float, phase: str, **extra: Any) -> dict[str, Any]:
    """One nmap run as a JSON-able record; a run killed at ``timeout`` is recorded, not
    raised (the caller decides what an incomplete run means)."""
    started = time.monotonic()
    record: dict[str, Any] = {"phase": phase, **extra, "argv": argv}
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            timeout=max(1.0, timeout),
            check=False,
            stdin=subprocess.DEVNULL,
        )
        record |= {
            "exit_status": proc.returncode,
            "timed_out": b'timedout="true"' in proc.stdout,
            "xml": proc.stdout.decode("utf-8", "replace"),
            "stderr": proc.stderr.decode("utf-8", "replace")[-2000:],
        }
    except subprocess.TimeoutExpired:
        record |= {"exit_status": None, "timed_out": True, "xml": "", "stderr": "killed"}
    record["seconds"] = round(time.monotonic() - started, 3)
    return record


def scan_host(
    address: str, cfg: ScanSettings, deadline: float, probes: ProbePorts = ProbePorts()
) -> dict[str, Any]:
    """Both phases against one address, within ``deadline`` (time.monotonic())."""
    address = target_address(address)
    privileged = _privileged()

    def remaining() -> float:
        return deadline - time.monotonic()

    budget = remaining() - 2
    if cfg.host_timeout:
        budget = min(budget, cfg.host_timeout)
    if budget < 3:
        raise TimeoutError("no time left for nmap discovery")
    argv = discovery_argv(address, cfg, privileged, budget, probes)
    discovery = run_nmap(argv, budget + 2, "discovery")
    runs = [discovery]
    if discovery["timed_out"] or discovery["exit_status"] != 0:
        detail = discovery["stderr"].strip().splitlines()[-1:] or ["timed out"]
        raise RuntimeError(
            f"nmap discovery of {address} failed after {discovery['seconds']:.0f}s: {detail[0]}"
        )
    scanned_host(discovery, address)
    if cfg.version_detection and not cfg.safe:
        open_ports = [
            (p.protocol, p.port)
            for p in _ports(discovery["xml"])
            if p.state == "open" and not (p.protocol == "tcp" and p.port in probes.quiet)
        ]

        def detect(item: tuple[str, int]) -> list[dict[str, Any]]:
            protocol, port = item
            label = f"{port}/{protocol}"
            budget = min(cfg.version_timeout, remaining() - 2)
            if budget < 2:
                return [
                    {
                        "phase": "version",
                        "port": label,
                        "skipped": True,
                        "timed_out": True,
                        "xml": "",
                    }
                ]
            argv = version_argv(address, cfg, privileged, protocol, port, budget)
            done = [run_nmap(argv, budget + 2, "version", port=label)]
            found = [p for p in _ports(done[0]["xml"] or "<x/>") if p.label == label]
            script = SCRIPTS.get(found[0].name) if found and found[0].state == "open" else None
            budget = min(cfg.version_timeout, remaining() - 2)
            if script and budget >= 2:
                argv = version_argv(address, cfg, privileged, protocol, port, budget, script)
                done.append(run_nmap(argv, budget + 2, "scripts", port=label))
            return done

        with ThreadPoolExecutor(max_workers=VERSION_WORKERS) as pool:
            runs += [run for done in pool.map(detect, open_ports) for run in done]
    return {
        "format": FORMAT,
        "address": address,
        "privileged": privileged,
        "safe_mode": cfg.safe,
        "not_version_probed": sorted(probes.quiet),
        "runs": runs,
    }


#: The ``network:`` keys of the nmap probe (see :class:`ScanSettings`).
SCAN_KEYS = (
    "ports",
    "udp_ports",
    "top_ports",
    "scan_type",
    "timing",
    "max_rate",
    "host_timeout",
    "version_detection",
    "version_timeout",
    "version_intensity",
    "safe",
    "safe_rate",
)
PORT_POLICY_KEYS = ("allowed_ports", "forbidden_ports")


def _port_policy(settings: Mapping[str, Any], tags: tuple[str, ...] = ()) -> dict[str, Any]:
    policy = {}
    for key in PORT_POLICY_KEYS:
        ports = port_list(settings, key)
        policy[key] = None if ports is None else [f"{p}/{proto}" for proto, p in ports]
    return policy


@probe_fact(
    "nmap_services",
    "nmap port discovery then per-port service detection (raw XML of every run, with argv)",
    timeout=3600,
    setting_keys=SCAN_KEYS,
    settings=ScanSettings.from_settings,
)
def probe_nmap_services(ctx: ProbeContext) -> bytes:
    cfg = ScanSettings.from_settings(ctx.settings, ctx.tags)
    record = scan_host(ctx.address, cfg, ctx.deadline, ProbePorts.declared(ctx.settings))
    return json.dumps(record, indent=1).encode()


@probe_fact(
    "network_port_policy",
    "the host's allowed/forbidden ports from the inventory (network: settings)",
    timeout=5,
    setting_keys=PORT_POLICY_KEYS,
    settings=_port_policy,
)
def probe_port_policy(ctx: ProbeContext) -> bytes:
    """No packet is sent: the inventory's port policy, recorded with the scan so that
    checks stay pure and an offline re-evaluation judges against the same policy."""
    return json.dumps(_port_policy(ctx.settings), sort_keys=True).encode()


# -- parsing (pure) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Port:
    """One port as nmap saw it. ``method`` is ``probed`` when -sV identified the service,
    ``table`` when the name is only nmap's guess from the port number."""

    protocol: str
    port: int
    state: str
    name: str = ""
    product: str = ""
    version: str = ""
    extrainfo: str = ""
    tunnel: str = ""
    method: str = "table"
    scripts: Mapping[str, str] = field(default_factory=dict)
    version_note: str = ""

    @property
    def label(self) -> str:
        return f"{self.port}/{self.protocol}"

    @property
    def describe(self) -> str:
        """``23/tcp telnet (Linux telnetd)``: what a reader needs in evidence."""
        soft = " ".join(x for x in (self.product, self.version) if x)
        extra = f"; {self.extrainfo}" if self.extrainfo else ""
        how = "" if self.method == "probed" else ", by port number"
        tls = "ssl/" if self.tunnel == "ssl" else ""
        inner = f"{soft}{extra}{how}".strip("; ,")
        return f"{self.label} {tls}{self.name or 'unknown'}" + (f" ({inner})" if inner else "")


@dataclass(frozen=True)
class NmapServices:
    address: str
    privileged: bool
    safe_mode: bool
    udp_scanned: tuple[int, ...]
    version_detection: bool
    ports: tuple[Port, ...]

    @property
    def open_ports(self) -> tuple[Port, ...]:
        return tuple(p for p in self.ports if p.state == "open")

    def open_tcp(self) -> tuple[Port, ...]:
        return tuple(p for p in self.open_ports if p.protocol == "tcp")


def _ports(xml: str) -> list[Port]:
    root = ElementTree.fromstring(xml.encode())
    out = []
    for el in root.iterfind("./host/ports/port"):
        state = el.find("state")
        svc = el.find("service")
        attrs = svc.attrib if svc is not None else {}
        scripts = {s.get("id", ""): s.get("output", "") for s in el.iterfind("script")}
        out.append(
            Port(
                protocol=el.get("protocol", "tcp"),
                port=int(el.get("portid", "0")),
                state=state.get("state", "") if state is not None else "",
                name=attrs.get("name", ""),
                product=attrs.get("product", ""),
                version=attrs.get("version", ""),
                extrainfo=attrs.get("extrainfo", ""),
                tunnel=attrs.get("tunnel", ""),
                method=attrs.get("method", "table"),
                scripts=scripts,
            )
        )
    return out


def scanned_host(run: Mapping[str, Any], address: str) -> None:
    """Raise unless the nmap run demonstrably scanned ``address``: one host up, with that
    address, and its port states. nmap exits 0 when it resolved nothing ("Failed to
    resolve") or found the host down, and an empty port list must then never read as
    "no service reachable"."""
    root = ElementTree.fromstring((run.get("xml") or "<nmaprun/>").encode())
    hosts = root.findall("./host")
    addresses = {a.get("addr") for h in hosts for a in h.iterfind("address")}
    up = [
        h for h in hosts if (h.find("status") is not None and h.find("status").get("state") == "up")
    ]
    said = "; ".join(line for line in (run.get("stderr") or "").splitlines() if line.strip())
    if address not in addresses or not up:
        raise RuntimeError(
            f"nmap did not scan {address}: {len(up)} host(s) up, addresses seen "
            f"{sorted(a for a in addresses if a) or 'none'}{f' ({said[:200]})' if said else ''}"
        )
    if up[0].find("ports") is None:
        raise RuntimeError(f"nmap reported no port states for {address}")


def _scanned_udp(argv: list[str]) -> tuple[int, ...]:
    if "-sU" not in argv:
        return ()
    spec = argv[argv.index("-p") + 1]
    udp = spec.split("U:", 1)[1] if "U:" in spec else ""
    return tuple(int(p) for p in udp.split(",") if p.isdigit())


def parse_nmap_services(raw: bytes | str) -> NmapServices:
    """The ports of the discovery run, each refined by its own version run when that run
    finished in time (``version_note`` says why not otherwise)."""
    doc = json.loads(raw)
    if doc.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} record")
    runs = doc["runs"]
    discovery = next(r for r in runs if r["phase"] == "discovery")
    scanned_host(discovery, doc["address"])
    ports = {p.label: p for p in _ports(discovery["xml"])}
    versions = [r for r in runs if r["phase"] == "version"]
    for run in versions:
        label = run["port"]
        if label not in ports:
            continue
        found = [p for p in _ports(run["xml"]) if p.label == label] if run["xml"] else []
        if run.get("timed_out") or not found:
            why = (
                "skipped: no time left"
                if run.get("skipped")
                else f"version detection did not finish within {run.get('seconds', 0):.0f}s"
            )
            ports[label] = replace(ports[label], version_note=why)
        elif found[0].state == "open":
            ports[label] = found[0]
    quiet = set(doc.get("not_version_probed", ()))
    for label, port in list(ports.items()):
        if port.protocol == "tcp" and port.port in quiet and port.state == "open":
            ports[label] = replace(port, version_note=QUIET_NOTE)
    for run in (r for r in runs if r["phase"] == "scripts" and r["xml"]):
        found = [p for p in _ports(run["xml"]) if p.label == run["port"] and p.scripts]
        if found and run["port"] in ports:
            ports[run["port"]] = replace(ports[run["port"]], scripts=found[0].scripts)
    return NmapServices(
        address=doc["address"],
        privileged=doc["privileged"],
        safe_mode=doc["safe_mode"],
        udp_scanned=_scanned_udp(discovery["argv"]),
        version_detection=bool(versions),
        ports=tuple(sorted(ports.values(), key=lambda p: (p.protocol, p.port))),
    )


def parse_port_policy(raw: bytes | str) -> dict[str, frozenset[str] | None]:
    """``{"allowed_ports": {"22/tcp", ...} or None, "forbidden_ports": ...}``."""
    doc = json.loads(raw)
    return {k: None if v is None else frozenset(v) for k, v in doc.items()}
