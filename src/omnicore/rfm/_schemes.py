"""Segment schemes as data: named rules over score ranges that cover every score cell exactly once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.rfm._scores import MAX_BINS

__all__ = ["LIFECYCLE_SEGMENTS", "STANDARD_SEGMENTS", "SegmentRule", "SegmentScheme"]

ScoreRange = tuple[int, int]


def _range(value: Sequence[int] | None) -> ScoreRange | None:
    if value is None:
        return None
    if isinstance(value, int | np.integer):
        return (int(value), int(value))
    items = tuple(value)
    if len(items) != 2:
        raise ValidationError("a score range is (low, high), both inclusive", value=items)
    low, high = items
    return (int(low), int(high))


def _check_range(_: Any, attribute: attrs.Attribute[Any], value: ScoreRange | None) -> None:
    if value is None:
        return
    low, high = value
    if not 1 <= low <= high <= MAX_BINS:
        raise ValidationError(
            f"score range must satisfy 1 <= low <= high <= {MAX_BINS}", field=attribute.name, value=value
        )


def _nonblank(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("must be non-empty text", field=attribute.name, value=value)


@attrs.frozen(kw_only=True)
class SegmentRule:
    """One named segment: the customers whose scores fall in every given inclusive range.

    Parameters
    ----------
    name
        The segment's name, e.g. ``"Champions"``.
    recency, frequency, monetary
        Inclusive score ranges ``(low, high)`` (a single int means one score); ``None`` means any score.
    description
        A sentence for reports, e.g. what the customers do and what to do about them.

    Examples
    --------
    >>> rule = SegmentRule(name="Champions", recency=(5, 5), frequency=(4, 5))
    >>> rule.matches(5, 4, 1), rule.matches(4, 5, 5)
    (True, False)
    """

    name: str = attrs.field(validator=_nonblank)
    recency: ScoreRange | None = attrs.field(default=None, converter=_range, validator=_check_range)
    frequency: ScoreRange | None = attrs.field(default=None, converter=_range, validator=_check_range)
    monetary: ScoreRange | None = attrs.field(default=None, converter=_range, validator=_check_range)
    description: str = ""

    def matches(self, recency: int, frequency: int, monetary: int) -> bool:
        """Whether one score triple falls in this rule."""
        return all(
            bounds is None or bounds[0] <= value <= bounds[1]
            for bounds, value in (
                (self.recency, recency),
                (self.frequency, frequency),
                (self.monetary, monetary),
            )
        )

    def _mask(self, levels: npt.NDArray[np.int64], bins: int) -> npt.NDArray[np.bool_]:
        def axis(bounds: ScoreRange | None) -> npt.NDArray[np.bool_]:
            if bounds is None:
                return np.ones(bins, dtype=bool)
            return (levels >= bounds[0]) & (levels <= bounds[1])

        r, f, m = axis(self.recency), axis(self.frequency), axis(self.monetary)
        mask: npt.NDArray[np.bool_] = r[:, None, None] & f[None, :, None] & m[None, None, :]
        return mask


def _check_bins(_: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not 1 <= value <= MAX_BINS:
        raise ValidationError(f"bins must be within 1..{MAX_BINS}", field=attribute.name, value=value)


def _rules(value: Sequence[SegmentRule]) -> tuple[SegmentRule, ...]:
    return tuple(value)


def _cell_text(cell: tuple[int, ...]) -> str:
    return "R{}F{}M{}".format(*(int(c) + 1 for c in cell))


@attrs.frozen(kw_only=True)
class SegmentScheme:
    """A complete set of named segments over ``bins``-level scores, checked to cover every cell once.

    Parameters
    ----------
    name
        The scheme's name.
    bins
        Number of score levels the rules are written for.
    segments
        The rules, in report order. Together they must cover each of the ``bins**3`` score combinations
        exactly once.

    Raises
    ------
    ValidationError
        If names repeat, a range exceeds ``bins``, or some cell is covered by no rule or by several (every
        uncovered and overlapping cell is listed in ``problems``).

    Examples
    --------
    >>> two = SegmentScheme(
    ...     name="two tiers",
    ...     bins=2,
    ...     segments=(SegmentRule(name="active", recency=2), SegmentRule(name="lapsed", recency=1)),
    ... )
    >>> two.names
    ('active', 'lapsed')
    >>> SegmentScheme(name="gap", bins=2, segments=(SegmentRule(name="active", recency=2),))
    Traceback (most recent call last):
    ...
    omnicore._errors.ValidationError: field 'segments': 4 of 8 score cells are covered by no segment: ...
    """

    name: str = attrs.field(validator=_nonblank)
    bins: int = attrs.field(default=5, validator=_check_bins)
    segments: tuple[SegmentRule, ...] = attrs.field(converter=_rules)
    _table: npt.NDArray[np.int16] = attrs.field(init=False, repr=False, eq=False, hash=False)

    def __attrs_post_init__(self) -> None:
        if not self.segments:
            raise ValidationError("a scheme needs at least one segment", field="segments")
        if len(self.segments) > np.iinfo(np.int16).max:
            raise ValidationError("too many segments", field="segments", value=len(self.segments))
        seen: set[str] = set()
        for i, rule in enumerate(self.segments):
            if rule.name in seen:
                raise ValidationError(
                    "segment names must be unique", field=f"segments[{i}].name", value=rule.name
                )
            seen.add(rule.name)
            for dim in ("recency", "frequency", "monetary"):
                bounds = getattr(rule, dim)
                if bounds is not None and bounds[1] > self.bins:
                    raise ValidationError(
                        f"score range exceeds bins={self.bins}", field=f"segments[{i}].{dim}", value=bounds
                    )
        coverage = self.coverage()
        problems: list[ValidationError] = []
        total = self.bins**3
        uncovered = np.argwhere(coverage == 0)
        if len(uncovered):
            cells = ", ".join(_cell_text(tuple(c)) for c in uncovered[:10])
            more = " ..." if len(uncovered) > 10 else ""
            problems.append(
                ValidationError(
                    f"{len(uncovered)} of {total} score cells are covered by no segment: {cells}{more}",
                    field="segments",
                )
            )
        overlapping = np.argwhere(coverage > 1)
        if len(overlapping):
            levels = np.arange(1, self.bins + 1)
            masks = [rule._mask(levels, self.bins) for rule in self.segments]
            for cell in overlapping[:10]:
                names = [
                    rule.name for rule, mask in zip(self.segments, masks, strict=True) if mask[tuple(cell)]
                ]
                problems.append(
                    ValidationError(
                        f"score cell {_cell_text(tuple(cell))} is in several segments: {names}",
                        field="segments",
                    )
                )
        if problems:
            head = problems[0]
            raise ValidationError(head.message, field="segments", problems=problems[1:])
        table = np.full((self.bins,) * 3, -1, dtype=np.int16)
        levels = np.arange(1, self.bins + 1)
        for code, rule in enumerate(self.segments):
            table[rule._mask(levels, self.bins)] = code
        table.flags.writeable = False
        object.__setattr__(self, "_table", table)

    @property
    def names(self) -> tuple[str, ...]:
        """Segment names in report order (the order of segment codes)."""
        return tuple(rule.name for rule in self.segments)

    @property
    def table(self) -> npt.NDArray[np.int16]:
        """Segment code of each score cell: ``table[r - 1, f - 1, m - 1]`` (read-only)."""
        return self._table

    def coverage(self) -> npt.NDArray[np.int64]:
        """How many rules cover each score cell, shape ``(bins, bins, bins)`` (1 everywhere when valid)."""
        levels = np.arange(1, self.bins + 1)
        counts = np.zeros((self.bins,) * 3, dtype=np.int64)
        for rule in self.segments:
            counts += rule._mask(levels, self.bins)
        return counts

    def rule(self, name: str) -> SegmentRule:
        """The rule of the segment called ``name``."""
        for rule in self.segments:
            if rule.name == name:
                return rule
        raise ValidationError("no such segment", field="name", value=name)


#: The widely used R x F segment map (five levels), with "Lost" split from "Hibernating" at R = 1.
#: Monetary does not decide the segment; it is reported beside it.
STANDARD_SEGMENTS = SegmentScheme(
    name="standard",
    bins=5,
    segments=(
        SegmentRule(
            name="Champions",
            recency=(5, 5),
            frequency=(4, 5),
            description="Bought most recently and buy most often: reward them, ask for reviews, referrals.",
        ),
        SegmentRule(
            name="Loyal",
            recency=(3, 4),
            frequency=(4, 5),
            description="Buy often and fairly recently: upsell, loyalty programme.",
        ),
        SegmentRule(
            name="Potential Loyalist",
            recency=(4, 5),
            frequency=(2, 3),
            description="Recent buyers with a few purchases: offer membership, recommend.",
        ),
        SegmentRule(
            name="New",
            recency=(5, 5),
            frequency=(1, 1),
            description="Bought for the first time very recently: onboard them, build the habit.",
        ),
        SegmentRule(
            name="Promising",
            recency=(4, 4),
            frequency=(1, 1),
            description="Recent first-time buyers: create brand awareness, free trials.",
        ),
        SegmentRule(
            name="Need Attention",
            recency=(3, 3),
            frequency=(3, 3),
            description="Average recency and frequency: limited-time offers before they slip.",
        ),
        SegmentRule(
            name="About to Sleep",
            recency=(3, 3),
            frequency=(1, 2),
            description="Below-average recency and frequency: reactivate with popular products.",
        ),
        SegmentRule(
            name="At Risk",
            recency=(1, 2),
            frequency=(3, 4),
            description="Bought often, but long ago: personalised win-back.",
        ),
        SegmentRule(
            name="Can't Lose Them",
            recency=(1, 2),
            frequency=(5, 5),
            description="Were the most frequent buyers and have not returned: win them back, talk to them.",
        ),
        SegmentRule(
            name="Hibernating",
            recency=(2, 2),
            frequency=(1, 2),
            description="Few purchases, long ago: relevant offers, low cost.",
        ),
        SegmentRule(
            name="Lost",
            recency=(1, 1),
            frequency=(1, 2),
            description="Lowest recency and frequency: revive interest cheaply or let go.",
        ),
    ),
)

#: A simple lifecycle example (five levels): dormant, new, active and high-value customers.
LIFECYCLE_SEGMENTS = SegmentScheme(
    name="lifecycle",
    bins=5,
    segments=(
        SegmentRule(
            name="high-value",
            recency=(3, 5),
            frequency=(2, 5),
            monetary=(5, 5),
            description="Recent repeat buyers in the top spend quintile.",
        ),
        SegmentRule(
            name="active",
            recency=(3, 5),
            frequency=(2, 5),
            monetary=(1, 4),
            description="Recent repeat buyers.",
        ),
        SegmentRule(name="new", recency=(3, 5), frequency=(1, 1), description="Recent one-time buyers."),
        SegmentRule(name="dormant", recency=(1, 2), description="No purchase for a long time."),
    ),
)


def _structure_scheme(data: Any, _: Any) -> SegmentScheme:
    # Built directly so that a coverage error reaches the caller with its message, not as "invalid value".
    from omnicore._serde import converter

    if not isinstance(data, dict):
        raise ValidationError("expected an object", field="SegmentScheme", value=type(data).__name__)
    segments = converter.structure(data.get("segments", []), tuple[SegmentRule, ...])
    return SegmentScheme(name=data.get("name", ""), bins=data.get("bins", 5), segments=segments)


def _register_hooks() -> None:
    from omnicore._serde import converter

    converter.register_structure_hook(SegmentScheme, _structure_scheme)


_register_hooks()
