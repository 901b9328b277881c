"""Behavioural events: sessions that convert, sessions that don't, chat messages."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from omnicore.datasets import SyntheticRetailer

HOUR = np.timedelta64(1, "h")


def test_event_types_and_window(small: SyntheticRetailer) -> None:
    ev = small.events
    assert set(ev.event_type.tolist()) == {"browse", "add_to_cart", "purchase", "chat_message"}
    assert set(ev.properties) >= {"category", "sku", "price", "text"}
    assert ev.timestamp.min() >= small.observation_start
    assert ev.timestamp.max() < small.observation_end
    assert (np.diff(ev.timestamp.astype(np.int64)) >= 0).all()
    assert ev.event_id is not None
    assert len(np.unique(ev.event_id)) == len(ev)
    assert ev.customer_id.dtype == np.int64
    assert ev.customer_id.min() >= 0
    assert ev.customer_id.max() < len(small.truth.person_id)


def test_purchase_events_mirror_the_transactions(small: SyntheticRetailer) -> None:
    ev, tx = small.events, small.transactions
    purchase = ev.event_type == "purchase"
    bought = tx.amount > 0
    events = sorted(
        zip(
            ev.properties["order_id"][purchase].tolist(),
            ev.properties["sku"][purchase].tolist(),
            ev.customer_id[purchase].tolist(),
            ev.timestamp[purchase].tolist(),
            strict=True,
        )
    )
    assert tx.order_id is not None
    assert tx.sku is not None
    lines = sorted(
        zip(
            tx.order_id[bought].tolist(),
            tx.sku[bought].tolist(),
            tx.customer_id[bought].tolist(),
            tx.timestamp[bought].tolist(),
            strict=True,
        )
    )
    assert events == lines


def test_properties_are_typed_and_consistent_with_the_catalog(small: SyntheticRetailer) -> None:
    ev, catalog = small.events, small.catalog
    product = ev.event_type != "chat_message"
    price_of = dict(zip(catalog.sku.tolist(), catalog.unit_price.tolist(), strict=True))
    category_of = dict(zip(catalog.sku.tolist(), catalog.category.tolist(), strict=True))
    skus = ev.properties["sku"][product].tolist()
    assert ev.properties["price"][product].tolist() == [price_of[s] for s in skus]
    assert ev.properties["category"][product].tolist() == [category_of[s] for s in skus]
    assert np.isnan(ev.properties["price"][~product]).all()
    assert (ev.properties["text"][product] == "").all()
    assert (ev.properties["text"][~product] != "").all()


def test_chat_texts_carry_keywords_in_both_languages(retailer: SyntheticRetailer) -> None:
    ev = retailer.events
    texts = ev.properties["text"][ev.event_type == "chat_message"].tolist()
    joined = "\n".join(set(texts))
    for keyword in ("防晒", "sunscreen", "宝宝", "baby", "优惠券", "coupon", "直播", "live stream"):
        assert keyword in joined
    assert 0.1 < np.mean(["优惠券" in t or "coupon" in t for t in texts]) < 0.5


def test_sessions_convert_or_do_not_within_24_hours(retailer: SyntheticRetailer) -> None:
    ev = retailer.events
    session = ev.properties["session_id"]
    in_session = session != ""
    carts = (ev.event_type == "add_to_cart") & in_session
    purchases = ev.event_type == "purchase"
    converted_sessions = set(session[purchases].tolist())
    cart_sessions = set(session[carts].tolist())
    abandoned = cart_sessions - converted_sessions
    assert len(abandoned) > 0.1 * len(cart_sessions)
    assert len(cart_sessions & converted_sessions) > 0.3 * len(cart_sessions)
    # browse-only sessions exist too
    assert set(session[(ev.event_type == "browse") & in_session].tolist()) - cart_sessions

    # an abandoned cart is never followed by a purchase of the same person within 24 hours
    def key(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
        since_start = (ev.timestamp[mask] - retailer.observation_start).astype(np.int64)
        keys: npt.NDArray[np.int64] = ev.customer_id[mask].astype(np.int64) * 10**14 + since_start
        return keys

    key_buy = np.sort(key(purchases))
    session_codes, code = np.unique(session, return_inverse=True)
    converted_code = np.zeros(len(session_codes), dtype=bool)
    converted_code[code[purchases]] = True
    is_abandoned = carts & ~converted_code[code]
    cart_key = key(is_abandoned)
    nxt = np.searchsorted(key_buy, cart_key, side="left")
    gap_us = np.where(nxt < len(key_buy), key_buy[np.minimum(nxt, len(key_buy) - 1)] - cart_key, np.inf)
    assert (gap_us > 24 * 3_600_000_000).all()
    # and a converted session's purchase follows its cart within a few hours
    converted_cart = carts & converted_code[code]
    cart_key = key(converted_cart)
    gap = key_buy[np.searchsorted(key_buy, cart_key)] - cart_key
    assert (gap < 3 * 3_600_000_000).all()
