"""The product catalog: categories, prices, popularity, and sampling SKUs by category."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from omnicore.datasets._text import numbered, pick
from omnicore.datasets._types import Catalog

__all__ = ["CATEGORIES", "CategorySampler", "make_catalog"]

#: (name, share of products and demand, median unit price in CNY)
CATEGORIES: tuple[tuple[str, float, float], ...] = (
    ("skincare", 0.14, 180.0),
    ("sunscreen", 0.08, 120.0),
    ("makeup", 0.08, 150.0),
    ("baby", 0.12, 160.0),
    ("snacks", 0.12, 40.0),
    ("beverages", 0.08, 30.0),
    ("personal_care", 0.10, 60.0),
    ("health", 0.08, 200.0),
    ("home", 0.08, 90.0),
    ("pet", 0.06, 110.0),
    ("apparel", 0.06, 220.0),
)
CATEGORY_NAMES = tuple(name for name, _, _ in CATEGORIES)
_SHARES = np.array([share for _, share, _ in CATEGORIES])
_PRICES = np.array([price for _, _, price in CATEGORIES])


def make_catalog(rng: np.random.Generator, n_skus: int) -> tuple[Catalog, npt.NDArray[np.int64]]:
    """A catalog of ``n_skus`` products and each product's category code.

    Every category has a product when ``n_skus`` allows; popularity is Zipf-like over a random ranking.
    """
    n_categories = len(CATEGORIES)
    category = rng.choice(n_categories, size=n_skus, p=_SHARES / _SHARES.sum())
    head = min(n_skus, n_categories)
    category[:head] = rng.permutation(n_categories)[:head]
    category = rng.permutation(category).astype(np.int64)
    price = np.round(_PRICES[category] * rng.lognormal(0.0, 0.45, size=n_skus), 1)
    price = np.maximum(price, 1.0)
    rank = rng.permutation(n_skus)
    weight = 1.0 / (rank + 3.0) ** 0.9
    popularity = weight / weight.sum()
    catalog = Catalog(
        sku=numbered("SKU-", np.arange(1, n_skus + 1), 5),
        category=pick(CATEGORY_NAMES, category),
        unit_price=price,
        popularity=popularity,
    )
    return catalog, category


class CategorySampler:
    """Draw SKUs by popularity, either from the whole catalog or within a given category."""

    def __init__(self, category: npt.NDArray[np.int64], popularity: npt.NDArray[np.float64]) -> None:
        n_categories = len(CATEGORIES)
        #: Each SKU's category code.
        self.sku_category = category
        self._order = np.argsort(category, kind="stable")
        sorted_category = category[self._order]
        weight = popularity[self._order]
        self._cum = np.cumsum(weight)
        totals = np.bincount(sorted_category, weights=weight, minlength=n_categories)
        self._totals = totals
        self._base = np.concatenate([[0.0], np.cumsum(totals)])[:-1]
        self._first = np.searchsorted(sorted_category, np.arange(n_categories), side="left")
        self._last = np.searchsorted(sorted_category, np.arange(n_categories), side="right") - 1
        self._all = np.cumsum(popularity) / popularity.sum()
        #: Category shares over the categories that have products.
        present = totals > 0
        share = _SHARES * present
        self.category_share = share / share.sum()

    def in_categories(
        self, rng: np.random.Generator, categories: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """One SKU index per entry of ``categories`` (each category must have products)."""
        u = self._base[categories] + rng.random(len(categories)) * self._totals[categories]
        index = np.searchsorted(self._cum, u, side="right")
        index = np.clip(index, self._first[categories], self._last[categories])
        result: npt.NDArray[np.int64] = self._order[index].astype(np.int64)
        return result

    def anywhere(
        self, rng: np.random.Generator, n: int, weights: npt.NDArray[Any] | None = None
    ) -> npt.NDArray[np.int64]:
        """``n`` SKU indices by popularity (or by ``weights`` when given)."""
        cum = self._all if weights is None else np.cumsum(weights) / np.sum(weights)
        index = np.searchsorted(cum, rng.random(n), side="right")
        return np.minimum(index, len(cum) - 1).astype(np.int64)
