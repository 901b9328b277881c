"""Demo step: fit BG/NBD and Gamma-Gamma, check them on a holdout, rank customers by predicted CLV."""

from __future__ import annotations

import numpy as np

from omnicore import ltv
from omnicore._demo._base import DemoContext, DemoSection
from omnicore.summary import calibration_holdout, summarize

__all__ = ["run"]

_HOLDOUT_WEEKS = 26


def run(ctx: DemoContext) -> DemoSection:
    """Fit on a calibration period, compare with the holdout, then score everyone on the full history."""
    tx = ctx.store.transactions.load()
    end = np.datetime64(ctx.data.observation_end, "us")
    calibration_end = end - np.timedelta64(_HOLDOUT_WEEKS * 7, "D")
    split = calibration_holdout(tx, calibration_end=calibration_end, observation_end=end, period="W")
    cal_model = ltv.BetaGeo.fit(split.calibration, penalizer_coef=0.0)
    holdout = ltv.compare_holdout(cal_model, split)

    summary = summarize(tx, observation_end=end, period="W")
    bg = ltv.BetaGeo.fit(summary)
    gg = ltv.GammaGamma.fit(summary)
    spend = gg.expected_average_spend(summary)
    schedule = ltv.clv_schedule(bg, summary, spend=spend, horizon_months=12, discount_rate_monthly=0.01)
    clv = schedule.clv
    p_alive = bg.p_alive(summary)
    ctx.results["ltv.model"] = bg
    ctx.results["ltv.spend_model"] = gg
    ctx.results["ltv.clv"] = clv
    ctx.results["ltv.p_alive"] = p_alive
    ctx.results["ltv.customer_id"] = summary.customer_id

    top = np.argsort(clv)[::-1][:10]
    table: list[tuple[str, ...]] = [("customer", "repeat weeks", "P(alive)", "next 12m purchases", "12m CLV")]
    monthly = schedule.expected_purchases.sum(axis=1)
    for i in top:
        table.append(
            (
                str(summary.customer_id[i]),
                str(int(summary.frequency[i])),
                f"{p_alive[i]:.2f}",
                f"{monthly[i]:.1f}",
                f"{clv[i]:,.0f}",
            )
        )
    params = ", ".join(f"{k}={v:.3g}" for k, v in bg.params.as_dict().items())
    spend_params = ", ".join(f"{k}={v:.3g}" for k, v in gg.params.as_dict().items())
    error = holdout.total_predicted / holdout.total_actual - 1 if holdout.total_actual else float("nan")
    lines: tuple[str, ...] = (
        f"BG/NBD on {len(summary):,} customers ({bg.fit_info.n_rows if bg.fit_info else 0:,} distinct rows, "
        f"weeks): {params}",
        f"Gamma-Gamma spend: {spend_params}; mean spend per purchase {gg.population_mean_spend:,.1f}",
        f"holdout ({_HOLDOUT_WEEKS} weeks): predicted {holdout.total_predicted:,.0f} repeat purchases vs "
        f"actual {holdout.total_actual:,.0f} ({error:+.1%}); per-customer MAE {holdout.mae:.2f}",
        f"expected active customers: {float(p_alive.sum()):,.0f}; 12-month CLV of the base "
        f"{float(clv.sum()):,.0f} (monthly discount 1%)",
    )
    truth = getattr(ctx.data, "params", None)
    if truth is not None and hasattr(truth, "alpha"):
        lines += (
            f"generator truth (days; weekly summaries merge same-week purchases): r={truth.r:.3g}, "
            f"alpha={truth.alpha:.3g} (= {truth.alpha / 7:.3g} weeks), a={truth.a:.3g}, b={truth.b:.3g}; "
            f"spend p={truth.p:.3g}, q={truth.q:.3g}, v={truth.gamma:.3g}",
        )
    return DemoSection(title="Customer lifetime value", lines=lines, table=tuple(table))
