"""Seeded, vectorised generator of an RFM benchmark transaction log (shared by the rfm benchmarks).

About a third of customers buy on one day only (the tie that breaks ``rank(method="first")``); the
others buy a negative-binomial number of times spread over their lifetime; spend is Gamma per customer;
about 0.5% of rows are returns; rows come time-ordered, as a transaction log returns them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

START = np.datetime64("2023-01-01T00:00:00", "us")
END = np.datetime64("2024-12-31T23:59:59", "us")
CHANNELS = ("online", "store", "community")
_US_PER_DAY = 86_400_000_000


def generate(rows: int, *, seed: int = 7) -> dict[str, npt.NDArray[object]]:
    """About ``rows`` transactions of ``rows // 10`` customers as numpy columns (time-ordered)."""
    rng = np.random.default_rng(seed)
    n_customers = max(rows // 10, 1)
    one_day = rng.random(n_customers) < 0.34
    # Repeat buyers: 1 + NB purchases, tuned so that the mean is ~10 rows per customer overall.
    extra = rng.negative_binomial(1.2, 1.2 / (1.2 + 13.6), n_customers)
    per_customer = np.where(one_day, 1 + (rng.random(n_customers) < 0.3), 2 + extra)
    scale = rows / per_customer.sum()
    per_customer = np.maximum(1, np.round(per_customer * scale)).astype(np.int64)
    per_customer[one_day] = np.minimum(per_customer[one_day], 2)
    total = int(per_customer.sum())
    customer = np.repeat(np.arange(n_customers, dtype=np.int64), per_customer)
    span_us = int((END - START).astype(np.int64))
    first = rng.integers(0, span_us, n_customers)
    life = span_us - first
    offset = (rng.random(total) * life[customer]).astype(np.int64)
    # One-day buyers' rows fall on their first day.
    same_day = one_day[customer]
    offset[same_day] = rng.integers(0, _US_PER_DAY // 4, int(same_day.sum()))
    starts = np.cumsum(per_customer) - per_customer
    offset[starts] = 0  # every customer's first row is at their first purchase
    stamp = first[customer] + offset
    spend_mean = rng.gamma(2.0, 40.0, n_customers)
    amount = np.round(rng.gamma(3.0, 1.0, total) * spend_mean[customer] / 3.0 + 1.0, 2)
    returns = rng.random(total) < 0.005
    returns[starts] = False
    amount[returns] = -np.round(amount[returns] * rng.random(int(returns.sum())), 2) - 0.01
    preference = rng.dirichlet((2.0, 1.5, 0.8), n_customers)
    cum = np.cumsum(preference, axis=1)[customer]
    draw = rng.random(total)[:, None]
    channel_code = (draw > cum[:, :2]).sum(axis=1).astype(np.int8)
    # Customer ids: not dense, like warehouse surrogate keys with gaps.
    ids = np.sort(rng.choice(n_customers * 3, n_customers, replace=False)).astype(np.int64) + 1_000_000
    order = np.argsort(stamp, kind="stable")
    return {
        "customer_id": ids[customer[order]],
        "timestamp": (START + stamp[order].astype("timedelta64[us]")).astype("datetime64[us]"),
        "amount": amount[order],
        "channel_code": channel_code[order],
    }


def cached(rows: int, seed: int, directory: Path) -> dict[str, npt.NDArray[object]]:
    """Generate once per (rows, seed) and keep ``.npy`` files in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    names = ("customer_id", "timestamp", "amount", "channel_code")
    paths = {name: directory / f"rfm-{rows}-{seed}-{name}.npy" for name in names}
    if not all(p.exists() for p in paths.values()):
        data = generate(rows, seed=seed)
        for name, path in paths.items():
            np.save(path, data[name])
    return {name: np.load(path) for name, path in paths.items()}
