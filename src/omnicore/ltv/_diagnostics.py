"""Validation and goodness of fit: holdout comparison, cumulative tracking, frequency histogram."""

from __future__ import annotations

from typing import Any, Protocol

import attrs
import numpy as np
import numpy.typing as npt
from scipy import stats

from omnicore._errors import ValidationError
from omnicore.data import Transactions, factorize, to_datetime64
from omnicore.data._columns import freeze
from omnicore.ltv._clv import PurchaseModel
from omnicore.ltv._inputs import check_period, rfm_arrays, to_period
from omnicore.summary import period_index

__all__ = [
    "FrequencyFit",
    "HoldoutComparison",
    "Tracking",
    "compare_holdout",
    "frequency_fit",
    "track_cumulative",
]

FloatArray = npt.NDArray[np.float64]


def _array(value: Any) -> FloatArray:
    return freeze(np.asarray(value, dtype=np.float64))


_eq = attrs.cmp_using(eq=np.array_equal)


@attrs.frozen(kw_only=True)
class HoldoutComparison:
    """Predicted vs actual holdout purchases, per calibration-frequency bucket and overall.

    Attributes
    ----------
    frequency
        Calibration-period frequency of each bucket; the last bucket holds every frequency at or
        above it.
    customers
        Customers per bucket.
    actual
        Mean actual holdout purchases per bucket.
    predicted
        Mean predicted holdout purchases per bucket.
    total_actual, total_predicted
        Sums over all customers.
    mae, rmse
        Per-customer mean absolute and root-mean-square error of the predictions.
    """

    frequency: FloatArray = attrs.field(converter=_array, eq=_eq)
    customers: FloatArray = attrs.field(converter=_array, eq=_eq)
    actual: FloatArray = attrs.field(converter=_array, eq=_eq)
    predicted: FloatArray = attrs.field(converter=_array, eq=_eq)
    total_actual: float
    total_predicted: float
    mae: float
    rmse: float

    def table(self) -> list[tuple[str, ...]]:
        """Rows ``(frequency, customers, actual, predicted)`` with a header, for reports."""
        rows: list[tuple[str, ...]] = [("frequency", "customers", "actual", "predicted")]
        last = len(self.frequency) - 1
        for i, f in enumerate(self.frequency):
            label = f"{int(f)}+" if i == last else str(int(f))
            rows.append(
                (label, str(int(self.customers[i])), f"{self.actual[i]:.3f}", f"{self.predicted[i]:.3f}")
            )
        return rows


def compare_holdout(
    model: PurchaseModel,
    holdout: Any = None,
    *,
    frequency: Any = None,
    recency: Any = None,
    T: Any = None,
    frequency_holdout: Any = None,
    duration_holdout: float | None = None,
    max_frequency: int = 7,
) -> HoldoutComparison:
    """Compare a calibration fit's predictions with what customers did in the holdout.

    Parameters
    ----------
    model
        A purchase model fitted on the calibration period.
    holdout
        A :class:`~omnicore.summary.CalibrationHoldout`; or pass the arrays.
    frequency, recency, T
        Calibration-period histories.
    frequency_holdout
        Actual purchases per customer in the holdout.
    duration_holdout
        Holdout length in the model's period.
    max_frequency
        Buckets 0, 1, ..., ``max_frequency`` (the last collects everything above).

    Returns
    -------
    HoldoutComparison
        Mean actual vs predicted per bucket, totals and errors.

    Raises
    ------
    ValidationError
        On mismatched inputs or periods.

    Examples
    --------
    >>> from omnicore.ltv import BetaGeo
    >>> m = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, period="W")
    >>> c = compare_holdout(m, frequency=[0, 1, 2], recency=[0, 10, 30], T=[39, 39, 39],
    ...                     frequency_holdout=[0, 1, 1], duration_holdout=39.0, max_frequency=2)
    >>> c.customers.tolist()
    [1.0, 1.0, 1.0]
    """
    if holdout is not None:
        summary = holdout.calibration
        frequency_holdout = holdout.frequency_holdout
        duration_holdout = holdout.duration_holdout
        predicted = model.expected_purchases(duration_holdout, summary)
        x = np.asarray(summary.frequency, dtype=np.float64)
    else:
        data = rfm_arrays(None, frequency, recency, T)
        if duration_holdout is None:
            raise ValidationError("duration_holdout is required", field="duration_holdout")
        predicted = model.expected_purchases(
            duration_holdout, frequency=data.frequency, recency=data.recency, T=data.T
        )
        x = data.frequency
    actual = np.asarray(frequency_holdout, dtype=np.float64)
    if actual.shape != x.shape:
        raise ValidationError(
            f"expected {x.size} holdout counts", field="frequency_holdout", value=actual.size
        )
    bucket = np.minimum(x, max_frequency).astype(np.int64)
    counts = np.bincount(bucket, minlength=max_frequency + 1).astype(np.float64)
    with np.errstate(invalid="ignore"):
        mean_actual = np.bincount(bucket, weights=actual, minlength=max_frequency + 1) / counts
        mean_pred = np.bincount(bucket, weights=predicted, minlength=max_frequency + 1) / counts
    err = predicted - actual
    return HoldoutComparison(
        frequency=np.arange(max_frequency + 1),
        customers=counts,
        actual=mean_actual,
        predicted=mean_pred,
        total_actual=float(actual.sum()),
        total_predicted=float(predicted.sum()),
        mae=float(np.abs(err).mean()) if err.size else float("nan"),
        rmse=float(np.sqrt((err**2).mean())) if err.size else float("nan"),
    )


class _CountModel(Protocol):
    period: Any

    def probability_of_purchases(self, n: Any, t: Any) -> FloatArray: ...


@attrs.frozen(kw_only=True)
class FrequencyFit:
    """Observed vs expected number of customers with 0, 1, ..., k+ repeat purchases.

    Attributes
    ----------
    frequency
        0..max_frequency (the last bucket is "max_frequency or more").
    observed, expected
        Customers per bucket.
    chi_square, dof, p_value
        Pearson chi-square statistic, its degrees of freedom (buckets - 1 - parameters) and p-value.
    """

    frequency: FloatArray = attrs.field(converter=_array, eq=_eq)
    observed: FloatArray = attrs.field(converter=_array, eq=_eq)
    expected: FloatArray = attrs.field(converter=_array, eq=_eq)
    chi_square: float
    dof: int
    p_value: float


def frequency_fit(
    model: _CountModel,
    summary: Any = None,
    *,
    frequency: Any = None,
    recency: Any = None,
    T: Any = None,
    max_frequency: int = 7,
) -> FrequencyFit:
    """Frequency-histogram goodness of fit: expected customers with x repeat purchases by age T.

    The expectation is ``sum_i P(X(T_i) = x)``, as in the calibration-fit figures of Fader, Hardie
    & Lee (2005). Needs a model with ``probability_of_purchases`` (BG/NBD, MBG/NBD, Pareto/NBD).

    Parameters
    ----------
    model
        A fitted count model.
    summary, frequency, recency, T
        The customers the model was fitted on.
    max_frequency
        Last bucket (collects every higher count).

    Returns
    -------
    FrequencyFit
        Observed and expected counts with a chi-square test.

    Examples
    --------
    >>> from omnicore.ltv import BetaGeo
    >>> m = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426, period="W")
    >>> f = frequency_fit(m, frequency=[0, 0, 1, 3], recency=[0, 0, 5, 20], T=[39, 39, 39, 39],
    ...                   max_frequency=3)
    >>> round(float(f.expected.sum()), 6)
    4.0
    """
    data = rfm_arrays(summary, frequency, recency, T)
    check_period(to_period(getattr(model, "period", None)), data.period, model=type(model).__name__)
    ks = np.arange(max_frequency, dtype=np.float64)
    ages, inverse = np.unique(data.T, return_inverse=True)
    probs = np.column_stack([model.probability_of_purchases(ks, age) for age in ages])  # (k, ages)
    per_age = np.bincount(inverse, minlength=ages.size).astype(np.float64)
    expected_head = probs @ per_age
    expected = np.concatenate([expected_head, [data.T.size - expected_head.sum()]])
    observed = np.bincount(
        np.minimum(data.frequency, max_frequency).astype(np.int64), minlength=max_frequency + 1
    )
    n_params = len(getattr(getattr(model, "params", None), "names", lambda: ())())
    dof = max(max_frequency + 1 - 1 - n_params, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        chi = float(np.nansum((observed - expected) ** 2 / expected))
    return FrequencyFit(
        frequency=np.arange(max_frequency + 1),
        observed=observed,
        expected=expected,
        chi_square=chi,
        dof=dof,
        p_value=float(stats.chi2.sf(chi, dof)),
    )


class _NewCustomerModel(Protocol):
    period: Any

    def expected_purchases_new_customer(self, t: Any) -> FloatArray: ...


@attrs.frozen(kw_only=True)
class Tracking:
    """Cumulative repeat purchases of a cohort over time, actual and expected.

    Attributes
    ----------
    time
        Period number since ``start`` (end of each period).
    actual
        Cumulative actual repeat purchases (distinct purchase periods after each customer's first).
    expected
        Cumulative expected repeat purchases, ``sum_i E[X(t - s_i)]`` over customers acquired at
        ``s_i``.
    calibration_end
        Period number where the calibration ended (``None`` if not given).
    """

    time: FloatArray = attrs.field(converter=_array, eq=_eq)
    actual: FloatArray = attrs.field(converter=_array, eq=_eq)
    expected: FloatArray = attrs.field(converter=_array, eq=_eq)
    calibration_end: float | None = None


def track_cumulative(
    model: _NewCustomerModel,
    transactions: Transactions,
    *,
    end: Any,
    acquired_before: Any = None,
    calibration_end: Any = None,
) -> Tracking:
    """Track cumulative repeat purchases against the model, as FHL (2005) Figure 2.

    Customers whose first purchase falls before ``acquired_before`` (default: ``calibration_end``,
    else ``end``) form the cohort. Repeat purchases are counted as the summary counts them: distinct
    purchase periods after the first.

    Parameters
    ----------
    model
        A fitted model with a period (its unit is used for the time axis).
    transactions
        The purchase log.
    end
        End of the tracking window.
    acquired_before
        Cohort cut-off for first purchases.
    calibration_end
        Marked on the plot.

    Returns
    -------
    Tracking
        Actual and expected cumulative repeat purchases per period.
    """
    period = to_period(getattr(model, "period", None))
    if period is None:
        raise ValidationError(
            "the model has no period; fit it from a summary or pass period=", field="period"
        )
    end_index = int(period_index(np.array([to_datetime64(end)]), period)[0])
    cut = calibration_end if acquired_before is None else acquired_before
    cut_index = end_index + 1 if cut is None else int(period_index(np.array([to_datetime64(cut)]), period)[0])
    idx = period_index(transactions.timestamp, period)
    codes_unique, codes = factorize(np.asarray(transactions.customer_id))
    # distinct (customer, period) purchases
    pairs = np.unique(np.stack([codes.astype(np.int64), idx]), axis=1)
    cust, per = pairs
    first = np.full(codes_unique.size, np.iinfo(np.int64).max)
    np.minimum.at(first, cust, per)
    in_cohort = first < cut_index
    start = int(first[in_cohort].min()) if in_cohort.any() else end_index
    repeat = (per > first[cust]) & in_cohort[cust] & (per <= end_index)
    times = np.arange(start, end_index + 1)
    actual = np.cumsum(np.bincount(per[repeat] - start, minlength=times.size)[: times.size])
    # expected: sum over acquisition periods of E[X(t - s)], t at the end of each period
    acq, acq_count = np.unique(first[in_cohort], return_counts=True)
    horizon = np.arange(0, times.size + 1, dtype=np.float64)
    curve = model.expected_purchases_new_customer(horizon)  # E[X(h)] for h periods after acquisition
    per_offset = np.bincount((acq - start).astype(np.int64), weights=acq_count, minlength=times.size)
    # at the end of period j, customers acquired at offset o have age j - o: a convolution
    expected = np.convolve(per_offset[: times.size], curve[: times.size])[: times.size]
    cal = None
    if calibration_end is not None:
        cal = float(int(period_index(np.array([to_datetime64(calibration_end)]), period)[0]) - start)
    return Tracking(
        time=np.arange(times.size, dtype=np.float64),
        actual=actual.astype(np.float64),
        expected=expected,
        calibration_end=cal,
    )
