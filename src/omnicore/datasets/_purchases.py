"""Persons and their purchases: the BG/NBD purchase process, Gamma-Gamma spend, order lines, returns.

Everything here is vectorised over persons and rows; the only loops run over a handful of categories.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from omnicore.data import Transactions
from omnicore.datasets._catalog import CategorySampler
from omnicore.datasets._params import TrueParameters
from omnicore.datasets._text import numbered, pick

__all__ = ["CHANNELS", "DAY_US", "Orders", "People", "draw_orders", "draw_people", "to_timestamps"]

CHANNELS = ("online", "store", "community")
DAY_US = 86_400_000_000
_LINES_PER_ORDER = np.array([0.55, 0.25, 0.12, 0.08])


@attrs.frozen(kw_only=True)
class People:
    """Per-person latent traits (internal; the public view is :class:`GroundTruth`)."""

    lam: npt.NDArray[np.float64]
    dropout_p: npt.NDArray[np.float64]
    nu: npt.NDArray[np.float64]
    birth_day: npt.NDArray[np.float64]
    channel_pref: npt.NDArray[np.float64]
    favourite_category: npt.NDArray[np.int64]
    city: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.lam)


@attrs.frozen(kw_only=True)
class Orders:
    """Purchases (orders) and their lines (internal)."""

    person: npt.NDArray[np.int64]
    day: npt.NDArray[np.float64]
    channel: npt.NDArray[np.int64]
    order_id: npt.NDArray[Any]
    n_purchases: npt.NDArray[np.int64]
    dropout_day: npt.NDArray[np.float64]
    line_order: npt.NDArray[np.int64]
    line_sku: npt.NDArray[np.int64]
    line_quantity: npt.NDArray[np.int64]
    line_amount: npt.NDArray[np.float64]


def draw_people(
    rng: np.random.Generator,
    n: int,
    *,
    window_days: float,
    params: TrueParameters,
    category_share: npt.NDArray[np.float64],
    city_share: npt.NDArray[np.float64],
) -> People:
    """Draw each person's BG/NBD and Gamma-Gamma traits, birth, channel mix, taste and city."""
    lam = rng.gamma(params.r, 1.0 / params.alpha, size=n)
    dropout_p = np.clip(rng.beta(params.a, params.b, size=n), 1e-12, 1.0)
    nu = rng.gamma(params.q, 1.0 / params.gamma, size=n)
    birth_day = rng.random(n) * window_days
    mix = np.asarray(params.channel_mix, dtype=np.float64)
    mix = mix / mix.sum()
    concentration = np.maximum(4.5 * mix, 1e-3)
    pref = rng.dirichlet(concentration, size=n) * (mix > 0)
    pref = pref / pref.sum(axis=1, keepdims=True)
    favourite = rng.choice(len(category_share), size=n, p=category_share).astype(np.int64)
    city = rng.choice(len(city_share), size=n, p=city_share).astype(np.int64)
    return People(
        lam=lam,
        dropout_p=dropout_p,
        nu=nu,
        birth_day=birth_day,
        channel_pref=pref,
        favourite_category=favourite,
        city=city,
    )


def _repeat_purchase_days(
    rng: np.random.Generator, people: People, window_days: float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """Repeat purchases of the BG/NBD process within ``(birth, window_days)``.

    A person's Poisson process puts ``N ~ Poisson(lambda * span)`` events in the window; the person
    drops out after repeat purchase ``K ~ Geometric(p)``, so ``M = min(N, K)`` repeat purchases are seen
    and the person is alive at the end iff ``N < K``. The first ``M`` of ``N`` uniform order statistics
    are drawn directly from exponential spacings, ``U_(k) = S_k / (S_M + G)`` with
    ``G ~ Gamma(N - M + 1)``, so only ``sum(M)`` numbers are drawn and nothing is sorted.

    Returns
    -------
    owner, day, alive, dropout_day
        Per repeat purchase its person and day; per person alive-at-end and the dropout day (NaN).
    """
    n = len(people)
    span = window_days - people.birth_day
    n_events = rng.poisson(people.lam * span)
    k_dropout = rng.geometric(people.dropout_p)
    seen = np.minimum(n_events, k_dropout)
    alive = n_events < k_dropout
    owner = np.repeat(np.arange(n, dtype=np.int64), seen)
    spacing_sum = np.cumsum(rng.standard_exponential(int(seen.sum())))
    ends = np.cumsum(seen)
    starts = ends - seen
    base = np.concatenate([[0.0], spacing_sum])[starts]
    partial = spacing_sum - base[owner]
    last = np.concatenate([[0.0], spacing_sum])[ends] - base
    tail = rng.gamma(n_events - seen + 1.0)
    share = partial / (last + tail)[owner]
    day = people.birth_day[owner] + span[owner] * share
    dropout_day = np.full(n, np.nan)
    dead = ~alive
    dropout_day[dead] = np.concatenate([[0.0], day])[ends[dead]]
    return owner, day, alive, dropout_day


def draw_orders(
    rng: np.random.Generator,
    people: People,
    *,
    window_days: float,
    params: TrueParameters,
    sampler: CategorySampler,
    unit_price: npt.NDArray[np.float64],
) -> tuple[Orders, npt.NDArray[np.bool_]]:
    """Every person's orders (the first at birth, repeats from the BG/NBD process) and their lines.

    Returns
    -------
    orders, alive_at_end
    """
    n = len(people)
    owner, repeat_day, alive, dropout_day = _repeat_purchase_days(rng, people, window_days)
    person = np.concatenate([np.arange(n, dtype=np.int64), owner])
    day = np.concatenate([people.birth_day, repeat_day])
    by_person = np.lexsort((day, person))
    person, day = person[by_person], day[by_person]
    n_orders = len(person)
    n_purchases = np.bincount(person, minlength=n).astype(np.int64)

    # channel per order from the person's own mix
    cum_pref = np.cumsum(people.channel_pref[person], axis=1)
    channel = (rng.random(n_orders)[:, None] >= cum_pref[:, :-1]).sum(axis=1).astype(np.int64)

    # chronological order ids
    rank = np.empty(n_orders, dtype=np.int64)
    rank[np.argsort(day, kind="stable")] = np.arange(n_orders)
    order_id = numbered("O", rank + 1, 9)

    # lines: SKUs mostly from the person's favourite category, de-duplicated within an order
    n_lines = rng.choice(np.arange(1, len(_LINES_PER_ORDER) + 1), size=n_orders, p=_LINES_PER_ORDER)
    line_order = np.repeat(np.arange(n_orders, dtype=np.int64), n_lines)
    favourite = rng.random(len(line_order)) < 0.6
    other = rng.choice(len(sampler.category_share), size=len(line_order), p=sampler.category_share)
    line_category = np.where(favourite, people.favourite_category[person[line_order]], other)
    line_sku = sampler.in_categories(rng, line_category.astype(np.int64))
    key = line_order * len(unit_price) + line_sku
    _, first = np.unique(key, return_index=True)
    keep = np.sort(first)
    line_order, line_sku = line_order[keep], line_sku[keep]
    line_quantity = 1 + rng.poisson(0.3, size=len(line_order)).astype(np.int64)

    # Gamma-Gamma spend per order, split over its lines in whole cents
    spend = rng.gamma(params.p, 1.0 / people.nu[person])
    lines_kept = np.bincount(line_order, minlength=n_orders)
    spend_cents = np.maximum(np.round(spend * 100.0), lines_kept).astype(np.int64)
    weight = unit_price[line_sku] * line_quantity * rng.gamma(4.0, 0.25, size=len(line_order))
    share = weight / np.bincount(line_order, weights=weight, minlength=n_orders)[line_order]
    cents = np.floor(spend_cents[line_order] * share).astype(np.int64)
    last_line = np.cumsum(lines_kept) - 1
    cents[last_line] = 0
    cents[last_line] = spend_cents - np.bincount(line_order, weights=cents, minlength=n_orders).astype(
        np.int64
    )
    orders = Orders(
        person=person,
        day=day,
        channel=channel,
        order_id=order_id,
        n_purchases=n_purchases,
        dropout_day=dropout_day,
        line_order=line_order,
        line_sku=line_sku,
        line_quantity=line_quantity,
        line_amount=cents / 100.0,
    )
    return orders, alive


def to_timestamps(start: np.datetime64, day: npt.NDArray[np.float64], end: np.datetime64) -> npt.NDArray[Any]:
    """Days since ``start`` as ``datetime64[us]``, kept before ``end``."""
    offset = np.round(day * DAY_US).astype(np.int64)
    stamps = start + offset.astype("timedelta64[us]")
    return np.minimum(stamps, end - np.timedelta64(1, "us"))


def make_transactions(
    rng: np.random.Generator,
    orders: Orders,
    *,
    start: np.datetime64,
    end: np.datetime64,
    window_days: float,
    params: TrueParameters,
    sku_text: npt.NDArray[Any],
) -> Transactions:
    """Order lines plus returns (negative rows a few days after the purchase), sorted by time."""
    n_lines = len(orders.line_order)
    line_day = orders.day[orders.line_order]
    returned = rng.random(n_lines) < params.return_rate
    return_day = line_day + 1.0 + 14.0 * rng.random(n_lines)
    returned &= return_day < window_days
    rows = np.concatenate([np.arange(n_lines), np.flatnonzero(returned)])
    sign = np.concatenate([np.ones(n_lines), -np.ones(int(returned.sum()))])
    day = np.concatenate([line_day, return_day[returned]])
    order = orders.line_order[rows]
    chronological = np.lexsort((sign < 0, order, day))
    rows, sign, day, order = (
        rows[chronological],
        sign[chronological],
        day[chronological],
        order[chronological],
    )
    return Transactions(
        customer_id=orders.person[order],
        timestamp=to_timestamps(start, day, end),
        amount=orders.line_amount[rows] * sign,
        channel=pick(CHANNELS, orders.channel[order]),
        order_id=orders.order_id[order],
        sku=sku_text[orders.line_sku[rows]],
        quantity=orders.line_quantity[rows] * sign.astype(np.int64),
        allow_returns=True,
    )
