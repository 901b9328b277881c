"""R, F and M scores: quantile or fixed business thresholds, tie-safe and order-invariant."""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Literal, Protocol

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.data import Table
from omnicore.data._columns import as_float_column, as_id_column, column_field, freeze
from omnicore.rfm._ranking import quantile_scores

__all__ = [
    "MAX_BINS",
    "FrequencyMeasure",
    "MonetaryMeasure",
    "RFMScores",
    "ScoreMethod",
    "SummaryLike",
    "Thresholds",
    "score",
    "score_arrays",
]

#: Largest number of score levels (scores are stored as int8 and schemes enumerate bins**3 cells).
MAX_BINS = 20

ScoreMethod = Literal["quantile", "fixed"]
FrequencyMeasure = Literal["orders", "periods"]
MonetaryMeasure = Literal["total", "average"]


class SummaryLike(Protocol):
    """What :func:`score` reads from a customer summary (:class:`omnicore.summary.CustomerSummary`)."""

    @property
    def customer_id(self) -> npt.NDArray[Any]: ...

    @property
    def days_since_last(self) -> npt.NDArray[Any]: ...

    @property
    def orders(self) -> npt.NDArray[Any]: ...

    @property
    def frequency(self) -> npt.NDArray[Any]: ...

    @property
    def net_spend(self) -> npt.NDArray[Any]: ...


# Customers from which quantile scoring uses a second thread (below it a thread costs more than it saves).
_PARALLEL_ROWS = 200_000


def _score_array(name: str, value: Any) -> npt.NDArray[np.int8]:
    array = np.asarray(value)
    if array.ndim != 1:
        raise ValidationError(f"expected a one-dimensional column, got shape {array.shape}", field=name)
    if array.size and array.dtype.kind not in "iu":
        raise ValidationError(f"scores are integers, got dtype {array.dtype}", field=name)
    if array.size and (int(array.min()) < 1 or int(array.max()) > MAX_BINS):
        bad = (array < 1) | (array > MAX_BINS)
        row = int(np.flatnonzero(bad)[0])
        raise ValidationError(f"score outside 1..{MAX_BINS}", field=name, row=row, value=int(array[row]))
    return array.astype(np.int8, copy=False)


def _score_converter(value: Any, field: attrs.Attribute[Any]) -> npt.NDArray[np.int8]:
    return freeze(_score_array(field.name, value))


def score_column(doc: str) -> Any:
    """An attrs field holding a column of int8 scores."""
    return column_field(attrs.Converter(_score_converter, takes_field=True), doc=doc)


def _check_bins(value: int, field: str = "bins") -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValidationError("bins must be an integer", field=field, value=value)
    if not 1 <= int(value) <= MAX_BINS:
        raise ValidationError(f"bins must be within 1..{MAX_BINS}", field=field, value=value)
    return int(value)


def _check_method(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in ("quantile", "fixed"):
        raise ValidationError("method must be 'quantile' or 'fixed'", field=attribute.name, value=value)


def _cut_points(value: Sequence[float]) -> tuple[float, ...]:
    return tuple(float(v) for v in value)


def _increasing(_: Any, attribute: attrs.Attribute[Any], value: tuple[float, ...]) -> None:
    for i, point in enumerate(value):
        if not math.isfinite(point):
            raise ValidationError("cut points must be finite", field=f"{attribute.name}[{i}]", value=point)
        if i and point <= value[i - 1]:
            raise ValidationError(
                "cut points must be strictly increasing", field=f"{attribute.name}[{i}]", value=point
            )


@attrs.frozen(kw_only=True)
class Thresholds:
    """Fixed business cut points for :func:`score` with ``method="fixed"``.

    Each dimension has ``bins - 1`` strictly increasing cut points.

    Parameters
    ----------
    recency_days
        Upper bounds, in days since the last purchase, of scores ``bins, bins - 1, ..., 2``: a customer
        whose last purchase is at most ``recency_days[0]`` days ago scores ``bins``; one beyond
        ``recency_days[-1]`` scores 1.
    frequency
        Lower bounds of scores ``2..bins``: a frequency of at least ``frequency[k]`` scores ``k + 2`` or more.
    monetary
        Lower bounds of scores ``2..bins``, in the currency of the amounts.

    Raises
    ------
    ValidationError
        If cut points are not finite and strictly increasing, or the dimensions disagree in length.

    Examples
    --------
    >>> t = Thresholds(
    ...     recency_days=(30, 90, 180, 365), frequency=(2, 3, 5, 10), monetary=(50, 100, 250, 1000)
    ... )
    >>> t.bins
    5
    """

    recency_days: tuple[float, ...] = attrs.field(converter=_cut_points, validator=_increasing)
    frequency: tuple[float, ...] = attrs.field(converter=_cut_points, validator=_increasing)
    monetary: tuple[float, ...] = attrs.field(converter=_cut_points, validator=_increasing)

    def __attrs_post_init__(self) -> None:
        lengths = {len(self.recency_days), len(self.frequency), len(self.monetary)}
        if len(lengths) != 1:
            raise ValidationError(
                "every dimension needs the same number of cut points (bins - 1)",
                field="frequency",
                value=sorted(lengths),
            )
        _check_bins(len(self.recency_days) + 1, "thresholds")

    @property
    def bins(self) -> int:
        """Number of score levels: one more than the number of cut points."""
        return len(self.recency_days) + 1


@attrs.frozen(kw_only=True, repr=False)
class RFMScores(Table):
    """Recency, frequency and monetary scores per customer, with the values they were computed from.

    Higher is better on every score: recency is inverted, so the most recent buyers score ``bins``.

    Attributes
    ----------
    customer_id
        The customer of each row.
    days_since_last
        Days from the last purchase to the as-of date (the recency input).
    frequency
        The frequency input (orders or distinct purchase periods).
    monetary
        The monetary input (total or average spend).
    revenue
        Net spend of the customer, for revenue shares in reports.
    recency_score, frequency_score, monetary_score
        int8 scores in ``1..bins``.
    bins
        Number of score levels.
    method
        ``"quantile"`` or ``"fixed"``.
    """

    _length_anchor: ClassVar[str] = "customer_id"

    customer_id: npt.NDArray[Any] = column_field(as_id_column())
    days_since_last: npt.NDArray[np.float64] = column_field(as_float_column())
    frequency: npt.NDArray[np.float64] = column_field(as_float_column())
    monetary: npt.NDArray[np.float64] = column_field(as_float_column())
    revenue: npt.NDArray[np.float64] = column_field(as_float_column())
    recency_score: npt.NDArray[np.int8] = score_column("R score, 1..bins")
    frequency_score: npt.NDArray[np.int8] = score_column("F score, 1..bins")
    monetary_score: npt.NDArray[np.int8] = score_column("M score, 1..bins")
    bins: int = attrs.field(default=5, converter=_check_bins)
    method: ScoreMethod = attrs.field(default="quantile", validator=_check_method)

    def _validate(self) -> None:
        for name in ("recency_score", "frequency_score", "monetary_score"):
            column = getattr(self, name)
            if column.size and int(column.max()) > self.bins:
                row = int(np.argmax(column))
                raise ValidationError(
                    f"score above bins={self.bins}", field=name, row=row, value=int(column[row])
                )

    @property
    def cell(self) -> npt.NDArray[np.int32]:
        """Each customer's score cell as one integer, ``((r - 1) * bins + (f - 1)) * bins + (m - 1)``."""
        b = self.bins
        r = self.recency_score.astype(np.int32)
        f = self.frequency_score.astype(np.int32)
        m = self.monetary_score.astype(np.int32)
        cells: npt.NDArray[np.int32] = ((r - 1) * b + (f - 1)) * b + (m - 1)
        return cells


def _fixed_scores(
    values: npt.NDArray[np.float64], points: tuple[float, ...], *, higher_is_better: bool
) -> npt.NDArray[np.int8]:
    cuts = np.asarray(points, dtype=np.float64)
    if higher_is_better:
        return (1 + np.searchsorted(cuts, values, side="right")).astype(np.int8)
    return (len(cuts) + 1 - np.searchsorted(cuts, values, side="left")).astype(np.int8)


def score_arrays(
    customer_id: npt.ArrayLike,
    days_since_last: npt.ArrayLike,
    frequency: npt.ArrayLike,
    monetary: npt.ArrayLike,
    *,
    revenue: npt.ArrayLike | None = None,
    bins: int = 5,
    method: ScoreMethod = "quantile",
    thresholds: Thresholds | None = None,
) -> RFMScores:
    """Score customers from plain arrays (the pure core of :func:`score`).

    Parameters
    ----------
    customer_id
        One id per customer.
    days_since_last
        Days since each customer's last purchase (lower is better).
    frequency
        Purchase frequency (higher is better).
    monetary
        Spend (higher is better).
    revenue
        Net spend per customer for revenue shares; defaults to ``monetary``.
    bins, method, thresholds
        As in :func:`score`.

    Returns
    -------
    RFMScores

    Raises
    ------
    ValidationError
        On columns of different lengths, NaN values, or inconsistent ``bins``/``method``/``thresholds``.

    Examples
    --------
    >>> s = score_arrays([1, 2, 3, 4], [5, 40, 5, 300], [1, 1, 3, 2], [20.0, 35.0, 400.0, 90.0], bins=4)
    >>> s.recency_score.tolist(), s.frequency_score.tolist(), s.monetary_score.tolist()
    ([3, 2, 3, 1], [1, 1, 4, 3], [1, 2, 4, 3])
    """
    bins = _check_bins(bins)
    if method not in ("quantile", "fixed"):
        raise ValidationError("method must be 'quantile' or 'fixed'", field="method", value=method)
    if method == "fixed":
        if thresholds is None:
            raise ValidationError("method='fixed' needs thresholds", field="thresholds")
        if thresholds.bins != bins:
            raise ValidationError(
                f"thresholds have {thresholds.bins - 1} cut points; bins={bins} needs {bins - 1}",
                field="thresholds",
                value=thresholds.bins - 1,
            )
    elif thresholds is not None:
        raise ValidationError("thresholds are only used with method='fixed'", field="thresholds")
    ids = convert_column(as_id_column(), customer_id, "customer_id")
    recency = convert_column(as_float_column(), days_since_last, "days_since_last")
    freq = convert_column(as_float_column(), frequency, "frequency")
    money = convert_column(as_float_column(), monetary, "monetary")
    rev = money if revenue is None else convert_column(as_float_column(), revenue, "revenue")
    n = len(ids)
    for name, column in (
        ("days_since_last", recency),
        ("frequency", freq),
        ("monetary", money),
        ("revenue", rev),
    ):
        if len(column) != n:
            raise ValidationError(f"column has {len(column)} rows but 'customer_id' has {n}", field=name)
    if thresholds is not None:
        r = _fixed_scores(recency, thresholds.recency_days, higher_is_better=False)
        f = _fixed_scores(freq, thresholds.frequency, higher_is_better=True)
        m = _fixed_scores(money, thresholds.monetary, higher_is_better=True)
    elif n >= _PARALLEL_ROWS:
        # Selecting cut points (numpy.partition) releases the GIL: recency is scored in a helper thread.
        with ThreadPoolExecutor(max_workers=1) as helper:
            pending = helper.submit(quantile_scores, recency, bins, higher_is_better=False)
            f = quantile_scores(freq, bins, higher_is_better=True)
            m = quantile_scores(money, bins, higher_is_better=True)
            r = pending.result()
    else:
        r = quantile_scores(recency, bins, higher_is_better=False)
        f = quantile_scores(freq, bins, higher_is_better=True)
        m = quantile_scores(money, bins, higher_is_better=True)
    return RFMScores(
        customer_id=ids,
        days_since_last=recency,
        frequency=freq,
        monetary=money,
        revenue=rev,
        recency_score=r,
        frequency_score=f,
        monetary_score=m,
        bins=bins,
        method=method,
    )


_FIELDS = {f.name: f for f in attrs.fields(RFMScores)}


def convert_column(converter: attrs.Converter[Any, Any], value: Any, name: str) -> npt.NDArray[Any]:
    """Run a column converter of :class:`RFMScores` field ``name`` outside the class (errors name it)."""
    field = _FIELDS[name]
    result: npt.NDArray[Any] = converter(value, None, field)  # type: ignore[operator]
    return result


def score(
    summary: SummaryLike,
    *,
    bins: int = 5,
    method: ScoreMethod = "quantile",
    thresholds: Thresholds | None = None,
    frequency: FrequencyMeasure = "orders",
    monetary: MonetaryMeasure = "total",
) -> RFMScores:
    """Score every customer of a summary 1..``bins`` on recency, frequency and monetary value.

    Parameters
    ----------
    summary
        A :class:`~omnicore.summary.CustomerSummary` (from :func:`omnicore.summarize`).
    bins
        Number of score levels (default 5).
    method
        ``"quantile"``: a customer's score is ``1 + bins * worse // n`` where ``worse`` counts the
        customers strictly worse on that dimension, so distinct values fall into equal-sized groups and
        equal values always share a score (the lowest their tie reaches), whatever the row order.
        ``"fixed"``: business cut points from ``thresholds``.
    thresholds
        Cut points for ``method="fixed"``.
    frequency
        ``"orders"`` (number of orders, the default) or ``"periods"`` (distinct purchase periods,
        ``summary.frequency + 1``).
    monetary
        ``"total"`` net spend (default) or ``"average"`` spend per order.

    Returns
    -------
    RFMScores
        Scores and inputs per customer; recency is inverted so that recent buyers score high.

    Raises
    ------
    ValidationError
        On an unknown method or measure, or thresholds that do not match ``bins``.

    See Also
    --------
    segment : name the score combinations.

    Notes
    -----
    Degenerate inputs are defined: with one customer, or when every customer has the same value, every
    score on that dimension is 1. Quantile scoring is O(n): the ``bins - 1`` cut points are order
    statistics (found by counting, a histogram or a partition), then each value is compared with them.

    Examples
    --------
    >>> import omnicore
    >>> from omnicore import rfm
    >>> tx = omnicore.Transactions(
    ...     customer_id=[1, 1, 2, 3, 3, 3],
    ...     timestamp=["2024-01-02", "2024-03-01", "2024-02-10", "2024-01-05", "2024-02-20", "2024-03-25"],
    ...     amount=[30.0, 20.0, 15.0, 40.0, 60.0, 80.0],
    ... )
    >>> summary = omnicore.summarize(tx, observation_end="2024-03-31")
    >>> scores = rfm.score(summary, bins=3)
    >>> scores.recency_score.tolist(), scores.frequency_score.tolist(), scores.monetary_score.tolist()
    ([2, 1, 3], [2, 1, 3], [2, 1, 3])
    """
    if frequency not in ("orders", "periods"):
        raise ValidationError("frequency must be 'orders' or 'periods'", field="frequency", value=frequency)
    if monetary not in ("total", "average"):
        raise ValidationError("monetary must be 'total' or 'average'", field="monetary", value=monetary)
    orders = np.asarray(summary.orders, dtype=np.float64)
    freq = orders if frequency == "orders" else np.asarray(summary.frequency, dtype=np.float64) + 1.0
    total = np.asarray(summary.net_spend, dtype=np.float64)
    if monetary == "total":
        money = total
    else:
        money = np.divide(total, orders, out=np.zeros_like(total), where=orders > 0)
    return score_arrays(
        summary.customer_id,
        summary.days_since_last,
        freq,
        money,
        revenue=total,
        bins=bins,
        method=method,
        thresholds=thresholds,
    )
