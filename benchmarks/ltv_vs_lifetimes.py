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

Timing: omnicore is warmed up once on 20,000 customers first (its compiled kernels are built or
loaded from numba's on-disk cache on the first call; this size takes every path the timed runs
take), then each side fits and scores ``--repeats`` times per size (lifetimes:
``--lifetimes-repeats``, default the same; its Pareto/NBD fit takes many minutes at 1M customers,
so pass 1 there if short of time); the table shows the best and the median
wall time of each side and the ratio of the medians (lifetimes / omnicore). The machine's load
(``uptime``) is printed before and after each size: on a shared machine wall times move with it.

Scoring only: ``--lifetimes-score-only`` skips lifetimes' fits (its Pareto/NBD fit takes 11-17
minutes at 1M customers) and times lifetimes' scoring at omnicore's fitted parameters (set as
lifetimes' ``params_``), so the scoring ratio can be measured in seconds while iterating; the fit
columns then read "skipped" and no parameters are compared.

Agreement: the largest relative parameter difference against lifetimes' default fit, and the
log-likelihood of both estimates (each evaluated with omnicore's likelihood on the same data). For
Pareto/NBD lifetimes stops early by default (Nelder-Mead with ``tol=1e-4``), so it is also run to
convergence: warm-started from its own default estimate on the same customers given as weighted
distinct ``(frequency, recency, T)`` rows (the same likelihood, lifetimes' ``weights`` argument),
with ``tol=1e-10`` and ``maxiter=20000``; that optimum is compared too ("converged" rows).

Usage::

    PYTHONPATH=src /work/venv/bin/python benchmarks/ltv_vs_lifetimes.py \\
        --lifetimes-python /work/venv-lifetimes/bin/python --sizes 10000 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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
def run_omnicore(data: dict[str, np.ndarray], models: tuple[str, ...], repeats: int) -> dict[str, Any]:
    from omnicore.ltv import BetaGeo, GammaGamma, ParetoNBD

    out: dict[str, Any] = {}
    x, t_x, T, m = data["frequency"], data["recency"], data["T"], data["monetary_value"]
    for name in models:
        fit_times: list[float] = []
        score_times: list[float] = []
        for _ in range(repeats):
            started = time.perf_counter()
            if name == "gg":
                gg = GammaGamma.fit(frequency=x, monetary_value=m)
                fit_times.append(time.perf_counter() - started)
                started = time.perf_counter()
                gg.expected_average_spend(frequency=x, monetary_value=m)
                score_times.append(time.perf_counter() - started)
                model: Any = gg
            else:
                cls = BetaGeo if name == "bgnbd" else ParetoNBD
                model = cls.fit(frequency=x, recency=t_x, T=T, period="W")
                fit_times.append(time.perf_counter() - started)
                started = time.perf_counter()
                model.expected_purchases(HORIZON, frequency=x, recency=t_x, T=T)
                model.p_alive(frequency=x, recency=t_x, T=T)
                score_times.append(time.perf_counter() - started)
        out[name] = {
            "fit_s": fit_times,
            "score_s": score_times,
            "params": model.params.to_array().tolist(),
            "loglik": model.fit_info.log_likelihood if model.fit_info else float("nan"),
            "rows": model.fit_info.n_rows if model.fit_info else 0,
        }
    return out


def log_likelihood(name: str, params: list[float], data: dict[str, np.ndarray]) -> float:
    """omnicore's log-likelihood of ``params`` on the benchmark's customers (for any estimate)."""
    from omnicore.ltv import BetaGeo, GammaGamma, ParetoNBD

    x, t_x, T, m = data["frequency"], data["recency"], data["T"], data["monetary_value"]
    theta = np.asarray(params, dtype=np.float64)
    if name == "gg":
        keep = x > 0
        columns: tuple[np.ndarray, ...] = (x[keep], m[keep])
        ll, _ = GammaGamma.spec.loglik(theta, columns, False)
    else:  # once per distinct history, weighted by its number of customers
        rows, counts = np.unique(np.stack([x, t_x, T], axis=1), axis=0, return_counts=True)
        spec = (BetaGeo if name == "bgnbd" else ParetoNBD).spec
        ll, _ = spec.loglik(theta, (rows[:, 0], rows[:, 1], rows[:, 2]), False)
        return float(ll @ counts)
    return float(ll.sum())


def warm_up(models: tuple[str, ...]) -> None:
    """Run omnicore once on a small data set so that compilation is not timed.

    20,000 customers: enough for every path the timed runs take (the Pareto/NBD shared-panel
    integral, the Gamma-Gamma fit's sample start), so no kernel is compiled or loaded while timed.
    """
    run_omnicore(make_data(20_000, 1), models, 1)


# --------------------------------------------------------------------------------------------
# lifetimes side (runs under --lifetimes-python)
# --------------------------------------------------------------------------------------------
def worker(data_path: str, model: str, result_path: str, repeats: str, params: str = "") -> None:
    """Time lifetimes on the saved data; with ``params`` (a JSON list) score at them without fitting."""
    import warnings

    warnings.simplefilter("ignore")
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter

    np.random.seed(0)  # noqa: NPY002 (lifetimes' Pareto/NBD draws its start from the global state)
    raw = np.load(data_path)
    df = pd.DataFrame({k: raw[k] for k in raw.files})
    fit_times: list[float] = []
    score_times: list[float] = []
    result: dict[str, Any] = {}
    given = json.loads(params) if params else None
    names = {"bgnbd": ("r", "alpha", "a", "b"), "pareto": ("r", "alpha", "s", "beta"), "gg": ("p", "q", "v")}
    for _ in range(int(repeats)):
        started = time.perf_counter()
        if given is not None:
            fitter = {"gg": GammaGammaFitter, "bgnbd": BetaGeoFitter, "pareto": ParetoNBDFitter}[model]()
            fitter.params_ = pd.Series(dict(zip(names[model], given, strict=True)))
            started = time.perf_counter()
            if model == "gg":
                fitter.conditional_expected_average_profit(df.frequency, df.monetary_value)
            else:
                fitter.conditional_expected_number_of_purchases_up_to_time(
                    HORIZON, df.frequency, df.recency, df["T"]
                )
                fitter.conditional_probability_alive(df.frequency, df.recency, df["T"])
            score_times.append(time.perf_counter() - started)
        elif model == "gg":
            rep = df[df.frequency > 0]
            fitter = GammaGammaFitter().fit(rep.frequency, rep.monetary_value)
            fit_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            fitter.conditional_expected_average_profit(df.frequency, df.monetary_value)
            score_times.append(time.perf_counter() - started)
            result["params"] = [float(fitter.params_[k]) for k in ("p", "q", "v")]
        else:
            fitter = BetaGeoFitter() if model == "bgnbd" else ParetoNBDFitter()
            fitter.fit(df.frequency, df.recency, df["T"])
            fit_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            fitter.conditional_expected_number_of_purchases_up_to_time(
                HORIZON, df.frequency, df.recency, df["T"]
            )
            fitter.conditional_probability_alive(df.frequency, df.recency, df["T"])
            score_times.append(time.perf_counter() - started)
            result["params"] = [float(fitter.params_[k]) for k in names[model]]
    if given is not None:
        result["fit_s"] = "skipped"
        result["score_s"] = score_times
        Path(result_path).write_text(json.dumps(result))
        return
    if model == "pareto":
        # to convergence: warm start from the default estimate (lifetimes optimises on time scaled
        # by 1 / max(T)), weighted distinct rows, tight tolerance
        rows = df.groupby(["frequency", "recency", "T"]).size().reset_index(name="weights")
        scale = 1.0 / float(df["T"].max())
        r, alpha, s, beta = result["params"]
        started = time.perf_counter()
        converged = ParetoNBDFitter().fit(
            rows.frequency,
            rows.recency,
            rows["T"],
            weights=rows.weights,
            initial_params=[r, alpha * scale, s, beta * scale],
            tol=1e-10,
            maxiter=20_000,
        )
        result["converged_s"] = time.perf_counter() - started
        result["converged_params"] = [float(converged.params_[k]) for k in ("r", "alpha", "s", "beta")]
    result["fit_s"] = fit_times
    result["score_s"] = score_times
    Path(result_path).write_text(json.dumps(result))


def run_lifetimes(
    python: str,
    data: dict[str, np.ndarray],
    models: tuple[str, ...],
    timeout: float,
    repeats: int,
    score_at: dict[str, list[float]] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data_path = os.path.join(tmp, "data.npz")
        np.savez(data_path, **data)
        for name in models:
            result_path = os.path.join(tmp, f"{name}.json")
            cmd = [python, os.path.abspath(__file__), "--worker", data_path, name, result_path, str(repeats)]
            if score_at is not None:
                cmd.append(json.dumps(score_at[name]))
            try:
                done = subprocess.run(cmd, timeout=timeout, capture_output=True, text=True, check=False)
            except subprocess.TimeoutExpired:
                out[name] = {"error": f">{timeout:.0f}s timeout"}
                continue
            if done.returncode != 0 or not os.path.exists(result_path):
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["failed"]
                out[name] = {"error": tail[0][:80]}
                continue
            out[name] = json.loads(Path(result_path).read_text())
    return out


def _times(values: Any) -> str:
    if not isinstance(values, list):
        return f"{str(values)[:17]:>17}"
    return f"{min(values):8.3f} {statistics.median(values):8.3f}"


def _ratio(theirs: Any, ours: list[float]) -> str:
    if not isinstance(theirs, list):
        return f"{'-':>7}"
    return f"{statistics.median(theirs) / statistics.median(ours):6.1f}x"


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "uptime unavailable"


def _rel(a: list[float], b: list[float]) -> float:
    return float(np.max(np.abs(np.array(a) - np.array(b)) / np.abs(np.array(b))))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--lifetimes-python", default=None, help="interpreter with lifetimes 0.11.3")
    parser.add_argument("--lifetimes-timeout", type=float, default=3600.0)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per side (best, median)")
    parser.add_argument("--lifetimes-repeats", type=int, default=None, help="default: --repeats")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--lifetimes-score-only",
        action="store_true",
        help="skip lifetimes' fits; time its scoring at omnicore's fitted parameters",
    )
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    models = tuple(args.models)
    lt_repeats = args.lifetimes_repeats or args.repeats
    print(
        f"omnicore warmed up once on 20,000 customers before timing; {args.repeats} timed runs "
        f"(lifetimes {lt_repeats}); times in seconds, best and median; ratio = lifetimes median / "
        "omnicore median"
    )
    warm_up(models)
    header = (
        f"{'model':<7} {'customers':>10} {'rows':>7} | {'omni fit':>17} {'lifetimes fit':>17} "
        f"{'ratio':>7} | {'omni score':>17} {'lt score':>17} {'ratio':>7}"
    )
    for n in args.sizes:
        data = make_data(n, args.seed)
        print(f"\nload before: {_uptime()}")
        print(header)
        print("-" * len(header), flush=True)
        ours = run_omnicore(data, models, args.repeats)
        score_at = {name: ours[name]["params"] for name in models} if args.lifetimes_score_only else None
        theirs = (
            run_lifetimes(args.lifetimes_python, data, models, args.lifetimes_timeout, lt_repeats, score_at)
            if args.lifetimes_python
            else {}
        )
        for name in models:
            o = ours[name]
            t = theirs.get(name, {"error": "not run"})
            lt_fit = t.get("fit_s", t.get("error"))
            lt_score = t.get("score_s", "-")
            print(
                f"{name:<7} {n:>10,} {o['rows']:>7,} | {_times(o['fit_s'])} {_times(lt_fit)} "
                f"{_ratio(lt_fit, o['fit_s'])} | {_times(o['score_s'])} {_times(lt_score)} "
                f"{_ratio(lt_score, o['score_s'])}",
                flush=True,
            )
            ours_ll = log_likelihood(name, o["params"], data)
            print(f"        omnicore            {np.round(o['params'], 5).tolist()}  logL {ours_ll:.6f}")
            if "params" in t and not args.lifetimes_score_only:
                ll = log_likelihood(name, t["params"], data)
                print(
                    f"        lifetimes default   {np.round(t['params'], 5).tolist()}  logL {ll:.6f}  "
                    f"max rel param diff {_rel(o['params'], t['params']):.2e}  "
                    f"omnicore logL - lifetimes logL {ours_ll - ll:+.6f}"
                )
            if "converged_params" in t:
                ll = log_likelihood(name, t["converged_params"], data)
                print(
                    f"        lifetimes converged {np.round(t['converged_params'], 5).tolist()}  "
                    f"logL {ll:.6f}  max rel param diff {_rel(o['params'], t['converged_params']):.2e}  "
                    f"omnicore logL - lifetimes logL {ours_ll - ll:+.6f}  "
                    f"(tol=1e-10, warm start, weighted distinct rows, {t['converged_s']:.1f} s)"
                )
        print(f"load after: {_uptime()}", flush=True)


if __name__ == "__main__":
    main()
