"""The fulfilment side: nodes around Chinese cities, stock per (sku, node), a wave of open orders."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from omnicore.data import STRING_DTYPE, Inventory, searchsorted
from omnicore.datasets._catalog import CategorySampler
from omnicore.datasets._purchases import CHANNELS, DAY_US, People
from omnicore.datasets._text import numbered, pick
from omnicore.datasets._types import Catalog, FulfilmentNetwork, OpenOrders

__all__ = ["CITIES", "CITY_SHARE", "make_inventory", "make_network", "make_open_orders"]

#: (city, latitude, longitude, share of customers)
CITIES: tuple[tuple[str, float, float, float], ...] = (
    ("Shanghai", 31.2304, 121.4737, 0.20),
    ("Beijing", 39.9042, 116.4074, 0.18),
    ("Guangzhou", 23.1291, 113.2644, 0.13),
    ("Shenzhen", 22.5431, 114.0579, 0.13),
    ("Hangzhou", 30.2741, 120.1551, 0.10),
    ("Chengdu", 30.5728, 104.0668, 0.10),
    ("Wuhan", 30.5928, 114.3055, 0.08),
    ("Nanjing", 32.0603, 118.7969, 0.08),
)
CITY_NAMES = tuple(c[0] for c in CITIES)
_CITY_LAT = np.array([c[1] for c in CITIES])
_CITY_LON = np.array([c[2] for c in CITIES])
CITY_SHARE = np.array([c[3] for c in CITIES]) / sum(c[3] for c in CITIES)
#: Where distribution centres go first: one per region.
_DC_CITIES = (0, 2, 1, 5, 6, 4, 3, 7)
_EARTH_RADIUS_KM = 6371.0


def distance_km(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    """Great-circle (haversine) distance in km; broadcasts."""
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    dphi = phi2 - phi1
    dlam = np.radians(lon2) - np.radians(lon1)
    h = np.sin(dphi / 2.0) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlam / 2.0) ** 2
    return 2.0 * _EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def home_location(
    rng: np.random.Generator, city: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Coordinates scattered around each city centre (about 10 km)."""
    lat = _CITY_LAT[city] + rng.normal(0.0, 0.08, size=len(city))
    lon = _CITY_LON[city] + rng.normal(0.0, 0.09, size=len(city))
    return lat, lon


def _spread_cities(rng: np.random.Generator, n: int) -> npt.NDArray[np.int64]:
    """``n`` cities by customer share, every city once before any repeats."""
    by_share = np.argsort(-CITY_SHARE, kind="stable")
    head = by_share[: min(n, len(CITIES))]
    rest = rng.choice(len(CITIES), size=max(n - len(head), 0), p=CITY_SHARE)
    return np.concatenate([head, rest]).astype(np.int64)


def make_network(rng: np.random.Generator, *, n_stores: int, n_warehouses: int) -> FulfilmentNetwork:
    """Distribution centres outside the biggest cities, stores and dark stores inside them.

    ``n_stores`` counts stores and dark stores together; about one in eight is a dark store.
    """
    n_dark = n_stores // 8
    n_shop = n_stores - n_dark
    dc_city = np.array([_DC_CITIES[i % len(_DC_CITIES)] for i in range(n_warehouses)], dtype=np.int64)
    shop_city = _spread_cities(rng, n_shop)
    dark_city = _spread_cities(rng, n_dark)
    city = np.concatenate([dc_city, shop_city, dark_city])
    kind_code = np.repeat(np.arange(3), [n_warehouses, n_shop, n_dark])
    n = len(city)
    angle = rng.uniform(0.0, 2.0 * np.pi, size=n)
    radius = np.where(kind_code == 0, rng.uniform(0.2, 0.35, size=n), np.abs(rng.normal(0.0, 0.06, size=n)))
    lat = _CITY_LAT[city] + radius * np.sin(angle)
    lon = _CITY_LON[city] + radius * np.cos(angle)

    is_dc, is_shop, is_dark = kind_code == 0, kind_code == 1, kind_code == 2
    ships_from_shop = rng.random(n) < 0.6
    can_ship = is_dc | is_dark | (is_shop & ships_from_shop)
    can_pickup = is_shop
    same_day = is_dark | (is_shop & ships_from_shop & (rng.random(n) < 0.5))
    capacity_orders = np.select(
        [is_dc, is_shop],
        [rng.integers(4000, 8001, size=n), rng.integers(60, 251, size=n)],
        rng.integers(300, 801, size=n),
    )
    capacity_units = np.round(capacity_orders * rng.uniform(2.5, 4.0, size=n)).astype(np.int64)
    fixed = np.select([is_dc, is_shop], [rng.uniform(8, 10, n), rng.uniform(10, 14, n)], rng.uniform(6, 8, n))
    per_km = np.select(
        [is_dc, is_shop], [rng.uniform(0.015, 0.03, n), rng.uniform(1.2, 1.6, n)], rng.uniform(1.0, 1.3, n)
    )
    handling = np.select(
        [is_dc, is_shop], [rng.uniform(0.6, 1.0, n), rng.uniform(1.8, 2.6, n)], rng.uniform(1.0, 1.4, n)
    )
    node_id = np.concatenate(
        [
            numbered("DC-", np.arange(1, n_warehouses + 1), 2),
            numbered("S-", np.arange(1, n_shop + 1), 3),
            numbered("DS-", np.arange(1, n_dark + 1), 2),
        ]
    )
    return FulfilmentNetwork(
        node_id=node_id,
        kind=pick(("dc", "store", "dark_store"), kind_code),
        city=pick(CITY_NAMES, city),
        lat=np.round(lat, 5),
        lon=np.round(lon, 5),
        can_ship=can_ship,
        can_pickup=can_pickup,
        same_day=same_day,
        capacity_orders=capacity_orders,
        capacity_units=capacity_units,
        fixed_cost_per_shipment=np.round(fixed, 2),
        cost_per_km=np.round(per_km, 3),
        handling_cost_per_unit=np.round(handling, 2),
    )


def make_inventory(rng: np.random.Generator, network: FulfilmentNetwork, catalog: Catalog) -> Inventory:
    """Stock per (sku, node): deep at DCs, the popular range at dark stores, shallow and patchy at stores.

    Only positions a node carries appear; a carried SKU may be at zero (out of stock).
    """
    n_nodes, n_skus = len(network), len(catalog)
    relative = catalog.popularity * n_skus  # 1.0 = an average SKU
    is_dc = (network.kind == "dc")[:, None]
    is_dark = (network.kind == "dark_store")[:, None]
    rank = np.argsort(np.argsort(-catalog.popularity))
    carry_store = rng.random((n_nodes, n_skus)) < np.clip(0.35 * np.sqrt(relative), 0.05, 0.95)
    carry_dark = np.broadcast_to(rank < max(1, int(0.4 * n_skus)), (n_nodes, n_skus))
    carries = np.where(is_dc, True, np.where(is_dark, carry_dark, carry_store))

    dc_stock = rng.poisson(300.0 * relative * rng.uniform(0.5, 1.5, size=(n_nodes, n_skus)))
    dc_stock = dc_stock * (rng.random((n_nodes, n_skus)) >= 0.04)
    dark_stock = rng.poisson(8.0 * relative**0.7, size=(n_nodes, n_skus))
    store_stock = rng.poisson(2.5 * relative**0.7, size=(n_nodes, n_skus)) * (
        rng.random((n_nodes, n_skus)) >= 0.25
    )
    on_hand = np.where(is_dc, dc_stock, np.where(is_dark, dark_stock, store_stock)).astype(np.int64)
    safety = np.where(
        is_dc, np.ceil(0.05 * on_hand), np.where(is_dark, on_hand > 5, on_hand > 3).astype(np.float64)
    ).astype(np.int64)

    node_index, sku_index = np.nonzero(carries)
    order = np.lexsort((node_index, sku_index))
    node_index, sku_index = node_index[order], sku_index[order]
    return Inventory(
        sku=catalog.sku[sku_index],
        node=network.node_id[node_index],
        on_hand=on_hand[node_index, sku_index],
        safety_stock=safety[node_index, sku_index],
    )


def _available_per_sku(inventory: Inventory, catalog: Catalog) -> npt.NDArray[np.int64]:
    sku_index = searchsorted(catalog.sku, inventory.sku)
    return np.bincount(sku_index, weights=inventory.available, minlength=len(catalog)).astype(np.int64)


def make_open_orders(
    rng: np.random.Generator,
    *,
    n_orders: int,
    people: People,
    alive: npt.NDArray[np.bool_],
    network: FulfilmentNetwork,
    catalog: Catalog,
    sampler: CategorySampler,
    inventory: Inventory,
    end: np.datetime64,
) -> OpenOrders:
    """A wave of open orders placed in the last hours before ``end``.

    Multi-line orders are common, about one in five is picked up in a store, and a few flash-sale SKUs
    are ordered beyond their total available stock, so the orders compete for stock.
    """
    if n_orders == 0:
        return OpenOrders(
            order_id=np.empty(0, dtype=object),
            sku=np.empty(0, dtype=object),
            quantity=np.empty(0, np.int64),
            customer_id=np.empty(0, np.int64),
            lat=np.empty(0),
            lon=np.empty(0),
            method=np.empty(0, dtype=object),
            pickup_node=np.empty(0, dtype=object),
            channel=np.empty(0, dtype=object),
            created_at=np.empty(0, "datetime64[us]"),
        )
    n_skus = len(catalog)
    weight = (people.lam + 1e-4) * alive
    if not weight.any():
        weight = np.ones(len(people))
    enough = np.count_nonzero(weight) >= n_orders
    customer = rng.choice(len(people), size=n_orders, replace=not enough, p=weight / weight.sum())
    lat, lon = home_location(rng, people.city[customer])

    # flash-sale SKUs: popular ones with thin stock, ordered beyond what is available
    available = _available_per_sku(inventory, catalog)
    n_hot = min(5, max(1, n_skus // 50))
    popular = np.argsort(-catalog.popularity)[: max(n_hot, n_skus // 2)]
    hot = popular[np.argsort(available[popular], kind="stable")[:n_hot]]
    base_weight = catalog.popularity.copy()
    if n_hot < n_skus:
        base_weight[hot] = 0.0

    lines_per_order = rng.choice([1, 2, 3, 4], size=n_orders, p=[0.45, 0.30, 0.15, 0.10])
    line_order = np.repeat(np.arange(n_orders), lines_per_order)
    line_sku = sampler.anywhere(rng, len(line_order), base_weight)
    line_quantity = 1 + rng.poisson(0.4, size=len(line_order))
    hot_orders: list[npt.NDArray[np.int64]] = []
    hot_skus: list[npt.NDArray[np.int64]] = []
    hot_quantity: list[npt.NDArray[np.int64]] = []
    for sku in hot:  # a handful of SKUs, not rows
        target = int(np.ceil(1.3 * available[sku])) + 2
        count = min(n_orders, max(1, target // 2))
        chosen = rng.choice(n_orders, size=count, replace=False)
        quantity = np.full(count, target // count, dtype=np.int64)
        quantity[: target % count] += 1
        hot_orders.append(chosen.astype(np.int64))
        hot_skus.append(np.full(count, sku, dtype=np.int64))
        hot_quantity.append(quantity)
    line_order = np.concatenate([line_order, *hot_orders])
    line_sku = np.concatenate([line_sku, *hot_skus])
    line_quantity = np.concatenate([line_quantity, *hot_quantity])
    _, first = np.unique(line_order * n_skus + line_sku, return_index=True)
    line_order, line_sku, line_quantity = line_order[first], line_sku[first], line_quantity[first]

    # pickup at the nearest pickup store in the customer's city
    pickup_nodes = np.flatnonzero(network.can_pickup)
    method_pickup = np.zeros(n_orders, dtype=bool)
    pickup_node = np.full(n_orders, "", dtype=STRING_DTYPE)
    if len(pickup_nodes):
        dist = distance_km(lat[:, None], lon[:, None], network.lat[pickup_nodes], network.lon[pickup_nodes])
        nearest = np.argmin(dist, axis=1)
        close = dist[np.arange(n_orders), nearest] < 30.0
        method_pickup = close & (rng.random(n_orders) < 0.25)
        pickup_node[method_pickup] = network.node_id[pickup_nodes[nearest[method_pickup]]]
    channel = rng.choice(len(CHANNELS), size=n_orders, p=[0.75, 0.10, 0.15])
    created_offset = rng.uniform(0.0, 4.0 / 24.0, size=n_orders)
    created_at = end - np.round(created_offset * DAY_US).astype("timedelta64[us]") - np.timedelta64(1, "us")
    rank = np.empty(n_orders, dtype=np.int64)
    rank[np.argsort(created_at, kind="stable")] = np.arange(n_orders)
    order_id = numbered("W-", rank + 1, 7)
    sort = np.lexsort((line_sku, rank[line_order]))
    line_order, line_sku, line_quantity = line_order[sort], line_sku[sort], line_quantity[sort]
    return OpenOrders(
        order_id=order_id[line_order],
        sku=catalog.sku[line_sku],
        quantity=line_quantity,
        customer_id=customer[line_order].astype(np.int64),
        lat=np.round(lat[line_order], 5),
        lon=np.round(lon[line_order], 5),
        method=np.where(method_pickup[line_order], "pickup", "ship"),
        pickup_node=pickup_node[line_order],
        channel=pick(CHANNELS, channel[line_order]),
        created_at=created_at[line_order],
    )
