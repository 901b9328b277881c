"""``synthetic_retailer``: a whole omnichannel retailer drawn from known processes, with the truth."""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore._progress import Progress, null_progress
from omnicore.data import STRING_DTYPE, Transactions, to_datetime64
from omnicore.datasets._behaviour import make_events
from omnicore.datasets._catalog import CategorySampler, make_catalog
from omnicore.datasets._identities import IdentityData, make_identifiers
from omnicore.datasets._network import CITY_SHARE, make_inventory, make_network, make_open_orders
from omnicore.datasets._params import IdentifierNoise, TrueParameters
from omnicore.datasets._purchases import DAY_US, Orders, People, draw_orders, draw_people, make_transactions
from omnicore.datasets._types import Catalog, GroundTruth, SyntheticPurchases, SyntheticRetailer

__all__ = ["synthetic_retailer", "synthetic_transactions"]

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
    - each purchase's spend is ``z ~ Gamma(p_GG, rate=nu)``, split over 1-4 order lines in whole cents
      in proportion to list price times quantity (with noise), so a line's amount is not exactly its
      list price times its quantity: the spend process, not the catalog, is the truth.

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
    n_stores = _count("n_stores", n_stores, 0)
    n_warehouses = _count("n_warehouses", n_warehouses, 1)
    n_open_orders = _count("n_open_orders", n_open_orders, 0)
    noise = IdentifierNoise() if noise is None else noise
    if not isinstance(noise, IdentifierNoise):
        raise ValidationError("expected IdentifierNoise", field="noise", value=type(noise).__name__)
    total = len(_STEPS)

    def step(done: int) -> None:
        progress(done, total, _STEPS[done - 1])

    stage = _purchase_stage(
        n_customers, seed=seed, start=start, end=end, n_skus=n_skus, params=params, step=step
    )
    streams, people, orders = stage.streams, stage.people, stage.orders
    events = make_events(
        streams[4],
        orders=orders,
        people=people,
        catalog=stage.catalog,
        sampler=stage.sampler,
        window_days=stage.window_days,
        start=stage.start,
        end=stage.end,
    )
    step(4)
    active_end = np.where(stage.alive, stage.window_days, orders.dropout_day + 60.0)
    identity = make_identifiers(
        streams[5],
        people=people,
        active_end_day=active_end,
        noise=noise,
        window_days=stage.window_days,
        start=stage.start,
        end=stage.end,
    )
    step(5)
    network = make_network(streams[6], n_stores=n_stores, n_warehouses=n_warehouses)
    inventory = make_inventory(streams[6], network, stage.catalog)
    step(6)
    open_orders = make_open_orders(
        streams[7],
        n_orders=n_open_orders,
        people=people,
        alive=stage.alive,
        network=network,
        catalog=stage.catalog,
        sampler=stage.sampler,
        inventory=inventory,
        end=stage.end,
    )
    step(7)
    truth = _truth(stage, identity)
    logger.debug(
        "synthetic retailer: %d persons, %d transactions, %d events, %d identifier rows",
        len(people),
        len(stage.transactions),
        len(events),
        len(identity.records),
    )
    return SyntheticRetailer(
        transactions=stage.transactions,
        events=events,
        identifiers=identity.records,
        truth=truth,
        network=network,
        catalog=stage.catalog,
        inventory=inventory,
        open_orders=open_orders,
        observation_end=stage.end,
        observation_start=stage.start,
        params=stage.params,
        seed=stage.seed,
    )


def synthetic_transactions(
    n_customers: int = 20_000,
    *,
    seed: int = 0,
    start: Any = "2023-01-01",
    end: Any = "2025-01-01",
    n_skus: int = 500,
    params: TrueParameters | None = None,
    progress: Progress = null_progress,
) -> SyntheticPurchases:
    """Only the purchases of :func:`synthetic_retailer`: transactions, catalog and the per-person truth.

    For model-fitting tests and benchmarks at millions of customers, where the events, identifiers and
    network would only cost time and memory. With the same arguments the transactions, catalog and
    per-person truth equal those of :func:`synthetic_retailer` exactly.

    Parameters
    ----------
    n_customers, seed, start, end, n_skus, params, progress
        As for :func:`synthetic_retailer`.

    Returns
    -------
    SyntheticPurchases
        Transactions (returns as negative rows), the catalog and the :class:`GroundTruth` per person
        (its identifier fields are empty: no identifiers are generated).

    Raises
    ------
    ValidationError
        On a negative or non-integer count, or a window that is empty.

    See Also
    --------
    synthetic_retailer

    Examples
    --------
    >>> purchases = synthetic_transactions(1_000, seed=3, n_skus=50)
    >>> full = synthetic_retailer(1_000, seed=3, n_skus=50, n_open_orders=0)
    >>> purchases.transactions == full.transactions
    True
    >>> len(purchases.truth.record_id)
    0
    """

    def step(done: int) -> None:
        progress(done, 3, _STEPS[done - 1])

    stage = _purchase_stage(
        n_customers, seed=seed, start=start, end=end, n_skus=n_skus, params=params, step=step
    )
    return SyntheticPurchases(
        transactions=stage.transactions,
        catalog=stage.catalog,
        truth=_truth(stage, None),
        observation_end=stage.end,
        observation_start=stage.start,
        params=stage.params,
        seed=stage.seed,
    )


@attrs.frozen(kw_only=True)
class _Stage:
    """What the purchase stages produce, shared by both generators."""

    streams: list[np.random.Generator]
    catalog: Catalog
    sampler: CategorySampler
    people: People
    orders: Orders
    alive: npt.NDArray[np.bool_]
    transactions: Transactions
    start: np.datetime64
    end: np.datetime64
    window_days: float
    params: TrueParameters
    seed: int


def _purchase_stage(
    n_customers: Any,
    *,
    seed: Any,
    start: Any,
    end: Any,
    n_skus: Any,
    params: TrueParameters | None,
    step: Callable[[int], None],
) -> _Stage:
    n_customers = _count("n_customers", n_customers, 1)
    n_skus = _count("n_skus", n_skus, 1)
    seed = _count("seed", seed, 0)
    params = TrueParameters() if params is None else params
    if not isinstance(params, TrueParameters):
        raise ValidationError("expected TrueParameters", field="params", value=type(params).__name__)
    start64 = to_datetime64(start, field="start")
    end64 = to_datetime64(end, field="end")
    if end64 <= start64:
        raise ValidationError("end must be after start", field="end", value=str(end64))
    window_days = float((end64 - start64) / np.timedelta64(1, "us")) / DAY_US

    # one independent stream per part, so that e.g. the catalog size leaves the persons unchanged
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
    return _Stage(
        streams=streams,
        catalog=catalog,
        sampler=sampler,
        people=people,
        orders=orders,
        alive=alive,
        transactions=transactions,
        start=start64,
        end=end64,
        window_days=window_days,
        params=params,
        seed=seed,
    )


def _truth(stage: _Stage, identity: IdentityData | None) -> GroundTruth:
    people, orders, alive, start = stage.people, stage.orders, stage.alive, stage.start
    n = len(people)
    dropout_at = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    dead = ~alive
    dropout_at[dead] = start + np.round(orders.dropout_day[dead] * DAY_US).astype("timedelta64[us]")
    no_text = np.empty(0, dtype=STRING_DTYPE)
    no_int = np.empty(0, dtype=np.int64)
    no_flag = np.empty(0, dtype=bool)
    return GroundTruth(
        person_id=np.arange(n, dtype=np.int64),
        lambda_=people.lam,
        dropout_p=people.dropout_p,
        nu=people.nu,
        birth=start + np.round(people.birth_day * DAY_US).astype("timedelta64[us]"),
        dropout_at=dropout_at,
        alive_at_end=alive,
        n_purchases=orders.n_purchases,
        household_id=np.arange(n, dtype=np.int64) if identity is None else identity.household_id,
        record_id=no_text if identity is None else identity.record_id,
        record_person=no_int if identity is None else identity.record_person,
        row_person=no_int if identity is None else identity.row_person,
        canonical_value=no_text if identity is None else identity.canonical_value,
        is_placeholder=no_flag if identity is None else identity.is_placeholder,
        is_shared=no_flag if identity is None else identity.is_shared,
        has_typo=no_flag if identity is None else identity.has_typo,
    )
