"""Naming customers by a segment scheme, and the per-segment table for reports."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.data import Table
from omnicore.data._columns import (
    STRING_DTYPE,
    as_float_column,
    as_id_column,
    as_int_column,
    as_string_column,
    column_field,
    freeze,
)
from omnicore.data._frames import to_frame
from omnicore.rfm._schemes import STANDARD_SEGMENTS, SegmentScheme
from omnicore.rfm._scores import RFMScores, score_column

__all__ = ["CustomerSegments", "SegmentSummary", "segment", "summarize_segments"]


def _code_converter(value: Any, field: attrs.Attribute[Any]) -> npt.NDArray[np.int16]:
    array = np.asarray(value)
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        raise ValidationError("segment codes are a one-dimensional integer column", field=field.name)
    return freeze(array.astype(np.int16, copy=False))


@attrs.frozen(kw_only=True, repr=False)
class CustomerSegments(Table):
    """Each customer's segment under a scheme, with the scores and values that put them there.

    Attributes
    ----------
    customer_id
        The customer of each row.
    segment_code
        Index into ``scheme.names`` (int16).
    recency_score, frequency_score, monetary_score
        The scores (see :class:`RFMScores`).
    days_since_last, frequency, monetary, revenue
        The score inputs.
    scheme
        The :class:`SegmentScheme` used.

    Notes
    -----
    ``to_pandas``/``to_polars``/``to_arrow`` and ``to_dict`` add a ``segment`` column of names.
    """

    _length_anchor: ClassVar[str] = "customer_id"

    customer_id: npt.NDArray[Any] = column_field(as_id_column())
    segment_code: npt.NDArray[np.int16] = column_field(attrs.Converter(_code_converter, takes_field=True))
    recency_score: npt.NDArray[np.int8] = score_column("R score")
    frequency_score: npt.NDArray[np.int8] = score_column("F score")
    monetary_score: npt.NDArray[np.int8] = score_column("M score")
    days_since_last: npt.NDArray[np.float64] = column_field(as_float_column())
    frequency: npt.NDArray[np.float64] = column_field(as_float_column())
    monetary: npt.NDArray[np.float64] = column_field(as_float_column())
    revenue: npt.NDArray[np.float64] = column_field(as_float_column())
    scheme: SegmentScheme = attrs.field(default=STANDARD_SEGMENTS)

    def _validate(self) -> None:
        codes = self.segment_code
        if codes.size and (int(codes.min()) < 0 or int(codes.max()) >= len(self.scheme.segments)):
            bad = (codes < 0) | (codes >= len(self.scheme.segments))
            row = int(np.flatnonzero(bad)[0])
            raise ValidationError(
                "segment code outside the scheme", field="segment_code", row=row, value=int(codes[row])
            )

    @property
    def names(self) -> tuple[str, ...]:
        """The scheme's segment names, indexed by ``segment_code``."""
        return self.scheme.names

    @property
    def segment(self) -> npt.NDArray[Any]:
        """Each customer's segment name (text)."""
        names: npt.NDArray[Any] = np.asarray(self.names, dtype=STRING_DTYPE)
        return names[self.segment_code]

    def counts(self) -> dict[str, int]:
        """Number of customers in each segment, in scheme order (zeros included)."""
        counts = np.bincount(self.segment_code, minlength=len(self.names))
        return dict(zip(self.names, (int(c) for c in counts), strict=True))

    def members(self, name: str) -> npt.NDArray[Any]:
        """Ids of the customers in the segment called ``name``."""
        code = self.names.index(self.scheme.rule(name).name)
        ids: npt.NDArray[Any] = self.customer_id[self.segment_code == code]
        return ids

    def _export(self) -> dict[str, npt.NDArray[Any]]:
        columns = dict(self._columns())
        names = np.empty(len(self.names), dtype=object)
        names[:] = self.names
        return {"customer_id": columns.pop("customer_id"), "segment": names[self.segment_code], **columns}

    def to_dict(self) -> dict[str, npt.NDArray[Any]]:
        """The columns as numpy arrays, with a ``segment`` column of names."""
        return self._export()

    def to_pandas(self) -> Any:
        """Convert to a :class:`pandas.DataFrame` (``segment`` as an ordered categorical)."""
        frame = to_frame(self._export(), "pandas")
        import pandas as pd

        frame["segment"] = pd.Categorical.from_codes(
            self.segment_code.astype(np.int64), categories=pd.Index(list(self.names)), ordered=True
        )
        return frame

    def to_polars(self) -> Any:
        """Convert to a :class:`polars.DataFrame`."""
        return to_frame(self._export(), "polars")

    def to_arrow(self) -> Any:
        """Convert to a :class:`pyarrow.Table`."""
        return to_frame(self._export(), "pyarrow")


def segment(scores: RFMScores, scheme: SegmentScheme = STANDARD_SEGMENTS) -> CustomerSegments:
    """Name every customer's segment by looking their score cell up in a scheme.

    Parameters
    ----------
    scores
        The output of :func:`score`.
    scheme
        The segment scheme (default :data:`STANDARD_SEGMENTS`); its ``bins`` must equal ``scores.bins``.

    Returns
    -------
    CustomerSegments
        One row per customer, in the order of ``scores``. Every customer is in exactly one segment, since
        a scheme covers every score cell once.

    Raises
    ------
    ValidationError
        If the scheme was written for a different number of score levels.

    Notes
    -----
    O(n): one gather from the scheme's ``bins**3`` lookup table, so naming a million customers costs
    milliseconds (no string matching).

    Examples
    --------
    >>> from omnicore import rfm
    >>> scores = rfm.score_arrays([1, 2, 3, 4, 5], [2, 3, 40, 200, 400], [9, 1, 4, 6, 1],
    ...                           [900.0, 30.0, 200.0, 500.0, 10.0])
    >>> rfm.segment(scores).segment.tolist()
    ['Champions', 'Promising', 'Need Attention', 'At Risk', 'Lost']
    """
    if scheme.bins != scores.bins:
        raise ValidationError(
            f"scheme {scheme.name!r} is for {scheme.bins} score levels but the scores have {scores.bins}",
            field="scheme",
            value=scheme.bins,
        )
    b = scheme.bins
    flat = scheme.table.reshape(-1)
    cell = (scores.recency_score.astype(np.intp) - 1) * (b * b)
    cell += (scores.frequency_score.astype(np.intp) - 1) * b
    cell += scores.monetary_score - 1
    return CustomerSegments(
        customer_id=scores.customer_id,
        segment_code=flat[cell],
        recency_score=scores.recency_score,
        frequency_score=scores.frequency_score,
        monetary_score=scores.monetary_score,
        days_since_last=scores.days_since_last,
        frequency=scores.frequency,
        monetary=scores.monetary,
        revenue=scores.revenue,
        scheme=scheme,
    )


def _mean_converter(value: Any, field: attrs.Attribute[Any]) -> npt.NDArray[np.float64]:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 1:
        raise ValidationError("expected a one-dimensional column", field=field.name)
    return freeze(array)


# Means may be NaN (an empty segment has no mean).
_MEAN = attrs.Converter(_mean_converter, takes_field=True)


@attrs.frozen(kw_only=True, repr=False)
class SegmentSummary(Table):
    """One row per segment for reports: size, share, average inputs and scores, revenue and its share.

    Attributes
    ----------
    segment
        Segment name, in scheme order.
    customers, share
        Number and share of customers.
    mean_days_since_last, mean_frequency, mean_monetary
        Average score inputs (NaN for an empty segment).
    mean_recency_score, mean_frequency_score, mean_monetary_score
        Average scores (NaN for an empty segment).
    revenue, revenue_share
        Net spend of the segment and its share of the total.
    """

    _length_anchor: ClassVar[str] = "segment"

    segment: npt.NDArray[Any] = column_field(as_string_column())
    customers: npt.NDArray[np.int64] = column_field(as_int_column(nonnegative=True))
    share: npt.NDArray[np.float64] = column_field(as_float_column())
    mean_days_since_last: npt.NDArray[np.float64] = column_field(_MEAN)
    mean_frequency: npt.NDArray[np.float64] = column_field(_MEAN)
    mean_monetary: npt.NDArray[np.float64] = column_field(_MEAN)
    mean_recency_score: npt.NDArray[np.float64] = column_field(_MEAN)
    mean_frequency_score: npt.NDArray[np.float64] = column_field(_MEAN)
    mean_monetary_score: npt.NDArray[np.float64] = column_field(_MEAN)
    revenue: npt.NDArray[np.float64] = column_field(as_float_column())
    revenue_share: npt.NDArray[np.float64] = column_field(as_float_column())


def summarize_segments(segments: CustomerSegments) -> SegmentSummary:
    """The report table of a segmentation: one row per segment of the scheme, empty ones included.

    Parameters
    ----------
    segments
        The output of :func:`segment`.

    Returns
    -------
    SegmentSummary
        Counts, shares, mean inputs and scores, revenue and revenue share per segment, in scheme order.

    Examples
    --------
    >>> from omnicore import rfm
    >>> scores = rfm.score_arrays([1, 2, 3, 4], [2, 3, 200, 400], [9, 8, 6, 1], [900.0, 600.0, 500.0, 10.0])
    >>> table = rfm.summarize_segments(rfm.segment(scores))
    >>> [(row["segment"], row["customers"], round(row["revenue_share"], 3))
    ...  for row in table.to_records() if row["customers"]]
    [('Loyal', 1, 0.448), ('Need Attention', 1, 0.299), ('Hibernating', 1, 0.249), ('Lost', 1, 0.005)]
    """
    k = len(segments.names)
    codes = segments.segment_code
    n = len(codes)
    customers = np.bincount(codes, minlength=k).astype(np.int64)

    def total(column: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        sums: npt.NDArray[np.float64] = np.bincount(codes, weights=column, minlength=k).astype(np.float64)
        return sums

    def mean(column: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        with np.errstate(invalid="ignore", divide="ignore"):
            means: npt.NDArray[np.float64] = total(column) / customers
        return means

    revenue = total(segments.revenue)
    revenue_total = float(revenue.sum())
    return SegmentSummary(
        segment=np.asarray(segments.names, dtype=STRING_DTYPE),
        customers=customers,
        share=customers / n if n else np.zeros(k),
        mean_days_since_last=mean(segments.days_since_last),
        mean_frequency=mean(segments.frequency),
        mean_monetary=mean(segments.monetary),
        mean_recency_score=mean(segments.recency_score),
        mean_frequency_score=mean(segments.frequency_score),
        mean_monetary_score=mean(segments.monetary_score),
        revenue=revenue,
        revenue_share=revenue / revenue_total if revenue_total else np.zeros(k),
    )
