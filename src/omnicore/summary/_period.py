"""Time periods for purchase summaries, aligned as pandas' ``to_period`` aligns them."""

from __future__ import annotations

import enum
from typing import Any

import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError

__all__ = ["US_PER_DAY", "Period", "parse_period", "period_index", "period_start_us"]

US_PER_HOUR = 3_600_000_000
US_PER_DAY = 24 * US_PER_HOUR
# 1970-01-01 was a Thursday; pandas' weekly periods ("W" = "W-SUN") run Monday to Sunday.
_MONDAY_OFFSET_DAYS = 3


class Period(enum.Enum):
    """The unit of frequency, recency and T: hours, days or Monday-to-Sunday weeks.

    A summary and every model fitted on it carry their period, so a model fitted in weeks cannot score
    a summary in days.
    """

    HOUR = "h"
    DAY = "D"
    WEEK = "W"

    @classmethod
    def parse(cls, value: Period | str) -> Period:
        """Accept a Period or its code (``"h"``/``"H"``, ``"D"``, ``"W"``)."""
        if isinstance(value, Period):
            return value
        codes = {"h": cls.HOUR, "H": cls.HOUR, "D": cls.DAY, "d": cls.DAY, "W": cls.WEEK, "w": cls.WEEK}
        if value not in codes:
            raise ValidationError("unknown period; expected 'h', 'D' or 'W'", field="period", value=value)
        return codes[value]

    @property
    def days(self) -> float:
        """Length of one period in days."""
        return {Period.HOUR: 1 / 24, Period.DAY: 1.0, Period.WEEK: 7.0}[self]


def parse_period(value: Period | str) -> Period:
    """Accept a :class:`Period` or its code (``"h"``, ``"D"``, ``"W"``)."""
    return Period.parse(value)


def period_index(timestamps: npt.NDArray[np.datetime64] | Any, period: Period) -> npt.NDArray[np.int64]:
    """Integer index of the period each timestamp falls in (consecutive periods differ by 1)."""
    micros = np.asarray(timestamps).astype("datetime64[us]").astype(np.int64)
    if period is Period.HOUR:
        return micros // US_PER_HOUR
    days = micros // US_PER_DAY
    if period is Period.DAY:
        return days
    return (days + _MONDAY_OFFSET_DAYS) // 7


def period_start_us(index: int | npt.NDArray[np.int64], unit: Period) -> Any:
    """First microsecond of period ``index`` (the inverse of :func:`period_index`)."""
    if unit is Period.HOUR:
        return index * US_PER_HOUR
    if unit is Period.DAY:
        return index * US_PER_DAY
    return (index * 7 - _MONDAY_OFFSET_DAYS) * US_PER_DAY
