"""Simulation recovery: parameters drawn, data simulated from the model, the fit's 95% intervals cover."""

from __future__ import annotations

import numpy as np
import pytest

from omnicore.ltv import (
    BetaGeo,
    BetaGeoBetaBinom,
    BetaGeoBetaBinomParams,
    BetaGeoParams,
    GammaGamma,
    GammaGammaParams,
    ModifiedBetaGeo,
    ParetoNBD,
    ParetoNBDParams,
)


def _coverage(hits: list[bool]) -> float:
    return float(np.mean(hits))


def _covered(model: object, truth: np.ndarray) -> list[bool]:
    ci = model.confidence_intervals(0.95)  # type: ignore[attr-defined]
    return [lo <= v <= hi for (lo, hi), v in zip(ci.values(), truth, strict=True)]


@pytest.mark.parametrize("cls", [BetaGeo, ModifiedBetaGeo])
def test_bg_family_recovers_parameters(cls: type) -> None:
    rng = np.random.default_rng(2024)
    hits: list[bool] = []
    for rep in range(12):
        truth = np.array(
            [rng.uniform(0.2, 1.5), rng.uniform(2, 12), rng.uniform(0.5, 2.0), rng.uniform(1.5, 5.0)]
        )
        x, t_x, T = cls.simulate(BetaGeoParams.from_array(truth), rng.uniform(20, 80, 4000), seed=rep)
        hits += _covered(cls.fit(frequency=x, recency=t_x, T=T), truth)
    # 48 intervals at 95%: expect ~45.6; fewer than 40 would be very unlikely (P < 0.002)
    assert _coverage(hits) >= 40 / 48


@pytest.mark.slow
def test_pareto_nbd_recovers_parameters() -> None:
    rng = np.random.default_rng(7)
    hits: list[bool] = []
    for rep in range(6):
        truth = np.array(
            [rng.uniform(0.3, 1.5), rng.uniform(3, 12), rng.uniform(0.4, 1.5), rng.uniform(5, 15)]
        )
        x, t_x, T = ParetoNBD.simulate(
            ParetoNBDParams.from_array(truth), np.round(rng.uniform(20, 80, 3000)), seed=rep
        )
        hits += _covered(ParetoNBD.fit(frequency=x, recency=np.round(t_x, 1), T=T), truth)
    assert _coverage(hits) >= 19 / 24


def test_bg_bb_and_gamma_gamma_recover_parameters() -> None:
    rng = np.random.default_rng(11)
    hits: list[bool] = []
    for rep in range(8):
        truth = np.array([rng.uniform(0.5, 2), rng.uniform(0.5, 2), rng.uniform(0.4, 1.5), rng.uniform(1, 4)])
        x, t_x, n = BetaGeoBetaBinom.simulate(
            BetaGeoBetaBinomParams.from_array(truth), np.full(5000, 8), seed=rep
        )
        hits += _covered(BetaGeoBetaBinom.fit(frequency=x, recency=t_x, T=n), truth)
        gg_truth = np.array([rng.uniform(2, 8), rng.uniform(3, 6), rng.uniform(5, 20)])
        freq = rng.integers(1, 8, 3000).astype(float)
        spend = GammaGamma.simulate(GammaGammaParams.from_array(gg_truth), freq, seed=rep)
        hits += _covered(GammaGamma.fit(frequency=freq, monetary_value=spend), gg_truth)
    assert _coverage(hits) >= 48 / 56
