"""Invariants that hold for every seed and size, including the tiny and degenerate ones."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from omnicore.datasets import IdentifierNoise, TrueParameters, synthetic_retailer

_share = st.floats(0.0, 1.0)
_noise = st.builds(
    IdentifierNoise,
    format_variant_rate=_share,
    typo_rate=_share,
    family_share=_share,
    placeholder_rate=_share,
    second_card_rate=_share,
    guest_rate=_share,
    test_record_rate=_share,
    online_rate=_share,
    pos_rate=_share,
    mini_program_rate=_share,
    community_rate=_share,
)
_params = st.builds(
    TrueParameters,
    r=st.floats(0.05, 5.0),
    alpha=st.floats(1.0, 400.0),
    a=st.floats(0.1, 5.0),
    b=st.floats(0.1, 5.0),
    return_rate=_share,
    channel_mix=st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.floats(0.01, 1.0)),
)


@settings(max_examples=25)
@given(
    n_customers=st.integers(1, 150),
    seed=st.integers(0, 2**32),
    n_stores=st.integers(0, 9),
    n_warehouses=st.integers(1, 4),
    n_skus=st.integers(1, 25),
    n_open_orders=st.integers(0, 30),
    window_hours=st.integers(1, 3 * 365 * 24),
    noise=_noise,
    params=_params,
)
def test_invariants_hold_for_any_size(
    n_customers: int,
    seed: int,
    n_stores: int,
    n_warehouses: int,
    n_skus: int,
    n_open_orders: int,
    window_hours: int,
    noise: IdentifierNoise,
    params: TrueParameters,
) -> None:
    start = np.datetime64("2023-03-01T00:00:00", "us")
    data = synthetic_retailer(
        n_customers,
        seed=seed,
        start=start,
        end=start + np.timedelta64(window_hours, "h"),
        noise=noise,
        params=params,
        n_stores=n_stores,
        n_warehouses=n_warehouses,
        n_skus=n_skus,
        n_open_orders=n_open_orders,
    )
    truth, tx = data.truth, data.transactions
    assert np.array_equal(truth.person_id, np.arange(n_customers))
    # purchases: every person buys at birth, nothing outside [birth, dropout] or the window
    buy = tx.amount > 0
    assert set(tx.customer_id[buy].tolist()) == set(range(n_customers))
    assert (tx.timestamp[buy] >= truth.birth[tx.customer_id[buy]]).all()
    dead = ~truth.alive_at_end[tx.customer_id[buy]]
    assert (tx.timestamp[buy][dead] <= truth.dropout_at[tx.customer_id[buy]][dead]).all()
    assert (tx.timestamp >= data.observation_start).all()
    assert (tx.timestamp < data.observation_end).all()
    assert (truth.n_purchases >= 1).all()
    # identifiers: every record maps to a person or to nobody
    assert set(data.identifiers.record_id.tolist()) == set(truth.record_id.tolist())
    assert ((truth.record_person >= -1) & (truth.record_person < n_customers)).all()
    assert np.array_equal(truth.person_of(data.identifiers.record_id), truth.row_person)
    assert not (truth.has_typo & truth.is_placeholder).any()
    assert set(truth.record_person.tolist()) >= set(range(n_customers))
    # network, inventory, open orders agree with each other
    assert len(data.network) == n_stores + n_warehouses
    assert set(data.inventory.node.tolist()) <= set(data.network.node_id.tolist())
    assert set(data.inventory.sku.tolist()) <= set(data.catalog.sku.tolist())
    assert len(np.unique(data.open_orders.order_id)) == n_open_orders
    assert set(data.open_orders.sku.tolist()) <= set(data.catalog.sku.tolist())
    assert (data.open_orders.quantity > 0).all()
    # events stay in the window and belong to persons
    assert (data.events.timestamp >= data.observation_start).all()
    assert (data.events.timestamp < data.observation_end).all()
    assert set(data.events.customer_id.tolist()) <= set(range(n_customers))
