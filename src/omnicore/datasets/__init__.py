"""A synthetic omnichannel retailer with known ground truth, for tests, benchmarks, demos and tutorials.

:func:`synthetic_retailer` draws purchases from a known BG/NBD process with Gamma-Gamma spend, noisy
identifier records from several channels, behavioural events, a fulfilment network with inventory
and a wave of open orders, and returns the true parameters and true person ids beside the data.
"""

from omnicore.datasets._params import IdentifierNoise, TrueParameters
from omnicore.datasets._retailer import synthetic_retailer, synthetic_transactions
from omnicore.datasets._types import (
    NODE_KINDS,
    Catalog,
    FulfilmentNetwork,
    GroundTruth,
    OpenOrders,
    SyntheticPurchases,
    SyntheticRetailer,
)

__all__ = [
    "NODE_KINDS",
    "Catalog",
    "FulfilmentNetwork",
    "GroundTruth",
    "IdentifierNoise",
    "OpenOrders",
    "SyntheticPurchases",
    "SyntheticRetailer",
    "TrueParameters",
    "synthetic_retailer",
    "synthetic_transactions",
]
