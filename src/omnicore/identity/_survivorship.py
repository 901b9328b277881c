"""Survivorship: each unified customer's golden name, phone, e-mail... with the evidence kept."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.data import STRING_DTYPE
from omnicore.data._columns import as_int_column, as_string_column, as_time_column, column_field
from omnicore.data._table import Table
from omnicore.identity._resolve import Resolution
from omnicore.identity._text import unique_text_full

__all__ = ["GoldenRecords", "SurvivorshipRule", "golden_records"]

_STRATEGIES = ("source_priority", "recency", "frequency")


@attrs.frozen(kw_only=True)
class SurvivorshipRule:
    """How one attribute (an identifier type) of the golden record is chosen.

    Parameters
    ----------
    id_type
        The attribute, e.g. ``"name"``, ``"phone"``, ``"email"``.
    strategy
        ``"source_priority"`` (the value from the most trusted source, then the most recent),
        ``"recency"`` (the most recently observed value) or ``"frequency"`` (the value on most
        records, then the most recent).
    sources
        Trusted sources, most trusted first (for ``"source_priority"``; unlisted sources rank last).

    Examples
    --------
    >>> SurvivorshipRule(id_type="name", strategy="source_priority", sources=("pos", "online"))
    SurvivorshipRule(id_type='name', strategy='source_priority', sources=('pos', 'online'))
    """

    id_type: str = attrs.field(validator=attrs.validators.min_len(1))
    strategy: str = attrs.field(default="recency", validator=attrs.validators.in_(_STRATEGIES))
    sources: tuple[str, ...] = attrs.field(default=(), converter=tuple)


@attrs.frozen(kw_only=True, repr=False)
class GoldenRecords(Table):
    """One chosen value per customer and attribute, with its evidence.

    Parameters
    ----------
    customer_id
        The customer.
    id_type
        The attribute.
    value
        The surviving value.
    source
        The source of the surviving observation.
    observed_at
        When the surviving value was last seen.
    support
        How many records of the customer carry the value.
    n_candidates
        How many distinct values competed.
    """

    _length_anchor: ClassVar[str] = "customer_id"

    customer_id: npt.NDArray[np.int64] = column_field(as_int_column())
    id_type: npt.NDArray[Any] = column_field(as_string_column())
    value: npt.NDArray[Any] = column_field(as_string_column())
    source: npt.NDArray[Any] = column_field(as_string_column())
    observed_at: npt.NDArray[np.datetime64] = column_field(as_time_column())
    support: npt.NDArray[np.int64] = column_field(as_int_column(nonnegative=True))
    n_candidates: npt.NDArray[np.int64] = column_field(as_int_column(nonnegative=True))


def golden_records(resolution: Resolution, rules: Sequence[SurvivorshipRule]) -> GoldenRecords:
    """Pick each customer's golden value per attribute.

    Parameters
    ----------
    resolution
        The result of :func:`resolve`; attributes come from its (normalised) records, and every row
        belongs to the customer of its record.
    rules
        One rule per attribute.

    Returns
    -------
    GoldenRecords
        Sorted by attribute then customer. Ties are broken by the other criteria (recency, then
        support), then by the smaller value, so the result never depends on input order.

    Raises
    ------
    ValidationError
        If an attribute has two rules.

    Examples
    --------
    >>> from omnicore.data import IdentifierRecords
    >>> from omnicore.identity import IdentifierRule, MergeRules, resolve
    >>> rules = MergeRules(identifiers=(IdentifierRule(id_type="phone", normalizer="phone"),
    ...                                 IdentifierRule(id_type="name", links=False)))
    >>> res = resolve(IdentifierRecords(
    ...     record_id=["a", "a", "b", "b"], source=["online", "online", "pos", "pos"],
    ...     id_type=["phone", "name", "phone", "name"],
    ...     value=["13912345678", "Li W", "13912345678", "Li Wei"],
    ...     observed_at=["2024-01-01", "2024-01-01", "2023-01-01", "2023-01-01"]), rules)
    >>> rule = SurvivorshipRule(id_type="name", strategy="source_priority", sources=("pos",))
    >>> g = golden_records(res, [rule])
    >>> g.value.tolist(), g.source.tolist()
    (['Li Wei'], ['pos'])
    """
    types = [r.id_type for r in rules]
    if len(set(types)) != len(types):
        raise ValidationError("one survivorship rule per attribute", field="rules")
    recs = resolution.records
    customer = resolution.record_customer
    parts: list[dict[str, npt.NDArray[Any]]] = []
    for rule in rules:
        rows = np.flatnonzero((recs.id_type == rule.id_type) & (customer >= 0))
        if rows.size == 0:
            continue
        cust = customer[rows]
        values = recs.value[rows].astype(STRING_DTYPE)
        sources = recs.source[rows].astype(STRING_DTYPE)
        seen = recs.observed_at[rows].astype(np.int64)
        rank_of = {s: k for k, s in enumerate(rule.sources)}
        src_uniques, _, src_codes, _ = unique_text_full(sources)
        src_rank = np.array([rank_of.get(str(s), len(rule.sources)) for s in src_uniques.tolist()], np.int64)[
            src_codes
        ]
        val_uniques, _, val_codes, _ = unique_text_full(values)
        # one row per (customer, value): support, latest sighting, best source, the latest row
        group = cust * max(val_uniques.size, 1) + val_codes
        order = np.lexsort((src_rank, -seen, group))
        g_sorted = group[order]
        starts = np.flatnonzero(np.r_[True, g_sorted[1:] != g_sorted[:-1]])
        support = np.diff(np.r_[starts, order.size])
        latest_row = order[starts]  # most recent sighting of the value (best source on ties)
        by_source = np.lexsort((-seen, src_rank, group))  # same groups, best source first
        best_row = by_source[starts]
        best_src = src_rank[best_row]
        g_cust = cust[latest_row]
        g_latest = seen[latest_row]
        g_code = val_codes[latest_row]
        keys: tuple[npt.NDArray[np.int64], ...]
        if rule.strategy == "source_priority":
            keys = (g_code, -support, -g_latest, best_src, g_cust)
        elif rule.strategy == "recency":
            keys = (g_code, -support, -g_latest, g_cust)
        else:
            keys = (g_code, -g_latest, -support, g_cust)
        pick = np.lexsort(keys)
        c_sorted = g_cust[pick]
        first = np.r_[True, c_sorted[1:] != c_sorted[:-1]]
        chosen = pick[first]
        n_candidates = np.diff(np.r_[np.flatnonzero(first), c_sorted.size])
        if rule.strategy == "source_priority":
            # report the source the choice was made on
            source_out = sources[best_row[chosen]]
        else:
            source_out = sources[latest_row[chosen]]
        parts.append(
            {
                "customer_id": g_cust[chosen],
                "id_type": np.full(chosen.size, rule.id_type, dtype=STRING_DTYPE),
                "value": val_uniques[g_code[chosen]],
                "source": source_out,
                "observed_at": g_latest[chosen].astype("datetime64[us]"),
                "support": support[chosen].astype(np.int64),
                "n_candidates": n_candidates.astype(np.int64),
            }
        )
    if not parts:
        empty = np.empty(0, dtype=STRING_DTYPE)
        return GoldenRecords(
            customer_id=np.empty(0, np.int64),
            id_type=empty,
            value=empty,
            source=empty,
            observed_at=np.empty(0, "datetime64[us]"),
            support=np.empty(0, np.int64),
            n_candidates=np.empty(0, np.int64),
        )
    return GoldenRecords(**{k: np.concatenate([p[k] for p in parts]) for k in parts[0]})
