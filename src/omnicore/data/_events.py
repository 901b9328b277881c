"""Behavioural events: browse, add_to_cart, purchase, chat message, segment change, ..."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import numpy as np
import numpy.typing as npt

from omnicore.data._columns import (
    as_id_column,
    as_string_column,
    as_time_column,
    column_field,
    properties_field,
)
from omnicore.data._table import Table

__all__ = ["Events"]


@attrs.frozen(kw_only=True, repr=False)
class Events(Table):
    """Events as validated, read-only numpy columns plus typed property columns.

    Parameters
    ----------
    customer_id
        Who did it: a resolved customer id, or an identifier value when ``identifier_type`` is given.
    event_type
        What happened, e.g. ``"browse"``, ``"add_to_cart"``, ``"purchase"``, ``"chat_message"``.
    timestamp
        When, as UTC ``datetime64[us]``.
    identifier_type
        Optional: for events keyed by an unresolved identifier (``"wechat_openid"``, ``"phone"``, ...).
    event_id
        Optional unique id of the event, the idempotency key for anything it triggers.
    properties
        Mapping of property name to column: numbers become float64 (NaN where missing), text stays text
        ('' where missing), booleans and timestamps keep their type.

    Notes
    -----
    Text that repeats (event types, categories, chat text) is cheapest to process as dictionary codes.
    A text column of 65,536 rows or more given as a fixed-width numpy array (``np.array(["browse",
    ...])`` makes one) is coded on construction, and a pandas categorical, an Arrow dictionary array
    (as Parquet gives for repetitive text) or a polars categorical or enum keeps the codes it comes
    with; ``take`` carries them to the rows it takes. The columns read the same either way; the
    codes only spare later passes (rule evaluation, group-bys) from reading the text again.

    Examples
    --------
    >>> ev = Events(
    ...     customer_id=[7, 7, 9],
    ...     event_type=["browse", "add_to_cart", "chat_message"],
    ...     timestamp=["2024-03-01T09:00", "2024-03-01T09:05", "2024-03-02T20:00"],
    ...     properties={"category": ["baby", "baby", ""], "price": [None, 89.0, None],
    ...                 "text": ["", "", "有防晒霜吗"]},
    ... )
    >>> ev.properties["price"]
    array([nan, 89., nan])
    """

    _length_anchor: ClassVar[str] = "customer_id"

    customer_id: npt.NDArray[Any] = column_field(as_id_column())
    event_type: npt.NDArray[Any] = column_field(as_string_column(encode=True))
    timestamp: npt.NDArray[np.datetime64] = column_field(as_time_column())
    identifier_type: npt.NDArray[Any] | None = column_field(as_string_column(optional=True), optional=True)
    event_id: npt.NDArray[Any] | None = column_field(as_id_column(optional=True), optional=True)
    properties: Mapping[str, npt.NDArray[Any]] = properties_field()

    @classmethod
    def empty(cls) -> Events:
        """A container with no rows."""
        return cls(
            customer_id=np.empty(0, np.int64),
            event_type=np.empty(0, dtype=object),
            timestamp=np.empty(0, "datetime64[us]"),
        )
