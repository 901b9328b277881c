"""Allocation benchmark: nearest-node and cheapest-full-fill greedy vs omnicore routing and optimisation.

Seeded instances as in issue #3 (small 100 orders x 20 nodes x 200 SKUs, medium 5,000 x 200 x 2,000,
large 50,000 x 1,000 x 20,000; per-node shipment capacity, parcel + per-km + per-unit costs, a penalty
per unfilled unit). All methods run on the same instance in one process and are priced by the same
cost model; the certified lower bound comes from ``optimise``.

    PYTHONPATH=src python benchmarks/allocation_vs_greedy.py --size small
    PYTHONPATH=src python benchmarks/allocation_vs_greedy.py --size medium --time-limit 120
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

from omnicore.allocation import SIZES, allocate_greedy, optimise, random_instance, route_orders

TIME_LIMITS = {"tiny": 10.0, "small": 5.0, "medium": 120.0, "large": 600.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=None, help="optimise budget in seconds")
    parser.add_argument(
        "--window", type=int, default=25, help="orders per window for windowed routing (0: skip it)"
    )
    parser.add_argument(
        "--skip-single",
        action="store_true",
        help="skip single-order and windowed routing (to time the batch optimiser alone at large sizes)",
    )
    args = parser.parse_args(argv)
    n_orders, n_nodes, n_skus = SIZES[args.size]
    limit = args.time_limit if args.time_limit is not None else TIME_LIMITS[args.size]
    tick = time.perf_counter()
    inst = random_instance(n_orders, n_nodes, n_skus, seed=args.seed)
    print(
        f"instance {args.size}: {n_orders:,} orders ({inst.orders.n_lines:,} lines, "
        f"{int(inst.orders.quantity.sum()):,} units) x {n_nodes} nodes x {n_skus:,} skus, seed {args.seed}, "
        f"generated in {time.perf_counter() - tick:.1f}s"
    )
    common = {"cost": inst.cost}
    rows = []
    nearest = allocate_greedy(inst.orders, inst.network, inst.inventory, rule="nearest", **common)
    rows.append(("nearest-node greedy", nearest))
    cheapest = allocate_greedy(inst.orders, inst.network, inst.inventory, rule="cheapest", **common)
    rows.append(("cheapest-full-fill greedy", cheapest))
    single = None
    if not args.skip_single:
        single = route_orders(inst.orders, inst.network, inst.inventory, **common)
        rows.append(("omnicore single-order", single))
    if args.window > 1 and not args.skip_single:
        windowed = route_orders(inst.orders, inst.network, inst.inventory, window=args.window, **common)
        rows.append((f"omnicore windows of {args.window}", windowed))
    load_before = os.getloadavg()[0]
    cpu = time.process_time()
    batch = optimise(inst.orders, inst.network, inst.inventory, time_limit_seconds=limit, **common)
    batch_cpu = time.process_time() - cpu
    rows.append(("omnicore batch", batch))
    bound = batch.lower_bound
    print()
    header = (
        f"{'method':<28}{'total cost':>14}{'vs bound':>10}{'ship/order':>12}{'unfilled':>10}{'seconds':>10}"
    )
    print(header)
    print("-" * len(header))
    for name, result in rows:
        gap = "" if not bound else f"{(result.cost.total - bound) / bound:+.2%}"
        print(
            f"{name:<28}{result.cost.total:>14,.2f}{gap:>10}{result.shipments_per_order:>12.3f}"
            f"{result.unfilled_units:>10,}{result.seconds:>10.2f}"
        )
    if bound is not None:
        print(f"{'certified lower bound':<28}{bound:>14,.2f}")
    print()
    print(
        f"batch: {batch.seconds:.1f} s wall, {batch_cpu:.1f} s CPU in this process, budget {limit:.0f} s; "
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (2 cores shared)"
    )
    print(
        f"batch status: {batch.status} ({batch.method}); gap to bound "
        f"{'none' if batch.gap is None else format(batch.gap, '.3%')}; "
        f"details: { ({k: v for k, v in batch.details.items() if k != 'exact_orders'}) }"
    )
    print(f"nearest-node / batch cost: {nearest.cost.total / batch.cost.total:.3f}")
    if single is not None:
        print(f"cheapest-full-fill / single-order cost: {cheapest.cost.total / single.cost.total:.4f}")
        d = single.details
        print(
            f"single-order routing: {d['orders_per_second']:,.0f} orders/s, "
            f"p50 {d['latency_p50_us']:,.0f} us, p99 {d['latency_p99_us']:,.0f} us, "
            f"exact for {d['exact_orders']:,} of {single.n_orders:,} orders"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory: {peak:,.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
