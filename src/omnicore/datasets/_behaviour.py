"""Behavioural events: shopping sessions that end in a purchase, sessions that don't, chat messages."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from omnicore.data import STRING_DTYPE, Events
from omnicore.datasets._catalog import CategorySampler
from omnicore.datasets._purchases import Orders, People, to_timestamps
from omnicore.datasets._text import numbered, pick, strings
from omnicore.datasets._types import Catalog

__all__ = ["CHAT_TEMPLATES", "EVENT_TYPES", "make_events"]

EVENT_TYPES = ("browse", "add_to_cart", "purchase", "chat_message")
_BROWSE, _CART, _PURCHASE, _CHAT = 0, 1, 2, 3
_MINUTE = 1.0 / 1440.0

#: Chat lines seen in a private-domain community (keywords in Chinese and English), with weights.
CHAT_TEMPLATES: tuple[tuple[str, float], ...] = (
    ("请问这款防晒霜还有货吗？", 0.08),
    ("Is the sunscreen SPF50 back in stock?", 0.05),
    ("防晒喷雾有优惠券吗", 0.05),
    ("宝宝用的湿巾有什么推荐？", 0.07),
    ("Any recommendations for baby wipes?", 0.04),
    ("宝宝奶粉今天有活动吗", 0.05),
    ("优惠券怎么领？", 0.08),
    ("How do I use my coupon?", 0.05),
    ("今晚直播几点开始？", 0.07),
    ("What time does the live stream start tonight?", 0.04),
    ("直播间的优惠券还能用吗", 0.05),
    ("我的快递到哪里了", 0.07),
    ("Where is my order?", 0.04),
    ("可以帮我改一下收货地址吗", 0.04),
    ("谢谢!", 0.06),
    ("ok thanks", 0.03),
    ("这个面霜敏感肌能用吗", 0.05),
    ("Does the live stream have a baby sunscreen deal?", 0.03),
    ("群里有团购吗？", 0.05),
)
_CHAT_TEXT = strings([text for text, _ in CHAT_TEMPLATES])
_CHAT_WEIGHT = np.array([w for _, w in CHAT_TEMPLATES]) / sum(w for _, w in CHAT_TEMPLATES)


def _segment_uniform_sorted(
    rng: np.random.Generator, counts: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """For each segment ``i`` of ``counts[i]`` draws: its owner and sorted uniforms in [0, 1).

    Sorted without sorting: the order statistics of ``c`` uniforms are ``S_k / S_(c+1)`` for the partial
    sums ``S`` of ``c + 1`` standard exponentials.
    """
    owner = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    extended = counts + 1
    partial = np.cumsum(rng.standard_exponential(int(extended.sum())))
    ends = np.cumsum(extended)
    base = np.concatenate([[0.0], partial])[ends - extended]
    total = partial[ends - 1] - base
    keep = np.ones(len(partial), dtype=bool)
    keep[ends - 1] = False
    share = (partial[keep] - base[owner]) / total[owner]
    return owner, np.clip(share, 0.0, np.nextafter(1.0, 0.0))


def make_events(
    rng: np.random.Generator,
    *,
    orders: Orders,
    people: People,
    catalog: Catalog,
    sampler: CategorySampler,
    window_days: float,
    start: np.datetime64,
    end: np.datetime64,
) -> Events:
    """Events behind and beside the purchases.

    - Every order ends a session: a few product views (browse), an add_to_cart per line, and a
      purchase event per line at the order's own timestamp (``order_id`` links it to the transactions).
    - Sessions that convert nothing: views and sometimes an add_to_cart, never followed by a purchase
      of the same person within 24 hours.
    - Chat messages in the community, more often from persons who favour that channel.
    """
    n = len(people)
    n_orders = len(orders.person)
    n_lines = len(orders.line_order)
    lines_of_order = np.bincount(orders.line_order, minlength=n_orders)
    first_line = np.cumsum(lines_of_order) - lines_of_order

    # -- converting sessions, one per order -----------------------------------------------------
    session_minutes = rng.uniform(10.0, 180.0, size=n_orders)
    session_start = orders.day - session_minutes * _MINUTE
    n_browse = 1 + rng.poisson(1.0, size=n_orders)
    b_order, b_u = _segment_uniform_sorted(rng, n_browse)
    b_day = session_start[b_order] + b_u * 0.7 * session_minutes[b_order] * _MINUTE
    b_line = first_line[b_order] + np.floor(rng.random(len(b_order)) * lines_of_order[b_order]).astype(
        np.int64
    )
    # views: mostly the products bought, sometimes others of the same category
    b_sku = orders.line_sku[b_line]
    elsewhere = rng.random(len(b_sku)) < 0.4
    b_sku[elsewhere] = sampler.in_categories(rng, sampler.sku_category[b_sku[elsewhere]])
    c_u = rng.uniform(0.7, 0.95, size=n_lines)
    c_day = session_start[orders.line_order] + c_u * session_minutes[orders.line_order] * _MINUTE
    p_day = orders.day[orders.line_order]

    # -- sessions that convert nothing ------------------------------------------------------------
    active_end = np.where(np.isnan(orders.dropout_day), window_days, orders.dropout_day + 60.0)
    active_end = np.minimum(active_end, window_days)
    active_start = np.maximum(people.birth_day - 30.0, 0.0)
    n_idle = rng.poisson(0.5 * orders.n_purchases + 0.3)
    i_person = np.repeat(np.arange(n, dtype=np.int64), n_idle)
    i_start = active_start[i_person] + rng.random(len(i_person)) * (active_end - active_start)[i_person]
    i_minutes = rng.uniform(3.0, 60.0, size=len(i_person))
    i_start = np.minimum(i_start, window_days - i_minutes * _MINUTE)
    # drop a session if its person buys anything within 24 h after it starts
    span = window_days + 400.0
    purchase_key = orders.person * span + orders.day  # orders are sorted by (person, day)
    session_key = i_person * span + i_start
    nxt = np.searchsorted(purchase_key, session_key, side="left")
    has_next = nxt < n_orders
    gap = np.where(has_next, purchase_key[np.minimum(nxt, n_orders - 1)] - session_key, np.inf)
    keep = gap > 1.0 + i_minutes * _MINUTE
    i_person, i_start, i_minutes = i_person[keep], i_start[keep], i_minutes[keep]
    n_sessions_idle = len(i_person)
    i_browse = 1 + rng.poisson(1.0, size=n_sessions_idle)
    ib_session, ib_u = _segment_uniform_sorted(rng, i_browse)
    ib_day = i_start[ib_session] + ib_u * 0.8 * i_minutes[ib_session] * _MINUTE
    favourite = rng.random(len(ib_session)) < 0.6
    other = rng.choice(len(sampler.category_share), size=len(ib_session), p=sampler.category_share)
    category = np.where(favourite, people.favourite_category[i_person[ib_session]], other)
    ib_sku = sampler.in_categories(rng, category.astype(np.int64))
    carted = rng.random(n_sessions_idle) < 0.5
    last_browse = np.cumsum(i_browse) - 1
    ic_session = np.flatnonzero(carted)
    ic_sku = ib_sku[last_browse[carted]]
    ic_day = i_start[carted] + 0.9 * i_minutes[carted] * _MINUTE

    # -- chat messages ----------------------------------------------------------------------------
    chat_rate = 0.2 + 2.0 * people.channel_pref[:, 2]
    n_chat = rng.poisson(chat_rate)
    h_person = np.repeat(np.arange(n, dtype=np.int64), n_chat)
    h_day = (
        people.birth_day[h_person]
        + rng.random(len(h_person))
        * (np.minimum(active_end + 30.0, window_days) - people.birth_day)[h_person]
    )
    h_text = rng.choice(len(CHAT_TEMPLATES), size=len(h_person), p=_CHAT_WEIGHT)

    # -- assemble -----------------------------------------------------------------------------------
    session_of_idle = n_orders + np.arange(n_sessions_idle)
    person = np.concatenate(
        [
            orders.person[b_order],
            orders.person[orders.line_order],
            orders.person[orders.line_order],
            i_person[ib_session],
            i_person[ic_session],
            h_person,
        ]
    )
    day = np.concatenate([b_day, c_day, p_day, ib_day, ic_day, h_day])
    kind = np.repeat(
        np.array([_BROWSE, _CART, _PURCHASE, _BROWSE, _CART, _CHAT]),
        [len(b_day), n_lines, n_lines, len(ib_day), len(ic_day), len(h_day)],
    )
    sku = np.concatenate([b_sku, orders.line_sku, orders.line_sku, ib_sku, ic_sku, np.full(len(h_day), -1)])
    order = np.concatenate(
        [
            np.full(len(b_day) + n_lines, -1),
            orders.line_order,
            np.full(len(ib_day) + len(ic_day) + len(h_day), -1),
        ]
    )
    session = np.concatenate(
        [
            b_order,
            orders.line_order,
            orders.line_order,
            session_of_idle[ib_session],
            session_of_idle[ic_session],
            np.full(len(h_day), -1),
        ]
    )
    text = np.concatenate([np.full(len(day) - len(h_day), -1), h_text])
    # a session that began before the window keeps only what happened inside it
    inside = day >= 0.0
    # blocks were concatenated in session order, so a stable sort by time keeps browse < cart < purchase
    chronological = np.flatnonzero(inside)[np.argsort(day[inside], kind="stable")]
    person, day, kind, sku = (
        person[chronological],
        day[chronological],
        kind[chronological],
        sku[chronological],
    )
    order, session, text = order[chronological], session[chronological], text[chronological]

    session_start_all = np.concatenate([session_start, i_start])
    session_rank = np.empty(len(session_start_all), dtype=np.int64)
    session_rank[np.argsort(session_start_all, kind="stable")] = np.arange(len(session_start_all))
    session_text = np.concatenate([numbered("SS", session_rank + 1, 9), strings([""])])
    empty = strings([""])
    category_text = np.concatenate([catalog.category, empty])
    sku_text = np.concatenate([catalog.sku, empty])
    price = np.concatenate([catalog.unit_price, [np.nan]])
    order_text = np.concatenate([orders.order_id.astype(STRING_DTYPE), empty])
    chat_text = np.concatenate([_CHAT_TEXT, empty])
    return Events(
        customer_id=person,
        event_type=pick(EVENT_TYPES, kind),
        timestamp=to_timestamps(start, day, end),
        event_id=np.arange(1, len(day) + 1, dtype=np.int64),
        properties={
            "category": pick(category_text, sku),
            "sku": pick(sku_text, sku),
            "price": price[sku],
            "order_id": pick(order_text, order),
            "session_id": pick(session_text, session),
            "text": pick(chat_text, text),
        },
    )
