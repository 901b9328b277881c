"""Customer profiles: the attributes rule conditions read (segment, tags, scores, CLV, time zone)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.data import Table
from omnicore.data._columns import as_id_column, column_field, properties_field

__all__ = ["Profiles"]


@attrs.frozen(kw_only=True, repr=False)
class Profiles(Table):
    """One row per customer with named attribute columns.

    Parameters
    ----------
    customer_id
        Unique customer ids (int64 or text, like the events').
    attributes
        Attribute name -> column: numbers become float64 (NaN where missing), text stays text
        (``''`` where missing), booleans stay booleans. Typical names: ``segment``, ``tags``
        (comma-separated), ``r_score``/``f_score``/``m_score``, ``predicted_clv``, ``p_alive``,
        ``preferred_channel``, ``timezone`` (IANA name).

    Raises
    ------
    ValidationError
        For a repeated customer id.

    Examples
    --------
    >>> p = Profiles(customer_id=[1, 2], attributes={"segment": ["Champions", "At Risk"],
    ...                                               "predicted_clv": [820.0, 95.5]})
    >>> p.attributes["segment"].tolist()
    ['Champions', 'At Risk']
    """

    _length_anchor: ClassVar[str] = "customer_id"

    customer_id: npt.NDArray[Any] = column_field(as_id_column())
    attributes: Any = properties_field()

    def _validate(self) -> None:
        ids = self.customer_id
        if ids.size > 1:
            order = np.argsort(ids, kind="stable")
            repeated = ids[order][1:] == ids[order][:-1]
            if repeated.any():
                row = int(order[1:][repeated][0])
                raise ValidationError(
                    "customer ids must be unique", field="customer_id", row=row, value=ids[row]
                )

    @classmethod
    def empty(cls) -> Profiles:
        """Profiles of nobody."""
        return cls(customer_id=np.empty(0, np.int64))
