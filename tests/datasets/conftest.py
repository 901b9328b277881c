"""Shared synthetic retailers for the dataset tests (generated once per session)."""

from __future__ import annotations

import pytest

from omnicore.datasets import SyntheticRetailer, synthetic_retailer


@pytest.fixture(scope="session")
def retailer() -> SyntheticRetailer:
    """A mid-sized retailer: enough persons for the statistical checks, small enough to be quick."""
    return synthetic_retailer(20_000, seed=7)


@pytest.fixture(scope="session")
def small() -> SyntheticRetailer:
    """A small retailer for the exact invariants."""
    return synthetic_retailer(1_500, seed=11, n_stores=16, n_skus=120, n_open_orders=300)
