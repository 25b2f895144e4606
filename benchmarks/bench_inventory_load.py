"""Inventory loading at fleet scale: load time and peak memory for 1,000 to 50,000 hosts.

A CMDB export of a hospital group's fleet is tens of thousands of hosts; the YAML loader
(hygie.yamlfile: libyaml's event parser, nodes built without recursion, each value checked
against the limits) must load it in a few seconds with memory proportional to the file.
Each size is generated in a temporary directory (groups with vars, hosts with address,
tags, some with a port, a user or network settings, one anchored vars block reused by
alias) and loaded by ``hygie.inventory.load_inventory`` in a fresh interpreter, so the
peak RSS of one size is not the high-water mark of a previous one. Prints per size:
  bytes     the file's size
  load      wall time of load_inventory (parse, nodes, validation, Targets)
  peak RSS  resource.getrusage(RUSAGE_SELF).ru_maxrss after the load, and its growth over
            the interpreter that has already loaded a 2-host inventory (whose first load
            imports the check registry): the load's own cost
Goal: 50,000 hosts in < 5 s and < 500 MB of growth. Also prints which parser was used.

Run from the repository root:  python3 benchmarks/bench_inventory_load.py [HOSTS...]
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = (1_000, 10_000, 50_000)
HOSTS_PER_GROUP = 250


def inventory_text(hosts: int) -> str:
    """A plausible export: defaults, one group per HOSTS_PER_GROUP hosts, every host's vars."""
    lines = [
        "defaults: {user: audit, become: sudo, key: ~/.ssh/id_ed25519, connect_timeout: 10}",
        "groups:",
    ]
    for g in range(0, hosts, HOSTS_PER_GROUP):
        names = ", ".join(f"host-{i:05d}" for i in range(g, min(g + HOSTS_PER_GROUP, hosts)))
        site = f"site-{g // HOSTS_PER_GROUP:03d}"
        vars_ = "&common {tags: [linux, managed], timeout: 300}" if g == 0 else "*common"
        lines += [f"  {site}:", f"    vars: {vars_}", f"    hosts: [{names}]"]
    lines.append("hosts:")
    for i in range(hosts):
        address = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        extra = ""
        if i % 10 == 0:
            extra = ", port: 2222, user: admin"
        elif i % 25 == 1:
            extra = ", network: {allowed_ports: [22, 443], tls_ports: [443]}"
        lines.append(f"  host-{i:05d}: {{address: {address}, tags: [web, dmz]{extra}}}")
    return "\n".join(lines) + "\n"


def child(path: Path) -> None:
    """Load one inventory and print: seconds, peak RSS kB, RSS kB before, parser, hosts."""
    from hygie import yamlfile
    from hygie.inventory import load_inventory

    warm = path.with_name("warm-up.yaml")  # the first load imports the check registry
    warm.write_text(inventory_text(2), encoding="utf-8")  # host 1: network
    load_inventory(warm)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    inventory = load_inventory(path)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    parser = "libyaml" if yamlfile.CParser is not None else "pure-python"
    print(elapsed, peak, before, parser, len(inventory.targets))


def main(sizes: tuple[int, ...]) -> None:
    root = Path(__file__).resolve().parents[1]
    print(f"{'hosts':>7} {'bytes':>12} {'load':>8} {'peak RSS':>10} {'growth':>10}  parser")
    with tempfile.TemporaryDirectory() as tmp:
        for hosts in sizes:
            path = Path(tmp) / f"inventory-{hosts}.yaml"
            path.write_text(inventory_text(hosts), encoding="utf-8")
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(path)],
                cwd=root,
                capture_output=True,
                text=True,
                check=True,
                timeout=600,
            ).stdout.split()
            elapsed, peak, before, parser, loaded = float(out[0]), *map(int, out[1:3]), *out[3:]
            assert int(loaded) == hosts, f"loaded {loaded} hosts of {hosts}"
            print(
                f"{hosts:>7,} {path.stat().st_size:>12,} {elapsed:>6.2f} s "
                f"{peak / 1024:>7.0f} MB {(peak - before) / 1024:>7.0f} MB  {parser}",
                flush=True,
            )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(Path(sys.argv[2]))
    else:
        main(tuple(int(a) for a in sys.argv[1:]) or SIZES)
