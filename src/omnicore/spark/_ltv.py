"""Fit buy-till-you-die models on a Spark summary and score every customer where the data lives."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from omnicore._errors import ValidationError
from omnicore.ltv import BetaGeo, GammaGamma, ModifiedBetaGeo, ParetoNBD, customer_lifetime_value
from omnicore.spark._session import quiet_udfs, require_columns, spark_modules

__all__ = ["fit_spark", "score_spark"]

PurchaseModelType = type[BetaGeo] | type[ModifiedBetaGeo] | type[ParetoNBD]
_PURCHASE_MODELS = (BetaGeo, ModifiedBetaGeo, ParetoNBD)


def _column(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)


def fit_spark(model: Any, summary: Any, *, period: str | None = None, **fit_options: Any) -> Any:
    """Fit a BG/NBD, MBG/NBD, Pareto/NBD or Gamma-Gamma model on a Spark customer summary.

    Spark compresses the customers to distinct rows with counts (``(frequency, recency, T)`` for
    purchase models, ``(frequency, monetary_value)`` of repeat customers for Gamma-Gamma); only those
    rows reach the driver, where the model is fitted by maximum likelihood with the counts as weights.
    The estimate equals a fit on the collected customers.

    Parameters
    ----------
    model
        The model class: :class:`omnicore.ltv.BetaGeo`, :class:`~omnicore.ltv.ModifiedBetaGeo`,
        :class:`~omnicore.ltv.ParetoNBD` or :class:`~omnicore.ltv.GammaGamma`.
    summary
        A ``pyspark.sql.DataFrame`` from :func:`summarize_spark` (or with the same columns).
    period
        The summary's period (``"D"``, ``"W"``, ``"h"``), kept on purchase models for CLV.
    **fit_options
        Passed to the model's ``fit`` (e.g. ``penalizer_coef``).

    Returns
    -------
    The fitted model.

    Raises
    ------
    ValidationError
        For another model class or a missing column.

    Examples
    --------
    >>> bg = fit_spark(ltv.BetaGeo, summary, period="W")  # doctest: +SKIP
    """
    functions, _ = spark_modules()
    if model is GammaGamma:
        require_columns(summary, {"frequency": "frequency", "monetary_value": "monetary_value"})
        rows = summary.where(functions.col("frequency") > 0).groupBy("frequency", "monetary_value").count()
        table = rows.toArrow()
        return GammaGamma.fit(
            frequency=_column(table, "frequency"),
            monetary_value=_column(table, "monetary_value"),
            weights=_column(table, "count"),
            **fit_options,
        )
    if model not in _PURCHASE_MODELS:
        raise ValidationError(
            "expected BetaGeo, ModifiedBetaGeo, ParetoNBD or GammaGamma", field="model", value=repr(model)
        )
    require_columns(summary, {"frequency": "frequency", "recency": "recency", "T": "T"})
    table = summary.groupBy("frequency", "recency", "T").count().toArrow()
    return model.fit(
        frequency=_column(table, "frequency"),
        recency=_column(table, "recency"),
        T=_column(table, "T"),
        weights=_column(table, "count"),
        period=period,
        **fit_options,
    )


def score_spark(
    summary: Any,
    model: Any,
    *,
    horizon: float,
    spend_model: GammaGamma | None = None,
    horizon_months: int = 12,
    discount_rate_monthly: float = 0.01,
) -> Any:
    """Add per-customer predictions to a Spark summary, computed in the Python workers.

    Parameters
    ----------
    summary
        A ``pyspark.sql.DataFrame`` from :func:`summarize_spark`.
    model
        A fitted purchase model (BG/NBD, MBG/NBD or Pareto/NBD); it travels to the workers pickled.
    horizon
        Horizon of ``expected_purchases`` in the model's period.
    spend_model
        A fitted Gamma-Gamma model: adds ``expected_spend`` and the discounted ``clv`` (the model
        needs its period for the monthly schedule).
    horizon_months, discount_rate_monthly
        The CLV horizon and monthly discount rate, as for :func:`omnicore.ltv.customer_lifetime_value`.

    Returns
    -------
    pyspark.sql.DataFrame
        ``summary`` with ``p_alive`` and ``expected_purchases`` (and ``expected_spend``, ``clv``).

    Examples
    --------
    >>> scored = score_spark(summary, bg, horizon=13, spend_model=gg)  # doctest: +SKIP
    """
    _, types = spark_modules()
    require_columns(summary, {"frequency": "frequency", "recency": "recency", "T": "T"})
    added = ["p_alive", "expected_purchases"]
    if spend_model is not None:
        require_columns(summary, {"monetary_value": "monetary_value"})
        added += ["expected_spend", "clv"]
    schema = types.StructType(
        [*summary.schema.fields, *(types.StructField(name, types.DoubleType(), False) for name in added)]
    )

    def score_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            x, t_x, big_t = (
                np.asarray(batch.column(n).to_numpy(zero_copy_only=False), dtype=np.float64)
                for n in ("frequency", "recency", "T")
            )
            history = {"frequency": x, "recency": t_x, "T": big_t}
            columns = {
                "p_alive": model.p_alive(**history),
                "expected_purchases": model.expected_purchases(horizon, **history),
            }
            if spend_model is not None:
                m = np.asarray(
                    batch.column("monetary_value").to_numpy(zero_copy_only=False), dtype=np.float64
                )
                spend = spend_model.expected_average_spend(
                    frequency=x, monetary_value=np.where(x > 0, m, 0.0)
                )
                columns["expected_spend"] = spend
                columns["clv"] = customer_lifetime_value(
                    model,
                    **history,
                    spend=spend,
                    horizon_months=horizon_months,
                    discount_rate_monthly=discount_rate_monthly,
                )
            arrays = [*batch.columns, *(pa.array(columns[name], pa.float64()) for name in added)]
            yield pa.RecordBatch.from_arrays(arrays, names=[*batch.schema.names, *added])

    with quiet_udfs():
        return summary.mapInArrow(score_batches, schema)
