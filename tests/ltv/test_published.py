"""Fitted parameters against the published tables (and an independent optimisation where none exists)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, special

from omnicore.ltv import (
    BetaGeo,
    BetaGeoBetaBinom,
    GammaGamma,
    ModifiedBetaGeo,
    ParetoNBD,
    ShiftedBetaGeometric,
)
from tests.ltv._refs import load_cdnow, load_cdnow_spend, load_donations


def _sig3(value: float, published: float) -> bool:
    """Agreement to 3 significant digits: rounding the estimate to the published digits gives them."""
    digits = 3 - int(np.floor(np.log10(abs(published)))) - 1
    return bool(round(value, digits) == round(published, digits))


@pytest.fixture(scope="module")
def cdnow() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return load_cdnow()


def test_bg_nbd_cdnow_matches_fhl_2005(cdnow: tuple) -> None:
    # Fader, Hardie & Lee (2005), Marketing Science, p. 279:
    # r=0.243, alpha=4.414, a=0.793, b=2.426, LL=-9582.4
    x, t_x, T = cdnow
    m = BetaGeo.fit(frequency=x, recency=t_x, T=T, period="W")
    for name, published in {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}.items():
        assert _sig3(getattr(m.params, name), published), (name, getattr(m.params, name))
    assert m.log_likelihood == pytest.approx(-9582.4, abs=0.05)
    assert m.fit_info is not None
    assert m.fit_info.n_rows < x.size  # compressed


def test_pareto_nbd_cdnow_matches_fhl_2005(cdnow: tuple) -> None:
    # Fader, Hardie & Lee (2005), p. 279: r=0.553, alpha=10.578, s=0.606, beta=11.669, LL=-9595.0
    x, t_x, T = cdnow
    m = ParetoNBD.fit(frequency=x, recency=t_x, T=T, period="W")
    for name, published in {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}.items():
        assert _sig3(getattr(m.params, name), published), (name, getattr(m.params, name))
    assert m.log_likelihood == pytest.approx(-9595.0, abs=0.05)


def _independent_mbg_negll(log_theta: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> float:
    # Batislam et al. (2007) likelihood written directly (no log-sum-exp, no compression)
    r, alpha, a, b = np.exp(log_theta)
    head = np.exp(special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha))
    first = np.exp(special.betaln(a, b + x + 1) - special.betaln(a, b)) / (alpha + T) ** (r + x)
    second = np.exp(special.betaln(a + 1, b + x) - special.betaln(a, b)) / (alpha + t_x) ** (r + x)
    return float(-np.log(head * (first + second)).sum())


def test_mbg_nbd_cdnow_matches_an_independent_optimisation(cdnow: tuple) -> None:
    x, t_x, T = cdnow
    m = ModifiedBetaGeo.fit(frequency=x, recency=t_x, T=T, period="W")
    ref = optimize.minimize(
        _independent_mbg_negll,
        np.log([0.5, 6.0, 0.9, 1.6]),
        args=(x, t_x, T),
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-10, "maxiter": 20_000, "maxfev": 40_000},
    )
    np.testing.assert_allclose(m.params.to_array(), np.exp(ref.x), rtol=1e-4)
    assert m.log_likelihood == pytest.approx(-ref.fun, abs=1e-6)


def test_gamma_gamma_cdnow_matches_fhl_2005() -> None:
    # Fader, Hardie & Lee (2005) "RFM and CLV" / Fader & Hardie (2013) note 025: p=6.25, q=3.74, gamma=15.44
    x, zbar = load_cdnow_spend()
    m = GammaGamma.fit(frequency=x, monetary_value=zbar)
    assert _sig3(m.params.p, 6.25)
    assert _sig3(m.params.q, 3.74)
    assert _sig3(m.params.v, 15.44)
    assert m.fit_info is not None
    assert m.fit_info.n_customers == 946  # repeat buyers only


def test_bg_bb_donations_matches_fhs_2010() -> None:
    # Fader, Hardie & Shang (2010): alpha=1.204, beta=0.750, gamma=0.657, delta=2.783, LL=-33225.6
    d = load_donations()
    m = BetaGeoBetaBinom.fit(frequency=d[:, 0], recency=d[:, 1], T=d[:, 2], weights=d[:, 3])
    for name, published in {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}.items():
        assert _sig3(getattr(m.params, name), published), (name, getattr(m.params, name))
    assert m.log_likelihood == pytest.approx(-33225.6, abs=0.05)


@pytest.mark.parametrize(
    ("survival_pct", "alpha", "beta"),
    [
        # Fader & Hardie (2007), "How to project customer retention", regular and high-end customers
        ([100.0, 63.1, 46.8, 38.2, 32.6, 28.9, 26.2, 24.1], 0.704, 1.182),
        ([100.0, 86.9, 74.3, 65.3, 59.3, 55.1, 51.7, 49.1], 0.668, 3.806),
    ],
)
def test_sbg_matches_fader_hardie_2007(survival_pct: list[float], alpha: float, beta: float) -> None:
    m = ShiftedBetaGeometric.fit_survivors(np.array(survival_pct) * 10)
    assert _sig3(m.params.alpha, alpha)
    assert _sig3(m.params.beta, beta)
