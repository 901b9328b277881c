"""Allocation benchmark: nearest-node and cheapest-full-fill greedy vs omnicore routing and optimisation.

Seeded instances as in issue #3 (small 100 orders x 20 nodes x 200 SKUs, medium 5,000 x 200 x 2,000,
large 50,000 x 1,000 x 20,000; per-node shipment capacity, parcel + per-km + per-unit costs, a penalty
per unfilled unit). All methods run on the same instance in one process and are priced by the same
cost model; the certified lower bound comes from ``optimise``.

    PYTHONPATH=src python benchmarks/allocation_vs_greedy.py --size small
    PYTHONPATH=src python benchmarks/allocation_vs_greedy.py --size medium --time-limit 120

Single-order routing is also timed call by call: after one warm-up (the compiled kernels load from
numba's on-disk cache, or compile on a first run), every order of the instance is routed in turn
with ``Router.route(position, explain=False)`` (the engine behind ``route_orders``, a private class)
and each call's wall time and thread CPU time is recorded (the per-block vectorised distance setup
falls on the call that triggers it). Repeated ``--route-repeats`` times; best and median reported
with the machine load, since wall-clock percentiles on a shared machine include time the process
was descheduled. The batch optimiser's compiled Lagrangian kernel is loaded by one untimed call on a
tiny instance before the timed ``optimise`` call.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np

from omnicore.allocation import SIZES, Instance, allocate_greedy, optimise, random_instance, route_orders
from omnicore.allocation._lagrange import Prices, lagrangian_value
from omnicore.allocation._problem import compile_problem
from omnicore.allocation._single import Router

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
        "--route-repeats", type=int, default=3, help="passes of call-by-call single-order timing (0: skip)"
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
        warm = random_instance(20, 5, 20, seed=0)  # compiles / loads the routing kernels before timing
        route_orders(warm.orders, warm.network, warm.inventory, cost=warm.cost)
        single = route_orders(inst.orders, inst.network, inst.inventory, **common)
        rows.append(("omnicore single-order", single))
    if args.window > 1 and not args.skip_single:
        windowed = route_orders(inst.orders, inst.network, inst.inventory, window=args.window, **common)
        rows.append((f"omnicore windows of {args.window}", windowed))
    # warm-up: load (or compile) the Lagrangian bound's compiled kernel before the timed batch
    warm = random_instance(20, 5, 20, seed=0)
    warm_problem = compile_problem(warm.network, warm.inventory, warm.orders, cost=warm.cost)
    lagrangian_value(
        warm_problem,
        Prices(stock=np.zeros(warm_problem.atp.shape), shipment=np.zeros(5), unit=np.zeros(5)),
        deadline=time.perf_counter() + 10,
    )
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
        if args.route_repeats > 0:
            time_route_calls(inst, args.route_repeats, n_nodes)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory: {peak:,.0f} MiB")
    return 0


def time_route_calls(inst: Instance, repeats: int, n_nodes: int) -> None:
    """Time every ``Router.route(o, explain=False)`` call over the instance, ``repeats`` passes."""
    problem = compile_problem(inst.network, inst.inventory, inst.orders, cost=inst.cost)
    Router(problem).route(0, explain=False, commit=False)  # warm-up
    n = problem.n_orders
    rows = []
    for _ in range(repeats):
        router = Router(problem)
        wall = np.empty(n)
        cpu = np.empty(n)
        for o in range(n):
            c0 = time.thread_time()
            t0 = time.perf_counter()
            router.route(o, explain=False)
            t1 = time.perf_counter()
            cpu[o] = time.thread_time() - c0
            wall[o] = t1 - t0
        rows.append(
            (
                n / wall.sum(),
                np.percentile(wall, 50) * 1e6,
                np.percentile(wall, 99) * 1e6,
                n / cpu.sum(),
                np.percentile(cpu, 50) * 1e6,
                np.percentile(cpu, 99) * 1e6,
            )
        )
    table = np.asarray(rows)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print()
    print(
        f"single-order route() calls at {n_nodes} nodes, {n:,} orders x {repeats} passes after warm-up "
        f"(load average {load} on {os.cpu_count()} cores)"
    )
    print(
        f"{'':<10}{'orders/s':>12}{'p50 us':>10}{'p99 us':>10}"
        + f"{'CPU orders/s':>16}{'CPU p50':>10}{'CPU p99':>10}"
    )
    best = [table[:, 0].max(), table[:, 1].min(), table[:, 2].min()]
    best += [table[:, 3].max(), table[:, 4].min(), table[:, 5].min()]
    for name, values in (("best", best), ("median", np.median(table, axis=0))):
        a, b, c, d, e, f = values
        print(f"{name:<10}{a:>12,.0f}{b:>10,.1f}{c:>10,.1f}{d:>16,.0f}{e:>10,.1f}{f:>10,.1f}")
    print("target (issue #3): >= 20,000 orders/s, p99 <= 200 us per order at 200 nodes (medium)")


if __name__ == "__main__":
    sys.exit(main())
