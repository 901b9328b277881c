"""Identity-graph resolution: omnicore (guardrails on) vs plain scipy components vs networkx.

Two graphs per size, both seeded:

* ``random``: N random links over N/2 identifiers (the issue's reference graph). There is one giant
  component, so guardrails are off here (with per-type limits on, one giant component would send
  every link through the greedy merge; see ``identity-shaped``).
* ``identity-shaped``: people with a member card, 1-2 phones, an e-mail and a WeChat open id, linked
  as record stars; 10% of households share a home phone between two card holders, and 20 placeholder
  values sit on thousands of records each. omnicore drops values on more than 20 records (shared
  detection) and enforces one member card, 3 phones, 3 e-mails and 4 open ids per customer; plain
  scipy and networkx simply take connected components of the same links (and so merge strangers).

Run::

    PYTHONPATH=src /work/venv/bin/python benchmarks/identity_vs_networkx.py --size 1000000
    PYTHONPATH=src /work/venv/bin/python benchmarks/identity_vs_networkx.py --size 10000000 --skip-networkx

Times are wall-clock seconds, best and median of ``--repeat`` runs, after one warm-up call that
compiles (or loads from numba's disk cache) omnicore's kernels; memory is the peak resident set above
the level before the call, sampled every 5 ms. The load average is printed with the table.
"""

from __future__ import annotations

import argparse
import gc
import os
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import psutil
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components

from omnicore.identity import constrained_components


def measure(fn: Callable[[], Any], repeat: int) -> tuple[float, float, float]:
    """Best and median wall time (s) over ``repeat`` runs, and peak extra RSS (GB)."""
    proc = psutil.Process()
    times: list[float] = []
    peak_extra = 0.0
    for _ in range(repeat):
        gc.collect()
        base = proc.memory_info().rss
        peak = [base]
        done = threading.Event()

        def sample(peak: list[int] = peak, done: threading.Event = done) -> None:
            while not done.is_set():
                peak[0] = max(peak[0], proc.memory_info().rss)
                time.sleep(0.005)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        done.set()
        sampler.join()
        peak_extra = max(peak_extra, (peak[0] - base) / 1e9)
    return min(times), float(np.median(times)), peak_extra


def warm_up() -> None:
    """Compile (or load from numba's on-disk cache) omnicore's kernels before anything is timed."""
    left, right, n, node_type, _ = identity_graph(2_000, 1)
    omnicore_guarded(left, right, n, node_type, 20)
    constrained_components(left, right, n_nodes=n, cannot_link=(left[:3], right[:3]))


def random_graph(n_links: int, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    rng = np.random.default_rng(seed)
    n_nodes = n_links // 2
    return rng.integers(0, n_nodes, n_links), rng.integers(0, n_nodes, n_links), n_nodes


def identity_graph(n_links: int, seed: int) -> tuple[np.ndarray, np.ndarray, int, np.ndarray, np.ndarray]:
    """Links of record stars; returns left, right, n_nodes, node_type, truth person per node (-1 hubs)."""
    rng = np.random.default_rng(seed)
    n_people = n_links // 4
    p = np.arange(n_people)
    has_card = rng.random(n_people) < 0.7
    two_phones = rng.random(n_people) < 0.3
    # node ids: card, phone1, phone2, email, openid per person (unused ones never appear in links)
    base = p * 5
    card, ph1, ph2, email, oid = base, base + 1, base + 2, base + 3, base + 4
    anchor = np.where(has_card, card, ph1)
    lefts = [card[has_card], anchor, anchor, anchor[two_phones]]
    rights = [ph1[has_card], email, oid, ph2[two_phones]]
    n_nodes = n_people * 5
    # households: a home phone shared by two consecutive card holders
    home_pairs = np.flatnonzero(
        (rng.random(n_people // 2) < 0.1) & has_card[0::2][: n_people // 2] & has_card[1::2][: n_people // 2]
    )
    home = n_nodes + np.arange(home_pairs.size)
    n_nodes += home_pairs.size
    lefts += [card[2 * home_pairs], card[2 * home_pairs + 1]]
    rights += [home, home]
    left = np.concatenate(lefts)
    right = np.concatenate(rights)
    # placeholder values on thousands of records
    n_fill = max(n_links - left.size, 0)
    hubs = n_nodes + rng.integers(0, 20, n_fill)
    n_nodes += 20
    left = np.concatenate([left, anchor[rng.integers(0, n_people, n_fill)]])
    right = np.concatenate([right, hubs])
    node_type = np.zeros(n_nodes, dtype=np.int64)
    kind = np.arange(n_people * 5) % 5
    node_type[: n_people * 5] = np.array([0, 1, 1, 2, 3])[kind]
    node_type[n_people * 5 :] = 1  # home phones and placeholders are phones
    truth = np.full(n_nodes, -1, dtype=np.int64)
    truth[: n_people * 5] = np.repeat(p, 5)
    return left, right, n_nodes, node_type, truth


def scipy_components(left: np.ndarray, right: np.ndarray, n_nodes: int) -> np.ndarray:
    graph = coo_array((np.ones(left.size, dtype=np.int8), (left, right)), shape=(n_nodes, n_nodes)).tocsr()
    return connected_components(graph, directed=False)[1]


def networkx_components(left: np.ndarray, right: np.ndarray, n_nodes: int) -> int:
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(range(n_nodes))
    g.add_edges_from(zip(left.tolist(), right.tolist(), strict=True))
    return sum(1 for _ in nx.connected_components(g))


def omnicore_guarded(
    left: np.ndarray, right: np.ndarray, n_nodes: int, node_type: np.ndarray, max_records: int
) -> Any:
    # shared detection: a value linked from more than max_records records does not link
    degree = np.bincount(left, minlength=n_nodes)
    degree += np.bincount(right, minlength=n_nodes)
    shared = degree > max_records
    keep = ~(shared[left] | shared[right])
    kept_left, kept_right = left[keep], right[keep]
    limits = np.array([1, 3, 3, 4], dtype=np.int64)
    # evidence strength: links from a member card first (rank 0), then the rest (rank 1)
    rank = node_type[kept_left] != 0
    return constrained_components(
        kept_left,
        kept_right,
        n_nodes=n_nodes,
        node_type=node_type,
        type_limits=limits,
        edge_rank=rank,
    )


def pair_precision(labels: np.ndarray, truth: np.ndarray) -> float:
    """Pairwise precision over the people's own identifiers (placeholders and home phones excluded)."""
    from omnicore.identity import evaluate_clusters

    own = truth >= 0
    return evaluate_clusters(labels[own], truth[own]).pair_precision


def run_size(size: int, args: argparse.Namespace) -> list[tuple[Any, ...]]:
    """Both graphs at one size: omnicore, scipy and (unless skipped) networkx on the same links."""
    rows: list[tuple[Any, ...]] = []
    run_nx = not (args.skip_networkx and size > 1_000_000)
    nan = (float("nan"), float("nan"), float("nan"))
    left, right, n = random_graph(size, args.seed)
    sp = measure(partial(scipy_components, left, right, n), args.repeat)
    oc = measure(partial(constrained_components, left, right, n_nodes=n), args.repeat)
    nx_ = measure(partial(networkx_components, left, right, n), 1) if run_nx else nan
    rows.append(("random", size, "", oc, sp, nx_, np.nan, np.nan))
    del left, right
    gc.collect()

    left, right, n, node_type, truth = identity_graph(size, args.seed)
    sp = measure(partial(scipy_components, left, right, n), args.repeat)
    oc = measure(partial(omnicore_guarded, left, right, n, node_type, 20), args.repeat)
    nx_ = measure(partial(networkx_components, left, right, n), 1) if run_nx else nan
    res = omnicore_guarded(left, right, n, node_type, 20)
    p_oc = pair_precision(res.labels, truth)
    p_sp = pair_precision(scipy_components(left, right, n), truth)
    note = f"{res.n_constrained_edges:,} greedy"
    rows.append(("identity-shaped", size, note, oc, sp, nx_, p_oc, p_sp))
    return rows


def run_records(n_customers: int, args: argparse.Namespace) -> tuple[Any, ...]:
    """End to end: ``resolve`` on the synthetic retailer's raw identifier records vs scipy components.

    omnicore's time covers everything from raw text to customers (normalising, factorising, shared
    and blocked values, guardrails, stable ids, links with reasons); scipy's only the components of
    the same candidate links, handed to it already coded as integers.
    """
    from omnicore.data import factorize
    from omnicore.datasets import synthetic_retailer
    from omnicore.identity import resolve

    records = synthetic_retailer(n_customers=n_customers, seed=args.seed).identifiers
    res = resolve(records)
    links = res.links
    keys = np.concatenate(
        [
            np.strings.add(np.strings.add(links.left_type, "\x1f"), links.left_value),
            np.strings.add(np.strings.add(links.right_type, "\x1f"), links.right_value),
        ]
    )
    uniques, codes = factorize(keys)
    left, right = codes[: len(links)], codes[len(links) :]
    sp = measure(partial(scipy_components, left, right, len(uniques)), args.repeat)
    oc = measure(partial(resolve, records), args.repeat)
    note = f"resolve(): {len(records):,} raw rows -> {res.stats.n_customers:,} customers"
    return ("synthetic records", len(links), note, oc, sp, (np.nan,) * 3, np.nan, np.nan)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--skip-networkx", action="store_true", help="skip networkx at sizes above 1M links")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--records",
        type=int,
        nargs="*",
        default=[],
        metavar="CUSTOMERS",
        help="also time resolve() end to end on the synthetic retailer's raw records at these sizes",
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    warm_up()
    rows = []
    for size in args.size:
        rows += run_size(size, args)
    for n_customers in args.records:
        rows.append(run_records(n_customers, args))
    load_after = os.getloadavg()
    head = (
        f"{'graph':<16}{'links':>12} {'omnicore s':>17}{'GB':>6} {'scipy s':>17}{'GB':>6} {'networkx s':>11}"
        f"{'GB':>6} {'omni/scipy':>15} {'nx/omni':>8} {'precision omni / scipy':>24}  note"
    )
    print(head)
    print("-" * len(head))
    for g, size, note, oc, sp, nx_, p_oc, p_sp in rows:
        prec = "" if np.isnan(p_oc) else f"{p_oc:.4f} / {p_sp:.4f}"
        times_oc = f"{oc[0]:.3f} / {oc[1]:.3f}"
        times_sp = f"{sp[0]:.3f} / {sp[1]:.3f}"
        ratio = f"{oc[0] / sp[0]:.2f} / {oc[1] / sp[1]:.2f}"
        print(
            f"{g:<16}{size:>12,} {times_oc:>17}{oc[2]:>6.2f} {times_sp:>17}{sp[2]:>6.2f} {nx_[0]:>11.2f}"
            f"{nx_[2]:>6.2f} {ratio:>15} {nx_[0] / oc[0]:>8.1f} {prec:>24}  {note}"
        )
    print(
        f"\nTimes: best / median of {args.repeat} runs (networkx: one run); omnicore's compiled kernels were"
        " warmed up once before timing."
    )
    print(
        "Load average (1, 5, 15 min) before: {:.2f} {:.2f} {:.2f}; after: {:.2f} {:.2f} {:.2f}"
        " (2 cores).".format(*load_before, *load_after)
    )
    if args.records:
        print(
            "synthetic records: omnicore's time is resolve() from raw text (normalising, factorising,"
            " guardrails, stable ids, links with reasons); scipy's only the components of the same links,"
            " given as integer codes."
        )
    print("\nTarget (issue #6): resolution with guardrails within 2x of plain scipy components.")


if __name__ == "__main__":
    main()
