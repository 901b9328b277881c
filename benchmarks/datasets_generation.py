"""How long ``synthetic_retailer`` takes and how much memory it needs, per size.

There is no peer library that generates this kind of data, so this benchmark measures omnicore alone
against the target from issue 2: 100,000 customers in a few seconds. Each size runs in a fresh
subprocess so that its peak resident memory is its own.

    PYTHONPATH=src /work/venv/bin/python benchmarks/datasets_generation.py \
        [--size 20000 100000] [--purchases-size 1000000] [--seed 0]

``--purchases-size`` times :func:`synthetic_transactions` (the purchases alone) at those sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

_CHILD = """
import json, resource, sys, time
from omnicore.datasets import synthetic_retailer, synthetic_transactions
n, seed, what = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
generate = synthetic_retailer if what == "retailer" else synthetic_transactions
generate(200, seed=seed)  # imports and first-call overheads out of the measurement
wall, cpu = time.perf_counter(), time.process_time()
data = generate(n, seed=seed)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"what": what, "customers": n, "wall_s": wall, "cpu_s": cpu, "peak_mib": peak_mib,
                  "transactions": len(data.transactions), "events": len(getattr(data, "events", ())),
                  "identifier_rows": len(getattr(data, "identifiers", ()))}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--purchases-size", type=int, nargs="*", default=[1_000_000])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    jobs = [(size, "retailer") for size in args.size] + [(size, "purchases") for size in args.purchases_size]
    for size, what in jobs:
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(size), str(args.seed), what],
            check=True,
            capture_output=True,
            text=True,
            env=os.environ.copy(),
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    header = (
        "generator",
        "customers",
        "wall s",
        "cpu s",
        "peak MiB",
        "transactions",
        "events",
        "identifiers",
    )
    print(" | ".join(f"{h:>12}" for h in header))
    for r in rows:
        cells = (
            r["what"],
            f"{r['customers']:,}",
            f"{r['wall_s']:.2f}",
            f"{r['cpu_s']:.2f}",
            f"{r['peak_mib']:.0f}",
            f"{r['transactions']:,}",
            f"{r['events']:,}",
            f"{r['identifier_rows']:,}",
        )
        print(" | ".join(f"{c:>12}" for c in cells))
    for r in rows:
        rate = r["customers"] / r["cpu_s"]
        print(
            f"{r['what']} at {r['customers']:,} customers: {rate:,.0f} customers per CPU second "
            "(target: 100,000 customers in a few seconds)"
        )
    load = os.getloadavg()[0]
    print(
        f"load average during the run: {load:.1f} on {os.cpu_count()} cores (wall time includes contention)"
    )


if __name__ == "__main__":
    main()
