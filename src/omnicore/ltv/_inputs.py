"""The boundary of the LTV models: validate per-customer arrays once, compress them to unique rows.

Every public fit and predict call goes through :func:`rfm_arrays` (or :func:`spend_arrays`), so the
model code inside the package trusts clean float64 arrays.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.ltv._kernels import check_rfm, dense_groups
from omnicore.summary import Period

__all__ = [
    "Compressed",
    "RFMArrays",
    "check_period",
    "compress",
    "period_of",
    "periods_per_month",
    "rfm_arrays",
    "spend_arrays",
    "spend_columns",
    "to_period",
    "weights_array",
]

FloatArray = npt.NDArray[np.float64]

#: How many periods make one month, matching lifetimes' ``customer_lifetime_value`` conventions
#: (30-day months, 4.345 weeks a month).
_PERIODS_PER_MONTH = {Period.HOUR: 30.0 * 24.0, Period.DAY: 30.0, Period.WEEK: 4.345}


def to_period(value: Any) -> Period | None:
    """``None``, a :class:`~omnicore.summary.Period` or its code ("h", "D", "W") -> ``Period | None``."""
    if value is None:
        return None
    return Period.parse(value)


def periods_per_month(period: Period | None) -> float:
    """Number of model periods in one month (30 days, as lifetimes)."""
    if period is None:
        raise ValidationError(
            "the model has no time period; fit it from a CustomerSummary or pass period='D' (or 'W')",
            field="period",
        )
    return _PERIODS_PER_MONTH[period]


def period_of(summary: Any) -> Period | None:
    """The period a summary carries (``None`` for plain arrays)."""
    return to_period(getattr(summary, "period", None)) if summary is not None else None


def check_period(model_period: Period | None, data_period: Period | None, *, model: str) -> None:
    """Refuse to score data measured in another time unit than the model was fitted in."""
    if model_period is not None and data_period is not None and model_period != data_period:
        raise ValidationError(
            f"{model} was fitted in periods of {model_period.value!r} but the data is in "
            f"{data_period.value!r}; re-summarise the transactions with period={model_period.value!r}",
            field="period",
            value=data_period.value,
        )


def _column(name: str, value: Any, n: int | None, *, check_finite: bool = True) -> FloatArray:
    if value is None:
        raise ValidationError("column is required (or pass a CustomerSummary)", field=name)
    if hasattr(value, "to_numpy") and not isinstance(value, np.ndarray):
        value = value.to_numpy()
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise ValidationError(f"expected a one-dimensional column, got shape {array.shape}", field=name)
    if n is not None and array.size != n:
        raise ValidationError(f"expected {n} values like the other columns, got {array.size}", field=name)
    if not check_finite:
        return array
    bad = ~np.isfinite(array)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValidationError("NaN or infinite value", field=name, row=row, value=float(array[row]))
    return array


def _fail(name: str, message: str, values: FloatArray, mask: npt.NDArray[np.bool_]) -> ValidationError:
    row = int(np.flatnonzero(mask)[0])
    count = int(mask.sum())
    more = f" ({count} rows)" if count > 1 else ""
    return ValidationError(message + more, field=name, row=row, value=float(values[row]))


@attrs.frozen(kw_only=True)
class RFMArrays:
    """Validated frequency / recency / T columns (float64) and the period they are measured in."""

    frequency: FloatArray
    recency: FloatArray
    T: FloatArray
    period: Period | None


def rfm_arrays(
    summary: Any,
    frequency: Any,
    recency: Any,
    T: Any,
    *,
    period: Period | str | None = None,
    integer_T: bool = False,
) -> RFMArrays:
    """Validate (frequency, recency, T) from a summary or from arrays.

    Checks: equal lengths, finite, ``frequency`` whole and >= 0, ``0 <= recency <= T``, ``T >= 0``
    (``T = 0`` for customers first seen in the last period, who then have no repeat purchase),
    and ``recency == 0`` where ``frequency == 0`` (the BTYD definition of t_x).
    """
    if summary is not None:
        if frequency is not None or recency is not None or T is not None:
            raise ValidationError("pass either a summary or frequency/recency/T arrays, not both")
        frequency, recency, T = summary.frequency, summary.recency, summary.T
        data_period = period_of(summary)
        if period is not None:
            check_period(to_period(period), data_period, model="the period argument")
        period = data_period
    else:
        period = to_period(period)
    x = _column("frequency", frequency, None, check_finite=False)
    n = x.size
    t_x = _column("recency", recency, n, check_finite=False)
    big_t = _column("T", T, n, check_finite=False)
    status = check_rfm(x, t_x, big_t, integer_T)
    if status == 0:
        return RFMArrays(frequency=x, recency=t_x, T=big_t, period=period)
    if status == 1:
        return RFMArrays(frequency=x, recency=np.minimum(t_x, big_t), T=big_t, period=period)
    # invalid: the checks below name the field, row and value
    x = _column("frequency", x, None)
    t_x = _column("recency", t_x, n)
    big_t = _column("T", big_t, n)
    if (x < 0).any():
        raise _fail("frequency", "negative frequency", x, x < 0)
    whole = x != np.round(x)
    if whole.any():
        raise _fail("frequency", "frequency counts repeat purchases and must be a whole number", x, whole)
    if (t_x < 0).any():
        raise _fail("recency", "negative recency", t_x, t_x < 0)
    if (big_t < 0).any():
        raise _fail("T", "negative T (customer age)", big_t, big_t < 0)
    newborn = (big_t == 0) & (x > 0)
    if newborn.any():
        raise _fail("frequency", "a customer of age T=0 cannot have repeat purchases", x, newborn)
    if integer_T and (big_t != np.round(big_t)).any():
        raise _fail("T", "the number of opportunities must be whole", big_t, big_t != np.round(big_t))
    late = t_x > big_t * (1 + 1e-12)
    if late.any():
        raise _fail("recency", "recency (time of the last purchase) exceeds T", t_x, late)
    orphan = (x == 0) & (t_x != 0)
    if orphan.any():
        raise _fail("recency", "recency must be 0 for customers with frequency 0", t_x, orphan)
    return RFMArrays(frequency=x, recency=np.minimum(t_x, big_t), T=big_t, period=period)


def spend_columns(summary: Any, frequency: Any, monetary_value: Any) -> tuple[FloatArray, FloatArray]:
    """(frequency, monetary_value) as one-dimensional float64 arrays of equal length, values unchecked.

    For compiled kernels that check the values in their own pass (and fall back on
    :func:`spend_arrays` to raise the error).
    """
    frequency, monetary_value = _spend_inputs(summary, frequency, monetary_value)
    x = _column("frequency", frequency, None, check_finite=False)
    return x, _column("monetary_value", monetary_value, x.size, check_finite=False)


def _spend_inputs(summary: Any, frequency: Any, monetary_value: Any) -> tuple[Any, Any]:
    if summary is not None:
        if frequency is not None or monetary_value is not None:
            raise ValidationError("pass either a summary or frequency/monetary_value arrays, not both")
        return summary.frequency, summary.monetary_value
    return frequency, monetary_value


def spend_arrays(summary: Any, frequency: Any, monetary_value: Any) -> tuple[FloatArray, FloatArray]:
    """Validate (frequency, monetary_value) for the Gamma-Gamma model, keeping every row."""
    frequency, monetary_value = _spend_inputs(summary, frequency, monetary_value)
    x = _column("frequency", frequency, None)
    m = _column("monetary_value", monetary_value, x.size)
    if (x < 0).any() or (x != np.round(x)).any():
        bad = (x < 0) | (x != np.round(x))
        raise _fail("frequency", "frequency must be a whole number >= 0", x, bad)
    return x, m


def weights_array(weights: Any, n: int) -> FloatArray:
    """Validate optional per-row weights (counts of identical customers); ``None`` means 1 each."""
    if weights is None:
        return np.ones(n, dtype=np.float64)
    w = _column("weights", weights, n)
    if (w < 0).any():
        raise _fail("weights", "negative weight", w, w < 0)
    if w.sum() <= 0:
        raise ValidationError("weights sum to zero", field="weights")
    return w


@attrs.frozen(kw_only=True)
class Compressed:
    """Unique rows of a set of columns with summed weights (rows of zero total weight dropped)."""

    columns: tuple[FloatArray, ...]
    weights: FloatArray


def _factorize(column: FloatArray) -> tuple[npt.NDArray[np.int64], int]:
    """Integer codes of a column's values and their number; whole numbers >= 0 need no sort."""
    if column.size and column.min() >= 0 and column.max() < 2**24:
        whole = column.astype(np.int64)
        if np.array_equal(whole, column):
            return whole, int(whole.max()) + 1
    values, codes = np.unique(column, return_inverse=True)
    return codes.reshape(-1).astype(np.int64), int(values.size)


def _group_codes(columns: tuple[FloatArray, ...]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Group ids of identical rows: ``(first row of each group, group of each row)``.

    Each column is factorised (whole-number columns such as counts and periods without sorting), the
    codes are combined into one int64 key and the key is factorised again (by counting when the key
    space is small): much faster than ``np.lexsort`` over float columns for millions of rows. Groups
    come out in lexicographic order of the rows.
    """
    n = columns[0].size
    if 2 <= len(columns) <= 3:
        # whole-number columns of a small range (counts, whole periods): one compiled pass
        third = columns[2] if len(columns) == 3 else columns[0][:0]
        ok, dense_firsts, dense_inverse = dense_groups(columns[0], columns[1], third, 8 * n + 1024)
        if ok:
            return dense_firsts, dense_inverse
    key = np.zeros(n, dtype=np.int64)
    span = 1
    for column in columns:
        codes, size = _factorize(column)
        if span * size >= 2**62:  # astronomically many combinations: exact fallback
            key_rows = np.stack([_factorize(c)[0] for c in columns])
            _, inverse = np.unique(key_rows, axis=1, return_inverse=True)
            inverse = inverse.reshape(-1)
            break
        key = key * size + codes
        span *= size
    else:
        if span <= 8 * n + 1024:
            present = np.bincount(key, minlength=span) > 0
            rank = np.cumsum(present) - 1
            inverse = rank[key]
        else:
            _, inverse = np.unique(key, return_inverse=True)
            inverse = inverse.reshape(-1)
    groups = int(inverse.max()) + 1 if n else 0
    firsts = np.empty(groups, dtype=np.intp)
    firsts[inverse[::-1]] = np.arange(n - 1, -1, -1)
    return firsts, inverse.astype(np.intp)


def compress(columns: tuple[FloatArray, ...], weights: FloatArray) -> Compressed:
    """Collapse identical rows of ``columns`` into unique rows carrying the summed weights.

    Fitting cost then scales with the number of distinct rows, not with the number of customers. The
    unique rows come out sorted by the first column, then the next.
    """
    if columns[0].size == 0:
        return Compressed(columns=columns, weights=weights)
    firsts, inverse = _group_codes(columns)
    summed = np.bincount(inverse, weights=weights, minlength=firsts.size)
    keep = summed > 0
    if not keep.all():
        firsts, summed = firsts[keep], summed[keep]
    return Compressed(columns=tuple(c[firsts] for c in columns), weights=summed.astype(np.float64))


def distinct_rows(columns: tuple[FloatArray, ...]) -> tuple[tuple[FloatArray, ...], npt.NDArray[np.intp]]:
    """Unique rows of equal-length columns and the index of each input row's unique row.

    Scoring a million customers evaluates the model once per distinct ``(frequency, recency, T)``
    and gathers the results back with ``values[inverse]``.
    """
    if columns[0].size == 0:
        return columns, np.zeros(0, dtype=np.intp)
    firsts, inverse = _group_codes(columns)
    return tuple(c[firsts] for c in columns), inverse
