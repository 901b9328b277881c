"""Seeded random allocation instances: the benchmark's generator, also handy for tests and tutorials."""

from __future__ import annotations

from typing import Any, Final

import attrs
import numpy as np

from omnicore._errors import ValidationError
from omnicore.allocation._network import CostModel, Network
from omnicore.allocation._orders import Orders
from omnicore.data import Inventory

__all__ = ["SIZES", "Instance", "instance_from_retailer", "random_instance"]

#: Benchmark sizes from the issue: (orders, nodes, skus).
SIZES: Final = {
    "tiny": (20, 8, 30),
    "small": (100, 20, 200),
    "medium": (5_000, 200, 2_000),
    "large": (50_000, 1_000, 20_000),
}


@attrs.frozen(kw_only=True)
class Instance:
    """A routing instance: network, stock, orders and cost model."""

    network: Network
    inventory: Inventory
    orders: Orders
    cost: CostModel


def random_instance(
    n_orders: int = 100,
    n_nodes: int = 20,
    n_skus: int = 200,
    *,
    seed: int = 0,
    pickup_share: float = 0.05,
    stock_ratio: float = 1.2,
) -> Instance:
    """A seeded random instance of an omnichannel network competing for stock and capacity.

    Nodes sit in cities (a few distribution centres, stores and dark stores); customers live around
    the cities, weighted by city size; sku popularity follows a Zipf law; orders have 1-5 lines of 1-3
    units. Distribution centres are cheap per shipment but far; stores are near but dear to pick
    from, hold few units of few skus and can send few parcels a day. Total stock is about
    ``stock_ratio`` times expected demand, so orders compete and some demand goes unfilled.

    Parameters
    ----------
    n_orders, n_nodes, n_skus
        Size (see :data:`SIZES` for the benchmark's).
    seed
        Seed of the generator; equal seeds give equal instances.
    pickup_share
        Share of orders picked up in a store near the customer.
    stock_ratio
        Total available stock over expected demand.

    Returns
    -------
    Instance

    Examples
    --------
    >>> inst = random_instance(20, 8, 30, seed=1)
    >>> len(inst.orders), len(inst.network)
    (20, 8)
    """
    if min(n_orders, n_nodes, n_skus) < 1:
        raise ValidationError("sizes must be positive", field="n_orders", value=(n_orders, n_nodes, n_skus))
    rng = np.random.default_rng(seed)
    n_cities = max(2, n_nodes // 10)
    city_lat = rng.uniform(22.0, 40.0, n_cities)
    city_lon = rng.uniform(104.0, 121.0, n_cities)
    city_weight = rng.pareto(1.2, n_cities) + 1.0
    city_weight /= city_weight.sum()

    n_dc = max(1, n_nodes // 12)
    kinds = np.array(["store"] * n_nodes, dtype=object)
    kinds[:n_dc] = "dc"
    n_dark = n_nodes // 15
    kinds[n_dc : n_dc + n_dark] = "dark_store"
    node_city = np.empty(n_nodes, np.int64)
    node_city[:n_dc] = rng.choice(n_cities, n_dc, replace=n_dc > n_cities, p=city_weight)
    node_city[n_dc:] = rng.choice(n_cities, n_nodes - n_dc, p=city_weight)
    spread = np.where(kinds == "dc", 0.3, 0.08)
    lat = city_lat[node_city] + rng.normal(0, 1, n_nodes) * spread
    lon = city_lon[node_city] + rng.normal(0, 1, n_nodes) * spread
    is_dc = kinds == "dc"
    is_store = kinds == "store"
    fixed = np.where(is_dc, 4.0, np.where(is_store, 6.5, 5.0)) * rng.uniform(0.9, 1.1, n_nodes)
    per_km = np.where(is_dc, 0.004, 0.01) * rng.uniform(0.8, 1.2, n_nodes)
    handling = np.where(is_dc, 0.4, np.where(is_store, 1.5, 0.9)) * rng.uniform(0.9, 1.1, n_nodes)
    mean_lines = 1.9
    expected_shipments = n_orders * 1.15
    cap_float = np.where(
        is_dc,
        np.ceil(expected_shipments * 0.55 / n_dc),
        np.ceil(expected_shipments * 0.9 / max(n_nodes - n_dc, 1)),
    )
    cap = np.asarray(cap_float, dtype=np.int64) + 1
    network = Network(
        node=np.array([f"N{i:04d}" for i in range(n_nodes)]),
        kind=kinds.tolist(),
        lat=lat,
        lon=lon,
        city=np.array([f"C{c:03d}" for c in node_city]),
        can_ship=np.ones(n_nodes, bool),
        can_pickup=~is_dc,
        same_day=kinds == "dark_store",
        capacity_orders=cap,
        fixed_cost_per_shipment=np.round(fixed, 2),
        cost_per_km=np.round(per_km, 4),
        handling_cost_per_unit=np.round(handling, 2),
    )

    popularity = 1.0 / np.arange(1, n_skus + 1) ** 0.9
    popularity = rng.permutation(popularity / popularity.sum())
    n_lines_per = np.minimum(rng.geometric(0.55, n_orders), 5)
    n_lines = int(n_lines_per.sum())
    order_of_line = np.repeat(np.arange(n_orders), n_lines_per)
    sku_of_line = rng.choice(n_skus, n_lines, p=popularity)
    qty = np.minimum(rng.geometric(0.6, n_lines), 3)
    customer_city = rng.choice(n_cities, n_orders, p=city_weight)
    clat = city_lat[customer_city] + rng.normal(0, 0.15, n_orders)
    clon = city_lon[customer_city] + rng.normal(0, 0.15, n_orders)
    pickup = rng.random(n_orders) < pickup_share
    method = np.where(pickup, "pickup", "ship")
    pickup_node = np.full(n_orders, "", dtype=object)
    store_idx = np.flatnonzero(~is_dc)
    if pickup.any() and len(store_idx):
        d2 = (lat[store_idx][None, :] - clat[pickup][:, None]) ** 2 + (
            lon[store_idx][None, :] - clon[pickup][:, None]
        ) ** 2
        pickup_node[pickup] = network.node[store_idx[np.argmin(d2, axis=1)]]
    else:
        method[:] = "ship"

    demand = np.bincount(sku_of_line, weights=qty, minlength=n_skus) * 0 + popularity * qty.sum()
    dc_share, store_share = 0.7, 0.3
    rows_sku, rows_node, rows_qty = [], [], []
    dc_nodes = np.flatnonzero(is_dc)
    for d in dc_nodes:
        carried = rng.random(n_skus) < 0.95
        units = rng.poisson(stock_ratio * dc_share * demand / n_dc / 0.95) + 1
        keep = carried & (units > 0)
        rows_sku.append(np.flatnonzero(keep))
        rows_node.append(np.full(int(keep.sum()), d))
        rows_qty.append(units[keep])
    other = np.flatnonzero(~is_dc)
    if len(other):
        per_store = max(1, int(0.15 * n_skus))
        for s in other:
            skus = rng.choice(n_skus, per_store, replace=False, p=popularity)
            base = stock_ratio * store_share * demand[skus] / len(other) / 0.15
            units = rng.poisson(np.maximum(base, 0.3))
            keep = units > 0
            rows_sku.append(skus[keep])
            rows_node.append(np.full(int(keep.sum()), s))
            rows_qty.append(units[keep])
    inv_sku = np.concatenate(rows_sku)
    inv_node = np.concatenate(rows_node)
    inventory = Inventory(
        sku=np.array([f"SKU{i:05d}" for i in inv_sku]),
        node=network.node[inv_node],
        on_hand=np.concatenate(rows_qty),
    )
    orders = Orders.from_lines(
        order_id=np.array([f"O{i:06d}" for i in order_of_line]),
        sku=np.array([f"SKU{i:05d}" for i in sku_of_line]),
        quantity=qty,
        lat=clat[order_of_line],
        lon=clon[order_of_line],
        method=method[order_of_line],
        pickup_node=pickup_node[order_of_line],
    )
    del mean_lines
    return Instance(
        network=network, inventory=inventory, orders=orders, cost=CostModel(unfilled_penalty_per_unit=30.0)
    )


def instance_from_retailer(retailer: Any, *, cost: CostModel | None = None) -> Instance:
    """The routing instance of a :func:`omnicore.datasets.synthetic_retailer`: its network, stock and
    open orders (``retailer.network``, ``retailer.inventory``, ``retailer.open_orders``).

    Parameters
    ----------
    retailer
        A :class:`omnicore.datasets.SyntheticRetailer` (or any object with those three tables).
    cost
        The cost model (default :class:`CostModel`).

    Returns
    -------
    Instance
    """
    return Instance(
        network=Network.from_table(retailer.network),
        inventory=retailer.inventory,
        orders=Orders.from_table(retailer.open_orders),
        cost=cost or CostModel(),
    )
