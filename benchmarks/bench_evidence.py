"""Signed evidence at fleet scale: sealing and storing, exporting, verifying a 1,000-host scan.

Builds a synthetic scan (benchmarks/synthetic.py: the real checks judging recorded facts),
then prints
  store     Store.save with a signing key: the scan's rows, its canonical results, its
            in-toto Statement signed in a DSSE envelope, the chain link
  build     hygie export's work: every fact as a file, results, OSCAL and HTML reports,
            the signed manifest; then written as a tar, and as a directory
  verify    hygie verify BUNDLE: the tar read, every digest and both signatures checked;
            verify/d the same from the directory
  chain     hygie verify latest's chain walk: the link's envelope, signature and subjects
            against the facts and results stored
Goal: each < 5 s at 1,000 hosts.

Run from the repository root:  python3 benchmarks/bench_evidence.py [HOSTS]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.synthetic import synthetic_scan
from hygie.chain import walk
from hygie.export import bundle_files, read_bundle, verify_bundle, write_bundle
from hygie.signing import generate_key
from hygie.store import Store

GOAL_S = 5.0


def timed(label: str, func, *args, **kwargs):
    start = time.perf_counter()
    value = func(*args, **kwargs)
    elapsed = time.perf_counter() - start
    verdict = "ok" if elapsed < GOAL_S else f"OVER the {GOAL_S:.0f} s goal"
    print(f"{label:<9} {elapsed:7.2f} s  {verdict}", flush=True)
    return value


def main(hosts: int = 1000) -> None:
    scan, _ = synthetic_scan(hosts)
    facts = sum(len(h.facts) for h in scan.hosts)
    results = sum(len(h.results) for h in scan.hosts)
    print(f"synthetic scan: {hosts} hosts, {facts} facts, {results} results")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        signer = generate_key(work / "signing.key", None)
        store = Store(work / "hygie.db")
        timed("store", store.save, scan, signer)
        tar, folder = work / "bundle.tar", work / "bundle"
        bundle = timed("build", bundle_files, store, scan.id, signer)
        timed("tar", write_bundle, bundle, tar)
        timed("dir", write_bundle, bundle, folder)
        print(f"bundle    {tar.stat().st_size / 1e6:7.2f} MB, {len(bundle.files)} files")
        check = timed("verify", lambda: verify_bundle(read_bundle(tar)))
        timed("verify/d", lambda: verify_bundle(read_bundle(folder)))
        chain = timed("chain", walk, store)
        store.close()
    problems = check.problems + chain.problems
    print(f"problems  {len(problems)}" + (f": {problems[:3]}" if problems else ""))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
