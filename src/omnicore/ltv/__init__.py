"""Customer lifetime value: the buy-till-you-die models, spend, uncertainty, validation and CLV.

Models (each fitted by maximum likelihood, on customers compressed to distinct rows or, for
Gamma-Gamma, by Newton's method on the profile likelihood with one compiled pass per step; each an
immutable result with the literature's parameter names, standard errors and intervals):
:class:`BetaGeo` (BG/NBD), :class:`ParetoNBD`, :class:`ModifiedBetaGeo` (MBG/NBD),
:class:`BetaGeoBetaBinom` (BG/BB), :class:`ShiftedBetaGeometric` (sBG) and :class:`GammaGamma`.
"""

from omnicore.ltv._base import FittedModel
from omnicore.ltv._bg_bb import BetaGeoBetaBinom, BetaGeoBetaBinomParams
from omnicore.ltv._bg_nbd import BetaGeo, BetaGeoParams
from omnicore.ltv._clv import CLVSchedule, PurchaseModel, clv_schedule, customer_lifetime_value
from omnicore.ltv._diagnostics import (
    FrequencyFit,
    HoldoutComparison,
    Tracking,
    compare_holdout,
    frequency_fit,
    track_cumulative,
)
from omnicore.ltv._fitting import FitInfo
from omnicore.ltv._gamma_gamma import GammaGamma, GammaGammaParams
from omnicore.ltv._mbg_nbd import ModifiedBetaGeo
from omnicore.ltv._pareto_nbd import ParetoNBD, ParetoNBDParams
from omnicore.ltv._plot import plot_frequency_fit, plot_holdout, plot_tracking
from omnicore.ltv._sbg import ShiftedBetaGeometric, ShiftedBetaGeometricParams
from omnicore.ltv._uncertainty import PredictionInterval, predict_interval

__all__ = [
    "BetaGeo",
    "BetaGeoBetaBinom",
    "BetaGeoBetaBinomParams",
    "BetaGeoParams",
    "CLVSchedule",
    "FitInfo",
    "FittedModel",
    "FrequencyFit",
    "GammaGamma",
    "GammaGammaParams",
    "HoldoutComparison",
    "ModifiedBetaGeo",
    "ParetoNBD",
    "ParetoNBDParams",
    "PredictionInterval",
    "PurchaseModel",
    "ShiftedBetaGeometric",
    "ShiftedBetaGeometricParams",
    "Tracking",
    "clv_schedule",
    "compare_holdout",
    "customer_lifetime_value",
    "frequency_fit",
    "plot_frequency_fit",
    "plot_holdout",
    "plot_tracking",
    "predict_interval",
    "track_cumulative",
]
