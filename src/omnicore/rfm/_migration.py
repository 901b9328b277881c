"""Segment migration: how customers moved between the segments of two as-of dates."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.data import Table, factorize
from omnicore.data._columns import (
    STRING_DTYPE,
    as_float_column,
    as_int_column,
    as_string_column,
    column_field,
)
from omnicore.data._frames import to_frame
from omnicore.rfm._segments import CustomerSegments

__all__ = ["ABSENT", "MigrationFlows", "SegmentMigration", "migration"]

#: Label of customers missing on one side (not yet a customer before, or gone after).
ABSENT = "(absent)"


def _labels(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value)


def _matrix(value: Any) -> npt.NDArray[np.int64]:
    array = np.array(value, dtype=np.int64)
    if array.ndim != 2 or array.shape[0] != array.shape[1]:
        raise ValidationError("counts must be a square matrix", field="counts", value=array.shape)
    if array.size and array.min() < 0:
        raise ValidationError("counts must be non-negative", field="counts")
    array.flags.writeable = False
    return array


@attrs.frozen(kw_only=True, repr=False)
class MigrationFlows(Table):
    """The migration matrix in long form: one row per (from, to) pair with customers.

    Attributes
    ----------
    source, target
        Segment before and after (``"(absent)"`` for customers on one side only).
    customers
        Number of customers who moved from ``source`` to ``target``.
    rate
        ``customers`` as a share of the customers in ``source`` before.
    """

    _length_anchor: ClassVar[str] = "source"

    source: npt.NDArray[Any] = column_field(as_string_column())
    target: npt.NDArray[Any] = column_field(as_string_column())
    customers: npt.NDArray[np.int64] = column_field(as_int_column(nonnegative=True))
    rate: npt.NDArray[np.float64] = column_field(as_float_column())


@attrs.frozen(kw_only=True)
class SegmentMigration:
    """Transition counts between the segments of two segmentations of the same scheme.

    Attributes
    ----------
    labels
        Segment names in scheme order, then ``"(absent)"``; rows (before) and columns (after) of ``counts``.
    counts
        ``counts[i, j]`` customers were in ``labels[i]`` before and ``labels[j]`` after (read-only int64).
    """

    labels: tuple[str, ...] = attrs.field(converter=_labels)
    counts: npt.NDArray[np.int64] = attrs.field(converter=_matrix, eq=attrs.cmp_using(eq=np.array_equal))

    def __attrs_post_init__(self) -> None:
        if len(self.labels) != self.counts.shape[0]:
            raise ValidationError(
                "one label per row of counts", field="labels", value=(len(self.labels), self.counts.shape)
            )

    @property
    def rates(self) -> npt.NDArray[np.float64]:
        """Row-normalised counts: the share of each before-segment that went to each after-segment."""
        totals = self.counts.sum(axis=1, keepdims=True)
        rates: npt.NDArray[np.float64] = np.divide(
            self.counts, totals, out=np.zeros(self.counts.shape), where=totals > 0
        )
        return rates

    @property
    def stayed(self) -> float:
        """Share of customers present on both sides who kept their segment."""
        both = self.counts[:-1, :-1]
        total = int(both.sum())
        return float(np.trace(both) / total) if total else 0.0

    def before_counts(self) -> dict[str, int]:
        """Customers per segment at the earlier date (``"(absent)"``: new since)."""
        return dict(zip(self.labels, (int(v) for v in self.counts.sum(axis=1)), strict=True))

    def after_counts(self) -> dict[str, int]:
        """Customers per segment at the later date (``"(absent)"``: present only before)."""
        return dict(zip(self.labels, (int(v) for v in self.counts.sum(axis=0)), strict=True))

    def flows(self, *, include_empty: bool = False) -> MigrationFlows:
        """The matrix in long form, largest flows first (ties in label order)."""
        k = len(self.labels)
        source, target = np.divmod(np.arange(k * k), k)
        counts = self.counts.reshape(-1)
        rates = self.rates.reshape(-1)
        keep = np.ones(k * k, bool) if include_empty else counts > 0
        order = np.flatnonzero(keep)
        order = order[np.argsort(-counts[order], kind="stable")]
        labels = np.asarray(self.labels, dtype=STRING_DTYPE)
        return MigrationFlows(
            source=labels[source[order]],
            target=labels[target[order]],
            customers=counts[order],
            rate=rates[order],
        )

    def to_pandas(self) -> Any:
        """The count matrix as a :class:`pandas.DataFrame` (index: before, columns: after)."""
        frame = to_frame({label: self.counts[:, j] for j, label in enumerate(self.labels)}, "pandas")
        frame.index = list(self.labels)
        frame.index.name = "before"
        frame.columns.name = "after"
        return frame


def migration(before: CustomerSegments, after: CustomerSegments) -> SegmentMigration:
    """Count customers moving between segments from one as-of date to a later one.

    Parameters
    ----------
    before, after
        Segmentations of the same scheme at two dates (e.g. 90 days apart), matched by customer id.

    Returns
    -------
    SegmentMigration
        Counts and rates; customers present on one side only are counted against ``"(absent)"``.

    Raises
    ------
    ValidationError
        If the two use different schemes or a customer id repeats within one side.

    Notes
    -----
    O(n log n) to match ids (one factorisation of both id columns), then one ``bincount``.

    Examples
    --------
    >>> from omnicore import rfm
    >>> old = rfm.segment(rfm.score_arrays([1, 2, 3], [5, 50, 300], [4, 2, 1], [90.0, 40.0, 10.0], bins=5))
    >>> new = rfm.segment(rfm.score_arrays([2, 3, 4], [5, 500, 1], [3, 1, 1], [60.0, 10.0, 5.0], bins=5))
    >>> m = rfm.migration(old, new)
    >>> for row in m.flows().to_records():
    ...     print(row["source"], "->", row["target"], row["customers"])
    Loyal -> (absent) 1
    Hibernating -> At Risk 1
    Lost -> Lost 1
    (absent) -> Promising 1
    """
    if before.scheme != after.scheme:
        raise ValidationError(
            "before and after must use the same segment scheme", field="after", value=after.scheme.name
        )
    labels = (*before.names, ABSENT)
    k = len(labels)
    absent = k - 1
    nb = len(before)
    ids = np.concatenate([before.customer_id, after.customer_id]) if nb or len(after) else before.customer_id
    if before.customer_id.dtype.kind != after.customer_id.dtype.kind and nb and len(after):
        raise ValidationError(
            "customer ids of different kinds (integer vs text)",
            field="after",
            value=str(after.customer_id.dtype),
        )
    _, codes = factorize(ids)
    universe = int(codes.max()) + 1 if len(codes) else 0
    source = np.full(universe, absent, np.int64)
    target = np.full(universe, absent, np.int64)
    for side, side_codes in (("before", codes[:nb]), ("after", codes[nb:])):
        if len(side_codes) and int(np.bincount(side_codes).max()) > 1:
            raise ValidationError("a customer id appears more than once", field=side)
    source[codes[:nb]] = before.segment_code
    target[codes[nb:]] = after.segment_code
    counts = np.bincount(source * k + target, minlength=k * k).reshape(k, k)
    return SegmentMigration(labels=labels, counts=counts)
