"""Benchmark: omnicore.ltv against lifetimes 0.11.3 on the same seeded customers.

Fits BG/NBD, Pareto/NBD and Gamma-Gamma and scores every customer (conditional expected purchases
over 13 periods plus P(alive) for the purchase models, expected average spend for Gamma-Gamma) at each
size, with omnicore and lifetimes side by side in one run, and prints wall times, time ratios and the
largest relative parameter difference.

Data: customers drawn from a BG/NBD process with the published CDNOW parameters (weeks), ages spread
uniformly over 1..78 whole weeks, summarised as ``omnicore.summarize(period="W")`` would (whole
weeks, so customers share rows, as they do in any weekly or daily summary); spend from a Gamma-Gamma
process with the published CDNOW spend parameters.

lifetimes 0.11.3 (last release, 2020) does not run on numpy 2 / pandas 3 / scipy 1.17, so the
lifetimes side runs in a subprocess of another interpreter, given by ``--lifetimes-python`` (a venv
with numpy<2, pandas<2.1, scipy<1.12, autograd and lifetimes==0.11.3, e.g. ``/work/venv-lifetimes``):
this script writes the data to an ``.npz`` file and runs itself with ``--worker`` under that
interpreter, which reads the file, times lifetimes and writes its results back as JSON. Each model
of the lifetimes side gets ``--lifetimes-timeout`` seconds; one that runs out is reported as such.

Each side is timed once per size (lifetimes' larger fits take minutes); on a shared machine the
wall times move with the load, so compare ratios across a couple of runs.

Usage::

    PYTHONPATH=src /work/venv/bin/python benchmarks/ltv_vs_lifetimes.py \\
        --lifetimes-python /work/venv-lifetimes/bin/python --sizes 10000 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

BG_TRUE = (0.243, 4.414, 0.793, 2.426)
GG_TRUE = (6.25, 3.74, 15.44)
HORIZON = 13.0
MODELS = ("bgnbd", "pareto", "gg")


def make_data(n: int, seed: int) -> dict[str, np.ndarray]:
    """Seeded weekly summaries: frequency, recency, T (whole weeks) and mean repeat spend."""
    rng = np.random.default_rng(seed)
    r, alpha, a, b = BG_TRUE
    T = rng.integers(1, 79, n).astype(np.float64)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    arrivals = rng.poisson(lam * T)
    x = np.minimum(arrivals, rng.geometric(p)).astype(np.float64)
    xs = np.maximum(x, 1)
    t_cont = np.where(x > 0, T * rng.beta(xs, np.maximum(arrivals - xs + 1, 1)), 0.0)
    t_x = np.where(x > 0, np.clip(np.ceil(t_cont), 1, T), 0.0)
    pp, q, v = GG_TRUE
    nu = rng.gamma(q, 1 / v, n)
    m = np.where(x > 0, rng.gamma(np.maximum(pp * x, 1e-9), 1.0) / np.maximum(nu * x, 1e-300), 0.0)
    return {"frequency": x, "recency": t_x, "T": T, "monetary_value": m}


# --------------------------------------------------------------------------------------------
# omnicore side
# --------------------------------------------------------------------------------------------
def run_omnicore(data: dict[str, np.ndarray], models: tuple[str, ...]) -> dict[str, Any]:
    from omnicore.ltv import BetaGeo, GammaGamma, ParetoNBD

    out: dict[str, Any] = {}
    x, t_x, T, m = data["frequency"], data["recency"], data["T"], data["monetary_value"]
    for name in models:
        started = time.perf_counter()
        if name == "gg":
            gg = GammaGamma.fit(frequency=x, monetary_value=m)
            fit_s = time.perf_counter() - started
            started = time.perf_counter()
            gg.expected_average_spend(frequency=x, monetary_value=m)
            score_s = time.perf_counter() - started
            params = gg.params.to_array().tolist()
            rows = gg.fit_info.n_rows if gg.fit_info else 0
        else:
            cls = BetaGeo if name == "bgnbd" else ParetoNBD
            model = cls.fit(frequency=x, recency=t_x, T=T, period="W")
            fit_s = time.perf_counter() - started
            started = time.perf_counter()
            model.expected_purchases(HORIZON, frequency=x, recency=t_x, T=T)
            model.p_alive(frequency=x, recency=t_x, T=T)
            score_s = time.perf_counter() - started
            params = model.params.to_array().tolist()
            rows = model.fit_info.n_rows if model.fit_info else 0
        out[name] = {"fit_s": fit_s, "score_s": score_s, "params": params, "rows": rows}
    return out


# --------------------------------------------------------------------------------------------
# lifetimes side (runs under --lifetimes-python)
# --------------------------------------------------------------------------------------------
def worker(data_path: str, model: str, result_path: str) -> None:
    import warnings

    warnings.simplefilter("ignore")
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter

    raw = np.load(data_path)
    df = pd.DataFrame({k: raw[k] for k in raw.files})
    started = time.perf_counter()
    if model == "gg":
        rep = df[df.frequency > 0]
        fitter = GammaGammaFitter().fit(rep.frequency, rep.monetary_value)
        fit_s = time.perf_counter() - started
        started = time.perf_counter()
        fitter.conditional_expected_average_profit(df.frequency, df.monetary_value)
        score_s = time.perf_counter() - started
        params = [float(fitter.params_[k]) for k in ("p", "q", "v")]
    else:
        fitter = BetaGeoFitter() if model == "bgnbd" else ParetoNBDFitter()
        fitter.fit(df.frequency, df.recency, df["T"])
        fit_s = time.perf_counter() - started
        started = time.perf_counter()
        fitter.conditional_expected_number_of_purchases_up_to_time(HORIZON, df.frequency, df.recency, df["T"])
        fitter.conditional_probability_alive(df.frequency, df.recency, df["T"])
        score_s = time.perf_counter() - started
        names = ("r", "alpha", "a", "b") if model == "bgnbd" else ("r", "alpha", "s", "beta")
        params = [float(fitter.params_[k]) for k in names]
    Path(result_path).write_text(json.dumps({"fit_s": fit_s, "score_s": score_s, "params": params}))


def run_lifetimes(
    python: str, data: dict[str, np.ndarray], models: tuple[str, ...], timeout: float
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data_path = os.path.join(tmp, "data.npz")
        np.savez(data_path, **data)
        for name in models:
            result_path = os.path.join(tmp, f"{name}.json")
            cmd = [python, os.path.abspath(__file__), "--worker", data_path, name, result_path]
            try:
                done = subprocess.run(cmd, timeout=timeout, capture_output=True, text=True, check=False)
            except subprocess.TimeoutExpired:
                out[name] = {"error": f"> {timeout:.0f} s (timed out)"}
                continue
            if done.returncode != 0 or not os.path.exists(result_path):
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["failed"]
                out[name] = {"error": tail[0][:80]}
                continue
            out[name] = json.loads(Path(result_path).read_text())
    return out


def _ratio(theirs: Any, ours: float) -> str:
    return f"{theirs / ours:8.1f}x" if isinstance(theirs, float) and ours > 0 else "       -"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--lifetimes-python", default=None, help="interpreter with lifetimes 0.11.3")
    parser.add_argument("--lifetimes-timeout", type=float, default=1800.0)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    models = tuple(args.models)
    header = (
        f"{'model':<7} {'customers':>10} {'rows':>7} | "
        f"{'omnicore fit':>12} {'lifetimes fit':>14} {'ratio':>9} | "
        f"{'omni score':>10} {'lt score':>10} {'ratio':>9} | max rel param diff"
    )
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        data = make_data(n, args.seed)
        ours = run_omnicore(data, models)
        theirs = (
            run_lifetimes(args.lifetimes_python, data, models, args.lifetimes_timeout)
            if args.lifetimes_python
            else {}
        )
        for name in models:
            o = ours[name]
            t = theirs.get(name, {"error": "not run (no --lifetimes-python)"})
            if "error" in t:
                lt_fit = lt_score = t["error"]
                diff = "-"
            else:
                lt_fit, lt_score = t["fit_s"], t["score_s"]
                rel = np.abs(np.array(o["params"]) - np.array(t["params"])) / np.abs(np.array(t["params"]))
                diff = f"{rel.max():.2e}"
            fit_text = f"{lt_fit:14.3f}" if isinstance(lt_fit, float) else f"{str(lt_fit)[:14]:>14}"
            score_text = f"{lt_score:10.3f}" if isinstance(lt_score, float) else f"{'-':>10}"
            print(
                f"{name:<7} {n:>10,} {o['rows']:>7,} | "
                f"{o['fit_s']:12.3f} {fit_text} {_ratio(lt_fit, o['fit_s'])} | "
                f"{o['score_s']:10.3f} {score_text} {_ratio(lt_score, o['score_s'])} | {diff}",
                flush=True,
            )
            if "error" not in t:
                print(
                    f"        omnicore {np.round(o['params'], 5).tolist()}  "
                    f"lifetimes {np.round(t['params'], 5).tolist()}"
                )


if __name__ == "__main__":
    main()
