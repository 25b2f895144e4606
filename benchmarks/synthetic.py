"""A synthetic fleet scan: N hosts x M checks, judged by the real checks on recorded facts.

Report renderers must stay fast and readable at hospital-fleet scale (5,000 hosts x 100
checks) and must keep hostile strings from targets inert. Neither can be shown on the
six-host lab, so this module builds a :class:`hygie.model.Scan` from the recorded facts in
``tests/fixtures`` (real sshd -T, shadow, nft... outputs, passing and failing), judged by
the real registry checks through the real evaluator: messages, evidence and fact hashes are
what a live scan would produce. Hosts differ the way a real fleet does: a few dozen
configuration archetypes, some hosts with a local change (their own /etc/passwd), some
unreachable. ``hostile=True`` plants script tags, quotes, event handlers and control
characters in host names, fact contents, messages and host errors.

The registry has fewer than 100 checks; for a larger M each extra check is a copy of a
real one under a new id (``<id>__2``), with the same metadata and verdicts, and is returned
in the checks mapping to hand to ``build_report(checks=...)``: the global registry is never
touched.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from datetime import date
from pathlib import Path

from hygie.evaluate import evaluate_host
from hygie.factspec import all_facts
from hygie.model import Evidence, Fact, HostScan, Result, Scan, Status
from hygie.policy import Policy, Selection
from hygie.registry import CheckMeta, all_checks
from hygie.reports.attest import Attestation, Waiver

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
SCAN_START = 1_717_200_000.0  # 2024-06-01T00:00:00Z: fixed, so reports are reproducible
TODAY = date(2024, 6, 1)

# Fixture files are named <fact>_<case>.<outcome>.txt; these facts use a shorter prefix.
_PREFIXES = {
    "firewalld": "firewalld_state",
    "iptables": "iptables_rules",
    "nft": "nft_ruleset",
    "perms": "sensitive_file_perms",
    "ufw": "ufw_status",
    "apt_sim": "apt_upgrade_simulation",
    "dnf": "dnf_security_updates",
    "yum": "dnf_security_updates",
    "index_age": "package_index_age",
    "kernels": "kernel_packages",
    "reboot": "reboot_required",
    "file_modes": "sshd_file_modes",
    "host_keys": "ssh_host_keys",
    "sshd_t": "sshd_effective",
}
_OS_RELEASE = {
    "debian": "os_release_debian12",
    "ubuntu": "os_release_ubuntu2004",
    "rhel": "os_release_rhel93",
}
_OTHER_FAMILY = {
    "debian": ("rhel", "yum", "dnf"),
    "ubuntu": ("rhel", "yum", "dnf"),
    "rhel": ("debian", "ubuntu", "apt", "dpkg"),
}
_UNAME = {
    "debian": "6.1.0-18-amd64",
    "ubuntu": "5.15.0-105-generic",
    "rhel": "5.14.0-362.8.1.el9_3.x86_64",
}

_SYNTHESISED = ("uname", "date_utc", "hostname")

HOSTILE = (
    "<script>alert('xss-1')</script>",
    '"><img src=x onerror="alert(2)">',
    "</script><script>alert(3)</script>",
    "' onmouseover='alert(4)' x='",
    "\x1b[31mred\x1b[0m \x00nul \u202eevil\u202c \u2028line\u2029sep",
    "<!-- --><svg onload=alert(5)>&amp;&lt;",
)


def fact_name(stem: str, facts: Mapping[str, object]) -> str | None:
    """The fact a fixture file records, from its name; None for files of no fact."""
    candidates = [n for n in facts if stem.startswith(n)]
    candidates += [f for p, f in _PREFIXES.items() if stem.startswith(p + "_")]
    return max(candidates, key=len) if candidates else None


def fixture_pools() -> dict[str, dict[str, list[Path]]]:
    """For each OS flavour, the recorded outputs of each fact that fit that flavour."""
    facts = all_facts()
    by_fact: dict[str, list[Path]] = {}
    for path in sorted(FIXTURES.glob("*/*.txt")):
        name = fact_name(path.name.split(".")[0], facts)
        if name and name != "os_release":
            by_fact.setdefault(name, []).append(path)
    pools = {}
    for flavour, foreign in _OTHER_FAMILY.items():
        pools[flavour] = {
            name: [p for p in paths if not any(w in p.name for w in foreign)] or paths
            for name, paths in by_fact.items()
        }
    return pools


def judgeable_checks() -> dict[str, CheckMeta]:
    """The registry checks whose facts all have recordings here (checks of services the
    fixtures do not record would only ever say "not assessed")."""
    recorded = set(fixture_pools()["debian"]) | {"os_release", *_SYNTHESISED}
    return {k: m for k, m in all_checks().items() if set(m.facts) <= recorded}


def synthetic_checks(count: int) -> dict[str, CheckMeta]:
    """``count`` checks: the judgeable real ones first, then copies under new ids."""
    real = list(judgeable_checks().values())
    chosen = {}
    for i in range(count):
        meta = real[i % len(real)]
        copy = i // len(real)
        ident = meta.id if copy == 0 else f"{meta.id}__{copy + 1}"
        chosen[ident] = meta if copy == 0 else dataclasses.replace(meta, id=ident)
    return chosen


def _archetype(rng: random.Random, pools, flavour: str, pass_bias: float) -> dict[str, Fact]:
    """One configuration of a host: per fact, a recorded output that mostly passes."""
    raw = {}
    for name, paths in pools[flavour].items():
        passing = [p for p in paths if ".pass." in p.name]
        pick = passing if passing and rng.random() < pass_bias else paths
        raw[name] = rng.choice(pick).read_bytes()
    raw["os_release"] = (FIXTURES / "patching" / f"{_OS_RELEASE[flavour]}.txt").read_bytes()
    raw["uname"] = f"Linux\n{_UNAME[flavour]}\nx86_64\n".encode()
    raw["date_utc"] = b"2024-06-01\n1717200000\n"
    return {k: Fact(k, v) for k, v in raw.items()}


class _Judge:
    """Evaluates each archetype once, and a host's local change only with the checks that
    read the changed facts: the real evaluator, at the cost of a few dozen hosts."""

    def __init__(self, policy: Policy, checks: Mapping[str, CheckMeta]):
        self.policy = policy
        self.checks = checks
        self.cache: dict[tuple, dict[str, Result]] = {}

    def results(
        self, base: int, facts: dict[str, Fact], changed: tuple[str, ...], error: str | None
    ) -> dict[str, Result]:
        key = (base, error, tuple((n, facts[n].sha256) for n in changed))
        if key not in self.cache:
            if error or not changed:
                judged = evaluate_host("h", facts, self.policy, host_error=error)
                self.cache[key] = {r.check_id: r for r in judged}
            else:
                sub = {
                    c: s
                    for c, s in self.policy.selections.items()
                    if set(changed) & set(self.checks[c].facts)
                }
                policy = dataclasses.replace(self.policy, selections=sub)
                again = {r.check_id: r for r in evaluate_host("h", facts, policy)}
                self.cache[key] = self.results(base, facts, (), None) | again
        return self.cache[key]


def _hostile_results(results: list[Result], payload: str) -> list[Result]:
    """The first failure quotes a hostile string in its message and evidence, as a check
    quoting a target's banner or file would."""
    out, done = [], False
    for r in results:
        if not done and r.status is Status.FAIL:
            r = dataclasses.replace(
                r,
                message=f"{r.message} {payload}",
                evidence=(
                    *r.evidence,
                    Evidence(expected="no banner", actual=payload, fact="sshd_effective"),
                ),
            )
            done = True
        out.append(r)
    return out


def synthetic_scan(
    hosts: int,
    checks: int = 48,
    *,
    seed: int = 0,
    hostile: bool = False,
    archetypes: int = 40,
    local_change: float = 0.1,
    unreachable: float = 0.01,
    pass_bias: float = 0.7,
) -> tuple[Scan, dict[str, CheckMeta]]:
    """A judged scan of ``hosts`` hosts and ``checks`` checks, and the checks it used."""
    rng = random.Random(seed)
    metas = synthetic_checks(checks)
    real = judgeable_checks()
    selections = {cid: Selection(cid, m.defaults(), m.severity) for cid, m in metas.items()}
    policy = Policy(
        "synthetic",
        "1",
        "synthetic benchmark policy",
        (),
        {cid: s for cid, s in selections.items() if cid in real},
    )
    pools = fixture_pools()
    flavours = [rng.choice(("debian", "debian", "ubuntu", "rhel")) for _ in range(archetypes)]
    kinds = [(f, _archetype(rng, pools, f, pass_bias)) for f in flavours]
    judge = _Judge(policy, real)
    scan_hosts = []
    for i in range(hosts):
        base = rng.randrange(len(kinds))
        flavour, facts = kinds[base]
        name = f"srv-{i:05d}.ward{i % 40:02d}.chu.example"
        payload = HOSTILE[i % len(HOSTILE)] if hostile and i % 7 == 0 else None
        changed: dict[str, bytes] = {}
        if payload:
            name = f"{name}{payload}"
            changed["sshd_effective"] = facts["sshd_effective"].stdout + (
                f"banner {payload}\n".encode()
            )
        if rng.random() < local_change:
            extra = f"clin{i}:x:{2000 + i}:{2000 + i}:Local user:/home/clin{i}:/bin/bash\n"
            changed["etc_passwd"] = facts["etc_passwd"].stdout + extra.encode()
        facts = facts | {k: Fact(k, v) for k, v in changed.items()}
        facts["hostname"] = Fact("hostname", name.encode() + b"\n")
        error = None
        if rng.random() < unreachable:
            error = f"connect to {name}: timed out" + (f" {payload}" if payload else "")
            facts, changed = {}, {}
        by_id = judge.results(base, facts, tuple(sorted(changed)), error)
        results = []
        for cid in selections:
            r = by_id[cid.split("__")[0]]
            results.append(Result(cid, name, r.status, r.severity, r.title, r.message, r.evidence))
        if payload:
            results = _hostile_results(results, payload)
        start = SCAN_START + i * 0.01
        scan_hosts.append(
            HostScan(
                name=name,
                address=f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}",
                transport="ssh",
                family="unknown" if error else flavour.replace("ubuntu", "debian"),
                facts=facts,
                results=results,
                error=error,
                started=start,
                finished=start + 4.2,
                tags=("icu",) if i % 10 == 0 else (),
            )
        )
    policy_doc = policy.document() | {
        "checks": {
            cid: {"params": s.params, "severity": s.severity.value} for cid, s in selections.items()
        }
    }
    scan = Scan(
        id=f"synthetic-{hosts}x{checks}-{seed}",
        started=SCAN_START,
        finished=SCAN_START + hosts * 0.01 + 5,
        tool_version="0.1.0",
        policy_name=policy.name,
        policy_version=policy.version,
        policy_digest=policy.digest,
        policy_document=policy_doc,
        hosts=scan_hosts,
    )
    return scan, metas


def synthetic_waivers(scan: Scan, *, hostile: bool = False) -> list[Waiver]:
    """One valid waiver on the ICU hosts' first failing check, and one expired waiver."""
    failing = next(
        (
            r.check_id
            for h in scan.hosts
            if "icu" in h.tags
            for r in h.results
            if r.status is Status.FAIL
        ),
        None,
    )
    if failing is None:
        return []
    note = HOSTILE[0] if hostile else ""
    return [
        Waiver(
            id="W-001",
            check_id=failing,
            hosts=(),
            tags=("icu",),
            justification=f"ICU monitors certified as-is by the vendor {note}".strip(),
            requested_by="biomed engineering",
            approved_by="CISO",
            expires=date(2024, 12, 31),
            compensating="isolated VLAN, no internet",
        ),
        Waiver(
            id="W-000",
            check_id=failing,
            hosts=("srv-000*",),
            tags=(),
            justification="migration window",
            requested_by="ops",
            approved_by="CISO",
            expires=date(2024, 1, 31),
            compensating="none",
        ),
    ]


def synthetic_attestations() -> list[Attestation]:
    """An attestation for an organisational control (security awareness training)."""
    return [
        Attestation(
            id="A-001",
            controls={"iso27001_2022": ("A.6.3",)},
            statement="All staff completed the 2024 security awareness training.",
            owner="DPO",
            date=date(2024, 3, 1),
            valid_until=date(2025, 3, 1),
            evidence_file=None,
            evidence_sha256=None,
        ),
    ]
