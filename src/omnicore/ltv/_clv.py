"""Customer lifetime value: monthly cash-flow schedules and their discounted sum."""

from __future__ import annotations

from typing import Any, Protocol

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.data._columns import freeze
from omnicore.ltv._inputs import periods_per_month, rfm_arrays

__all__ = ["CLVSchedule", "PurchaseModel", "clv_schedule", "customer_lifetime_value"]

FloatArray = npt.NDArray[np.float64]


class PurchaseModel(Protocol):
    """A fitted purchase model that predicts conditional expected purchases (BG/NBD, Pareto/NBD, ...)."""

    @property
    def period(self) -> Any: ...

    def expected_purchases(
        self,
        t: Any,
        summary: Any = None,
        *,
        frequency: Any = None,
        recency: Any = None,
        T: Any = None,
    ) -> FloatArray: ...


def _matrix(value: Any) -> FloatArray:
    return freeze(np.asarray(value, dtype=np.float64))


@attrs.frozen(kw_only=True)
class CLVSchedule:
    """Expected monthly cash flows per customer over a horizon.

    Attributes
    ----------
    expected_purchases
        ``(n_customers, horizon_months)``: expected purchases in each month.
    cash_flow
        ``expected_purchases * spend`` (undiscounted), same shape.
    discount_factor
        ``(horizon_months,)``: ``1 / (1 + discount_rate_monthly) ** month``.
    discount_rate_monthly
        The monthly discount rate used.
    """

    expected_purchases: FloatArray = attrs.field(converter=_matrix, eq=attrs.cmp_using(eq=np.array_equal))
    cash_flow: FloatArray = attrs.field(converter=_matrix, eq=attrs.cmp_using(eq=np.array_equal))
    discount_factor: FloatArray = attrs.field(converter=_matrix, eq=attrs.cmp_using(eq=np.array_equal))
    discount_rate_monthly: float

    @property
    def months(self) -> npt.NDArray[np.int64]:
        """Month numbers 1..horizon."""
        return np.arange(1, self.discount_factor.size + 1)

    @property
    def discounted_cash_flow(self) -> FloatArray:
        """Cash flows times the discount factor of their month."""
        return np.asarray(self.cash_flow * self.discount_factor, dtype=np.float64)

    @property
    def clv(self) -> FloatArray:
        """Discounted customer lifetime value over the horizon, per customer."""
        return np.asarray(self.discounted_cash_flow.sum(axis=1), dtype=np.float64)


def clv_schedule(
    model: PurchaseModel,
    summary: Any = None,
    *,
    frequency: Any = None,
    recency: Any = None,
    T: Any = None,
    spend: Any,
    horizon_months: int = 12,
    discount_rate_monthly: float = 0.01,
) -> CLVSchedule:
    """Monthly expected purchases and cash flows per customer, as lifetimes computes CLV.

    Month ``i`` holds ``E[Y(i months)] - E[Y(i-1 months)]`` (conditional on each history) times
    the expected spend per purchase, discounted by ``(1 + discount_rate_monthly) ** i``; a month is
    30 days (4.345 weeks), as in lifetimes' ``customer_lifetime_value``.

    Parameters
    ----------
    model
        A fitted purchase model with a period (``BetaGeo``, ``ParetoNBD``, ``ModifiedBetaGeo``).
    summary, frequency, recency, T
        The customers' histories.
    spend
        Expected spend per purchase per customer (e.g. ``GammaGamma.expected_average_spend``), or a
        scalar.
    horizon_months
        Number of months.
    discount_rate_monthly
        Monthly discount rate (0.01 is about 12.7% a year).

    Returns
    -------
    CLVSchedule
        Per-month flows; ``.clv`` is the discounted sum.

    Raises
    ------
    ValidationError
        On a model without a period, a bad horizon or rate, or mismatched lengths.

    Examples
    --------
    >>> from omnicore.ltv import BetaGeo
    >>> m = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, period="W")
    >>> s = clv_schedule(m, frequency=[2, 0], recency=[30.43, 0], T=[38.86, 38.86], spend=[22.35, 35.0],
    ...                  horizon_months=3)
    >>> s.cash_flow.shape
    (2, 3)
    >>> bool(s.clv[0] > s.clv[1])
    True
    """
    if int(horizon_months) != horizon_months or horizon_months < 1:
        raise ValidationError("horizon_months must be a whole number >= 1", field="horizon_months")
    if not discount_rate_monthly > -1:
        raise ValidationError("discount_rate_monthly must be > -1", field="discount_rate_monthly")
    data = rfm_arrays(summary, frequency, recency, T)
    n = data.frequency.size
    per_month = periods_per_month(model.period)
    spend_array = np.broadcast_to(np.asarray(spend, dtype=np.float64), (n,))
    if not np.isfinite(spend_array).all():
        raise ValidationError("spend must be finite", field="spend")
    if summary is not None:
        cumulative = [model.expected_purchases(i * per_month, summary) for i in range(1, horizon_months + 1)]
    else:
        cumulative = [
            model.expected_purchases(i * per_month, frequency=data.frequency, recency=data.recency, T=data.T)
            for i in range(1, horizon_months + 1)
        ]
    cum = np.column_stack(cumulative) if n else np.zeros((0, horizon_months))
    monthly = np.diff(cum, axis=1, prepend=0.0)
    discount = (1.0 + discount_rate_monthly) ** -np.arange(1, horizon_months + 1, dtype=np.float64)
    return CLVSchedule(
        expected_purchases=monthly,
        cash_flow=monthly * spend_array[:, None],
        discount_factor=discount,
        discount_rate_monthly=float(discount_rate_monthly),
    )


def customer_lifetime_value(
    model: PurchaseModel,
    summary: Any = None,
    *,
    frequency: Any = None,
    recency: Any = None,
    T: Any = None,
    spend: Any,
    horizon_months: int = 12,
    discount_rate_monthly: float = 0.01,
) -> FloatArray:
    """Discounted CLV per customer over ``horizon_months`` (the sum of :func:`clv_schedule`).

    Parameters
    ----------
    model
        A fitted purchase model with a period.
    summary, frequency, recency, T
        The customers' histories.
    spend
        Expected spend per purchase per customer, or a scalar.
    horizon_months
        Number of months.
    discount_rate_monthly
        Monthly discount rate.

    Returns
    -------
    numpy.ndarray
        Discounted CLV per customer.

    Raises
    ------
    ValidationError
        As :func:`clv_schedule`.

    Examples
    --------
    >>> from omnicore.ltv import BetaGeo
    >>> m = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, period="W")
    >>> clv = customer_lifetime_value(m, frequency=[2], recency=[30.43], T=[38.86], spend=[22.35])
    >>> clv.shape
    (1,)
    """
    return clv_schedule(
        model,
        summary,
        frequency=frequency,
        recency=recency,
        T=T,
        spend=spend,
        horizon_months=horizon_months,
        discount_rate_monthly=discount_rate_monthly,
    ).clv
