"""``synthetic_retailer``: a whole omnichannel retailer drawn from known processes, with the truth."""

from __future__ import annotations

import logging
import operator
from typing import Any

import numpy as np

from omnicore._errors import ValidationError
from omnicore._progress import Progress, null_progress
from omnicore.data import to_datetime64
from omnicore.datasets._behaviour import make_events
from omnicore.datasets._catalog import CategorySampler, make_catalog
from omnicore.datasets._identities import make_identifiers
from omnicore.datasets._network import CITY_SHARE, make_inventory, make_network, make_open_orders
from omnicore.datasets._params import IdentifierNoise, TrueParameters
from omnicore.datasets._purchases import DAY_US, draw_orders, draw_people, make_transactions
from omnicore.datasets._types import GroundTruth, SyntheticRetailer

__all__ = ["synthetic_retailer"]

logger = logging.getLogger(__name__)

_STEPS = ("people", "purchases", "transactions", "events", "identifiers", "network", "open orders")


def _count(name: str, value: Any, minimum: int) -> int:
    try:
        count = operator.index(value)
    except TypeError:
        raise ValidationError("expected an integer", field=name, value=value) from None
    if count < minimum:
        raise ValidationError(f"must be at least {minimum}", field=name, value=count)
    return count


def synthetic_retailer(
    n_customers: int = 20_000,
    *,
    seed: int = 0,
    start: Any = "2023-01-01",
    end: Any = "2025-01-01",
    n_stores: int = 40,
    n_warehouses: int = 3,
    n_skus: int = 500,
    n_open_orders: int = 2_000,
    params: TrueParameters | None = None,
    noise: IdentifierNoise | None = None,
    progress: Progress = null_progress,
) -> SyntheticRetailer:
    """Generate an omnichannel retailer whose every number comes from a known process.

    Persons buy according to the BG/NBD model [1]_ with Gamma-Gamma spend [2]_ (the exact parameters
    are in ``params`` and the per-person draws in ``truth``), leave noisy identifier records in five
    sources, browse, add to cart and chat, and a fulfilment network holds stock against a wave of open
    orders. Everything is drawn with numpy's ``Generator`` from ``seed``: the same arguments give equal
    results.

    Parameters
    ----------
    n_customers
        Number of true persons. Every person makes at least their first purchase in the window.
    seed
        Seed of the random streams (each part of the dataset has its own stream, so changing, for
        example, ``n_skus`` leaves the persons and their purchase times unchanged).
    start, end
        The observation window ``[start, end)``; ``end`` is :attr:`SyntheticRetailer.observation_end`.
    n_stores
        Stores plus dark stores (about one in eight is a dark store).
    n_warehouses
        Distribution centres.
    n_skus
        Products in the catalog.
    n_open_orders
        Orders in the open wave at the observation end.
    params
        The true purchase and spend parameters (default :class:`TrueParameters()`).
    noise
        How noisy the identifier records are (default :class:`IdentifierNoise()`).
    progress
        Called as ``progress(done, total, message)`` after each stage.

    Returns
    -------
    SyntheticRetailer
        The data (transactions, events, identifiers, network, catalog, inventory, open orders), the
        ground truth and the parameters.

    Raises
    ------
    ValidationError
        On a negative or non-integer count, or a window that is empty.

    See Also
    --------
    TrueParameters, IdentifierNoise, GroundTruth

    Notes
    -----
    The purchase process, per person:

    - ``lambda ~ Gamma(r, rate=alpha)``, ``p ~ Beta(a, b)``, ``nu ~ Gamma(q, rate=gamma)``;
    - the first purchase is at the person's *birth*, uniform over the window;
    - repeat purchases follow a Poisson process with rate ``lambda``; after each *repeat* purchase the
      person drops out with probability ``p`` (the first purchase never ends the relationship, as in
      the BG/NBD likelihood, so ``E[X(t)]`` of [1]_ holds exactly for the repeat purchases);
    - each purchase's spend is ``z ~ Gamma(p_GG, rate=nu)``, split over 1-4 order lines in whole cents.

    Timestamps keep microseconds, so several purchases can fall on one day. A share ``return_rate``
    of lines comes back 1-15 days later as a negative row with the same ``order_id`` (while still in
    the window).

    Identifier records come from online accounts (account id, phone, email, devices), POS member
    sign-ups (card, phone), mini-program logins (openid, unionid, phone), WeCom community contacts
    (external user id, unionid, phone) and guest orders (a phone or an email). The noise: formatting
    variants of phones and emails, typos, a phone shared by two persons of a household, store default
    phones at POS, persons with two member cards, and test records that belong to nobody. Values are
    raw, as a user would see them; :class:`GroundTruth` has each row's canonical value and flags.

    Generation is vectorised over persons and rows: 100,000 customers take a few seconds.

    References
    ----------
    .. [1] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting your customers" the easy
       way: an alternative to the Pareto/NBD model. *Marketing Science* 24(2), 275-284.
       https://doi.org/10.1287/mksc.1040.0098
    .. [2] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). RFM and CLV: using iso-value curves
       for customer base analysis. *Journal of Marketing Research* 42(4), 415-430.
       https://doi.org/10.1509/jmkr.2005.42.4.415

    Examples
    --------
    >>> data = synthetic_retailer(500, seed=1, n_stores=8, n_skus=60, n_open_orders=50)
    >>> data.transactions.customer_id.dtype
    dtype('int64')
    >>> sorted(set(data.transactions.channel.tolist()))
    ['community', 'online', 'store']
    >>> bool((data.truth.record_person >= -1).all())
    True
    >>> data.params.mean_spend
    300.0
    """
    n_customers = _count("n_customers", n_customers, 1)
    n_stores = _count("n_stores", n_stores, 0)
    n_warehouses = _count("n_warehouses", n_warehouses, 1)
    n_skus = _count("n_skus", n_skus, 1)
    n_open_orders = _count("n_open_orders", n_open_orders, 0)
    seed = _count("seed", seed, 0)
    params = TrueParameters() if params is None else params
    noise = IdentifierNoise() if noise is None else noise
    if not isinstance(params, TrueParameters):
        raise ValidationError("expected TrueParameters", field="params", value=type(params).__name__)
    if not isinstance(noise, IdentifierNoise):
        raise ValidationError("expected IdentifierNoise", field="noise", value=type(noise).__name__)
    start64 = to_datetime64(start, field="start")
    end64 = to_datetime64(end, field="end")
    if end64 <= start64:
        raise ValidationError("end must be after start", field="end", value=str(end64))
    window_days = float((end64 - start64) / np.timedelta64(1, "us")) / DAY_US
    total = len(_STEPS)

    def step(done: int) -> None:
        progress(done, total, _STEPS[done - 1])

    streams = [np.random.Generator(np.random.PCG64(s)) for s in np.random.SeedSequence(seed).spawn(8)]
    catalog, category = make_catalog(streams[0], n_skus)
    sampler = CategorySampler(category, catalog.popularity)
    people = draw_people(
        streams[1],
        n_customers,
        window_days=window_days,
        params=params,
        category_share=sampler.category_share,
        city_share=CITY_SHARE,
    )
    step(1)
    orders, alive = draw_orders(
        streams[2],
        people,
        window_days=window_days,
        params=params,
        sampler=sampler,
        unit_price=catalog.unit_price,
    )
    step(2)
    transactions = make_transactions(
        streams[3],
        orders,
        start=start64,
        end=end64,
        window_days=window_days,
        params=params,
        sku_text=catalog.sku,
    )
    step(3)
    events = make_events(
        streams[4],
        orders=orders,
        people=people,
        catalog=catalog,
        sampler=sampler,
        window_days=window_days,
        start=start64,
        end=end64,
    )
    step(4)
    active_end = np.where(alive, window_days, orders.dropout_day + 60.0)
    identity = make_identifiers(
        streams[5],
        people=people,
        active_end_day=active_end,
        noise=noise,
        window_days=window_days,
        start=start64,
        end=end64,
    )
    step(5)
    network = make_network(streams[6], n_stores=n_stores, n_warehouses=n_warehouses)
    inventory = make_inventory(streams[6], network, catalog)
    step(6)
    open_orders = make_open_orders(
        streams[7],
        n_orders=n_open_orders,
        people=people,
        alive=alive,
        network=network,
        catalog=catalog,
        sampler=sampler,
        inventory=inventory,
        end=end64,
    )
    step(7)
    dropout_at = np.full(n_customers, np.datetime64("NaT"), dtype="datetime64[us]")
    dead = ~alive
    dropout_at[dead] = start64 + np.round(orders.dropout_day[dead] * DAY_US).astype("timedelta64[us]")
    truth = GroundTruth(
        person_id=np.arange(n_customers, dtype=np.int64),
        lambda_=people.lam,
        dropout_p=people.dropout_p,
        nu=people.nu,
        birth=start64 + np.round(people.birth_day * DAY_US).astype("timedelta64[us]"),
        dropout_at=dropout_at,
        alive_at_end=alive,
        n_purchases=orders.n_purchases,
        household_id=identity.household_id,
        record_id=identity.record_id,
        record_person=identity.record_person,
        row_person=identity.row_person,
        canonical_value=identity.canonical_value,
        is_placeholder=identity.is_placeholder,
        is_shared=identity.is_shared,
        has_typo=identity.has_typo,
    )
    logger.debug(
        "synthetic retailer: %d persons, %d transactions, %d events, %d identifier rows",
        n_customers,
        len(transactions),
        len(events),
        len(identity.records),
    )
    return SyntheticRetailer(
        transactions=transactions,
        events=events,
        identifiers=identity.records,
        truth=truth,
        network=network,
        catalog=catalog,
        inventory=inventory,
        open_orders=open_orders,
        observation_end=end64,
        observation_start=start64,
        params=params,
        seed=seed,
    )
