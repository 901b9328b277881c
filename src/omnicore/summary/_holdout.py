"""``calibration_holdout``: split transactions at a date into a calibration summary and holdout counts."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.data import Transactions, searchsorted, to_datetime64
from omnicore.data._columns import as_float_column, column_field
from omnicore.summary._customer_summary import CustomerSummary
from omnicore.summary._period import Period, period_index
from omnicore.summary._summarize import summarize

__all__ = ["CalibrationHoldout", "calibration_holdout"]


@attrs.frozen(kw_only=True)
class CalibrationHoldout:
    """A calibration-period summary and what the same customers did in the holdout period.

    Attributes
    ----------
    calibration
        :func:`summarize` of the transactions up to ``calibration_end``.
    frequency_holdout
        Purchase periods per calibration customer in ``(calibration_end, observation_end]``.
    monetary_value_holdout
        Mean transaction amount in the holdout (0 where none).
    duration_holdout
        Length of the holdout in periods.
    """

    calibration: CustomerSummary
    frequency_holdout: npt.NDArray[np.float64] = column_field(as_float_column(nonnegative=True))
    monetary_value_holdout: npt.NDArray[np.float64] = column_field(as_float_column())
    duration_holdout: float


def calibration_holdout(
    transactions: Transactions,
    *,
    calibration_end: Any,
    observation_end: Any = None,
    period: Period | str = Period.DAY,
) -> CalibrationHoldout:
    """Split transactions into a calibration summary and holdout purchase counts.

    Definitions follow lifetimes' ``calibration_and_holdout_data``: calibration rows are those at or before
    ``calibration_end``; the holdout counts distinct purchase periods in ``(calibration_end,
    observation_end]`` for each calibration customer; ``duration_holdout`` is the number of periods
    between the two ends.

    Parameters
    ----------
    transactions
        The purchase log.
    calibration_end
        Last moment of the calibration period.
    observation_end
        Last moment of the holdout period; defaults to the last transaction.
    period
        ``"D"``, ``"W"`` or ``"h"``, as in :func:`summarize`.

    Returns
    -------
    CalibrationHoldout

    Raises
    ------
    ValidationError
        If ``calibration_end`` is not before ``observation_end`` or the holdout has no transactions.

    Examples
    --------
    >>> tx = Transactions(customer_id=[1, 1, 1, 2], amount=[10.0, 20.0, 5.0, 8.0],
    ...                   timestamp=["2024-01-01", "2024-01-10", "2024-02-03", "2024-01-02"])
    >>> ch = calibration_holdout(tx, calibration_end="2024-01-31", observation_end="2024-02-29")
    >>> ch.calibration.frequency.tolist(), ch.frequency_holdout.tolist(), ch.duration_holdout
    ([1, 0], [1.0, 0.0], 29.0)
    """
    unit = Period.parse(period)
    cal_end = to_datetime64(calibration_end, field="calibration_end")
    obs_end = (
        transactions.timestamp.max()
        if observation_end is None
        else to_datetime64(observation_end, field="observation_end")
    )
    if cal_end >= obs_end:
        raise ValidationError(
            "calibration_end must be before observation_end", field="calibration_end", value=str(cal_end)
        )
    in_calibration = transactions.timestamp <= cal_end
    calibration = summarize(transactions.take(in_calibration), observation_end=cal_end, period=unit)
    in_holdout = (transactions.timestamp > cal_end) & (transactions.timestamp <= obs_end)
    if not in_holdout.any():
        raise ValidationError(
            "the holdout period has no transactions", field="observation_end", value=str(obs_end)
        )
    holdout = transactions.take(in_holdout)
    position = searchsorted(calibration.customer_id, holdout.customer_id)
    position = np.minimum(position, len(calibration) - 1)
    known = calibration.customer_id[position] == holdout.customer_id
    who = position[known]
    when = period_index(holdout.timestamp[known], unit)
    n = len(calibration)
    span = int(when.max() - when.min()) + 1 if len(when) else 1
    distinct = np.unique(who * span + (when - (when.min() if len(when) else 0)))
    frequency = np.bincount(distinct // span, minlength=n).astype(np.float64)
    count = np.bincount(who, minlength=n)
    total = np.bincount(who, weights=holdout.amount[known], minlength=n)
    mean = np.divide(total, count, out=np.zeros(n), where=count > 0)
    end_periods = period_index(np.array([cal_end, obs_end]), unit)
    return CalibrationHoldout(
        calibration=calibration,
        frequency_holdout=frequency,
        monetary_value_holdout=mean,
        duration_holdout=float(end_periods[1] - end_periods[0]),
    )
