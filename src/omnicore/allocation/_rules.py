"""Sourcing rules as data: tiers with fallbacks, excluded nodes, per-channel stock pools, safety stock."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.allocation._network import _text
from omnicore.data import searchsorted

__all__ = ["ChannelPool", "SafetyStock", "SourcingRules", "SourcingTier"]


def _str_tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _optional_positive(_: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not (np.isfinite(value) and value > 0):
        raise ValidationError("must be a positive number", field=attribute.name, value=value)


@attrs.frozen(kw_only=True)
class SourcingTier:
    """One step of a sourcing rule: the nodes an order may use at this step.

    A node belongs to the tier when it passes every filter that is set.

    Parameters
    ----------
    name
        A label shown in explanations (``"same-city stores"``).
    kinds
        Node kinds allowed (empty: any kind).
    nodes
        Node ids allowed, as text (empty: any node).
    same_city
        Only nodes in the customer's city: the city of the node nearest to the customer (or of the
        pick-up node), since orders carry coordinates rather than a city.
    within_km
        Only nodes within this distance of the customer.
    """

    name: str = ""
    kinds: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    nodes: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    same_city: bool = False
    within_km: float | None = attrs.field(default=None, validator=_optional_positive)


def _check_share(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (0.0 <= value <= 1.0):
        raise ValidationError("share must be in [0, 1]", field=attribute.name, value=value)


@attrs.frozen(kw_only=True)
class ChannelPool:
    """A stock pool for one sales channel.

    Orders of ``channel`` may together take at most ``floor(share * ATP)`` units of each (sku, node),
    and only from nodes of ``kinds`` (empty: any kind). Orders of other channels are not limited.

    Parameters
    ----------
    channel
        The sales channel (matches :attr:`Orders.channel`).
    share
        Share of each position's available-to-promise open to the channel.
    kinds
        Node kinds the channel may use.
    """

    channel: str
    share: float = attrs.field(default=1.0, converter=float, validator=_check_share)
    kinds: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)


@attrs.frozen(kw_only=True)
class SourcingRules:
    """Which nodes an order may use, as data (JSON round-trips through :func:`omnicore.to_json`).

    An order first uses the nodes of ``tiers[0]``; when those cannot fill every line from the stock
    available at routing time, it may also use ``tiers[1]``, and so on ("same city stores first,
    then the regional DC, then any"). With no tiers every node is open. Excluded nodes are never used.

    Parameters
    ----------
    tiers
        Ordered tiers; the union of the first ``k`` tiers is open when the first ``k - 1`` fall short.
    excluded_nodes
        Node ids (as text) never used.
    pools
        Per-channel stock pools.

    Examples
    --------
    >>> rules = SourcingRules(tiers=(SourcingTier(name="stores", kinds=("store",), within_km=30),
    ...                              SourcingTier(name="any")),
    ...                       excluded_nodes=("S07",))
    >>> [t.name for t in rules.tiers], rules.excluded_nodes
    (['stores', 'any'], ('S07',))
    """

    tiers: tuple[SourcingTier, ...] = attrs.field(default=(), converter=tuple)
    excluded_nodes: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    pools: tuple[ChannelPool, ...] = attrs.field(default=(), converter=tuple)

    def __attrs_post_init__(self) -> None:
        channels = [p.channel for p in self.pools]
        if len(set(channels)) < len(channels):
            raise ValidationError("one pool per channel", field="pools", value=channels)


def _int_mapping(value: Mapping[Any, Any] | None) -> Mapping[str, int]:
    out = {str(k): int(v) for k, v in (value or {}).items()}
    for key, item in out.items():
        if item < 0:
            raise ValidationError("safety stock must be non-negative", field=key, value=item)
    return out


@attrs.frozen(kw_only=True)
class SafetyStock:
    """Safety stock held back from promising, per node, per node kind or per sku.

    Where several apply to a position, the largest wins (the most cautious), together with any
    ``safety_stock`` already on the :class:`~omnicore.Inventory` row.

    Parameters
    ----------
    default
        Units held back at every position.
    by_kind
        Node kind -> units (e.g. ``{"store": 1}`` keeps one display unit in every store).
    by_node
        Node id (text) -> units.
    by_sku
        Sku (text) -> units.
    """

    default: int = 0
    by_kind: Mapping[str, int] = attrs.field(factory=dict, converter=_int_mapping)
    by_node: Mapping[str, int] = attrs.field(factory=dict, converter=_int_mapping)
    by_sku: Mapping[str, int] = attrs.field(factory=dict, converter=_int_mapping)

    def units(
        self, sku: npt.NDArray[Any], node: npt.NDArray[Any], kind: npt.NDArray[Any]
    ) -> npt.NDArray[np.int64]:
        """Safety stock per position (arrays of equal length; ids compared as text)."""
        out = np.full(len(sku), self.default, np.int64)
        for table, keys in ((self.by_kind, kind), (self.by_node, node), (self.by_sku, sku)):
            if table:
                labels = _text(keys)
                names = _text(list(table))
                values = np.asarray(list(table.values()), np.int64)
                order = np.argsort(names)
                pos = np.clip(searchsorted(names[order], labels), 0, len(names) - 1)
                hit = names[order][pos] == labels
                out = np.maximum(out, np.where(hit, values[order][pos], 0))
        return out
