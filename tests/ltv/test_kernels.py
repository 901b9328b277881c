"""The compiled one-pass paths: the Gamma-Gamma profile fit, fused validation, grouping and scoring."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, special

from omnicore import ValidationError
from omnicore.ltv import BetaGeo, GammaGamma, GammaGammaParams, ModifiedBetaGeo
from omnicore.ltv import _gamma_gamma as gamma_gamma_module
from omnicore.ltv._inputs import distinct_rows
from tests.jit_parity import outputs_with_and_without_jit


def _spend_sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.poisson(2.0, n).astype(np.float64)
    m = GammaGamma.simulate(GammaGammaParams(6.0, 3.5, 15.0), x, seed=seed)
    return x, m


def _independent_gg_objective(
    eta: np.ndarray, x: np.ndarray, m: np.ndarray, w: np.ndarray, penalizer: float
) -> float:
    """Fader & Hardie (2013, note 025) eq. 3, per repeat buyer, written out independently."""
    p, q, v = np.exp(eta)
    keep = x > 0
    x, m, w = x[keep], m[keep], w[keep]
    ll = (
        special.gammaln(p * x + q)
        - special.gammaln(p * x)
        - special.gammaln(q)
        + q * np.log(v)
        + (p * x - 1) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(v + m * x)
    )
    return float(-(w @ ll) / w.sum() + penalizer * np.exp(2 * eta).sum())


@pytest.mark.parametrize("penalizer", [0.0, 0.01])
def test_gamma_gamma_profile_fit_reaches_an_independent_optimum(penalizer: float) -> None:
    x, m = _spend_sample(3000, seed=5)
    w = np.arange(x.size) % 4 + 1.0
    fitted = GammaGamma.fit(frequency=x, monetary_value=m, weights=w, penalizer_coef=penalizer)
    ref = optimize.minimize(
        _independent_gg_objective,
        np.log([2.0, 2.0, 10.0]),
        args=(x, m, w, penalizer),
        method="Nelder-Mead",
        options={"xatol": 1e-11, "fatol": 1e-14, "maxiter": 20_000, "maxfev": 40_000},
    )
    np.testing.assert_allclose(fitted.params.to_array(), np.exp(ref.x), rtol=1e-6)
    assert fitted.fit_info is not None
    assert fitted.fit_info.gradient_norm < 1e-8
    keep = x > 0
    assert fitted.fit_info.n_customers == pytest.approx(float(w[keep].sum()))


def test_gamma_gamma_general_path_agrees_with_the_profile_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    x, m = _spend_sample(2000, seed=6)
    fast = GammaGamma.fit(frequency=x, monetary_value=m)
    # counts above the dense-table limit take the general (compressed L-BFGS-B) path
    monkeypatch.setattr(gamma_gamma_module, "_MAX_COUNT", 2)
    general = GammaGamma.fit(frequency=x, monetary_value=m)
    assert fast.fit_info is not None
    assert general.fit_info is not None
    np.testing.assert_allclose(fast.params.to_array(), general.params.to_array(), rtol=1e-7)
    assert fast.log_likelihood == pytest.approx(general.log_likelihood, rel=1e-11)
    np.testing.assert_allclose(fast.fit_info.covariance_matrix, general.fit_info.covariance_matrix, rtol=1e-4)


def test_gamma_gamma_weights_equal_repeated_rows() -> None:
    x, m = _spend_sample(800, seed=7)
    w = np.arange(x.size) % 3 + 1
    weighted = GammaGamma.fit(frequency=x, monetary_value=m, weights=w)
    repeated = GammaGamma.fit(frequency=np.repeat(x, w), monetary_value=np.repeat(m, w))
    np.testing.assert_allclose(weighted.params.to_array(), repeated.params.to_array(), rtol=1e-8)


@pytest.mark.parametrize(
    ("frequency", "monetary_value", "field", "row"),
    [
        ([1, 2, 3, 1], [10.0, 20.0, np.nan, 5.0], "monetary_value", 2),
        ([1, 2.5, 3, 1], [10.0, 20.0, 30.0, 5.0], "frequency", 1),
        ([1, 2, 3, 1], [10.0, 20.0, 30.0, 0.0], "monetary_value", 3),
        ([1, -1, 3, 1], [10.0, 20.0, 30.0, 5.0], "frequency", 1),
    ],
)
def test_gamma_gamma_bad_rows_are_named(
    frequency: list[float], monetary_value: list[float], field: str, row: int
) -> None:
    with pytest.raises(ValidationError) as info:
        GammaGamma.fit(frequency=frequency, monetary_value=monetary_value)
    assert (info.value.field, info.value.row) == (field, row)


def test_expected_spend_matches_the_formula_and_names_bad_rows() -> None:
    model = GammaGamma.from_params(p=6.25, q=3.74, v=15.44)
    x = np.array([0.0, 1.0, 4.0, 0.0])
    m = np.array([99.0, 30.0, 12.5, 0.0])  # m is ignored where x = 0
    expected = np.array([6.25 * 15.44, 6.25 * (15.44 + 30.0), 6.25 * (15.44 + 50.0), 6.25 * 15.44])
    expected /= 6.25 * x + 3.74 - 1
    np.testing.assert_allclose(model.expected_average_spend(frequency=x, monetary_value=m), expected)
    with pytest.raises(ValidationError) as info:
        model.expected_average_spend(frequency=[1.0, np.inf], monetary_value=[2.0, 3.0])
    assert (info.value.field, info.value.row) == ("frequency", 1)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 6), st.integers(0, 40), st.sampled_from([0.0, 0.5, 3.0, 1e9])),
        min_size=1,
        max_size=60,
    ),
    st.booleans(),
)
def test_distinct_rows_match_numpy_unique(rows: list[tuple[int, int, float]], three: bool) -> None:
    data = np.array(rows, dtype=np.float64)
    columns = (data[:, 0], data[:, 1], data[:, 2]) if three else (data[:, 0], data[:, 1])
    (unique_columns, inverse) = distinct_rows(columns)
    ref_rows, ref_inverse = np.unique(np.stack(columns, axis=1), axis=0, return_inverse=True)
    np.testing.assert_array_equal(np.stack(unique_columns, axis=1), ref_rows)
    np.testing.assert_array_equal(inverse, ref_inverse.reshape(-1))


@pytest.mark.parametrize("model_class", [BetaGeo, ModifiedBetaGeo])
def test_bg_scores_match_the_closed_forms(model_class: type[BetaGeo]) -> None:
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    model = model_class.from_params(r=r, alpha=alpha, a=a, b=b)
    k = 1 if model_class is ModifiedBetaGeo else 0
    x = np.array([0.0, 0.0, 2.0, 7.0, 1.0])
    t_x = np.array([0.0, 0.0, 30.43, 35.0, 38.86])
    T = np.array([38.86, 5.0, 38.86, 38.86, 38.86])
    # FHL (2005) / Batislam et al. (2007): P(alive) = 1 / (1 + a/(b+x+k-1) ((alpha+T)/(alpha+t_x))^(r+x))
    with np.errstate(divide="ignore"):
        odds = np.where(x + k > 0, a / (b + x + k - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0)
    np.testing.assert_allclose(model.p_alive(frequency=x, recency=t_x, T=T), 1 / (1 + odds), rtol=1e-13)
    # expected purchases: same values whether scored together or one customer at a time
    together = model.expected_purchases(13.0, frequency=x, recency=t_x, T=T)
    alone = [
        model.expected_purchases(13.0, frequency=x[i : i + 1], recency=t_x[i : i + 1], T=T[i : i + 1])[0]
        for i in range(x.size)
    ]
    np.testing.assert_allclose(together, alone, rtol=1e-14)
    with pytest.raises(ValidationError) as info:
        model.p_alive(frequency=[1.0, 2.0], recency=[1.0, 5.0], T=[2.0, 4.0])
    assert (info.value.field, info.value.row) == ("recency", 1)


_SCRIPT = """
import json, sys
import numpy as np
from omnicore.ltv import BetaGeo, GammaGamma, ParetoNBD
rng = np.random.default_rng(1)
x = rng.poisson(2.0, 300).astype(float)
m = np.where(x > 0, rng.gamma(5.0, 4.0, 300), 0.0)
T = rng.integers(5, 40, 300).astype(float)
t_x = np.where(x > 0, np.floor(rng.uniform(0, 1, 300) * T), 0.0)
gg = GammaGamma.fit(frequency=x, monetary_value=m)
bg = BetaGeo.from_params(r=0.3, alpha=4.0, a=0.8, b=2.4)
pn = ParetoNBD.from_params(r=0.5, alpha=10.0, s=0.9, beta=30.0)
# weekly histories that share endpoints: the Pareto/NBD integral over shared panels
wx = rng.poisson(1.5, 2000).astype(float)
wT = rng.integers(20, 41, 2000).astype(float)
wt_x = np.where(wx > 0, np.ceil(rng.uniform(0, 1, 2000) * wT), 0.0)
print(json.dumps({
    "gg": gg.params.to_array().tolist(),
    "spend": gg.expected_average_spend(frequency=x, monetary_value=m).tolist(),
    "bg": bg.expected_purchases(13.0, frequency=x, recency=t_x, T=T).tolist(),
    "pareto": pn.p_alive(frequency=x, recency=t_x, T=T).tolist(),
    "pareto_panels": pn.expected_purchases(13.0, frequency=wx, recency=wt_x, T=wT).tolist(),
}))
"""


def test_results_do_not_depend_on_compilation() -> None:
    compiled, plain = (json.loads(out) for out in outputs_with_and_without_jit(_SCRIPT))
    for key in compiled:
        np.testing.assert_allclose(compiled[key], plain[key], rtol=1e-12, err_msg=key)


def test_gamma_gamma_sample_start_reaches_the_same_optimum(monkeypatch: pytest.MonkeyPatch) -> None:
    x, m = _spend_sample(3000, seed=8)
    w = np.arange(x.size) % 2 + 1.0
    direct = GammaGamma.fit(frequency=x, monetary_value=m, weights=w)
    monkeypatch.setattr(gamma_gamma_module, "_SAMPLE_ROWS", 100)  # start from a fit on every k-th row
    sampled = GammaGamma.fit(frequency=x, monetary_value=m, weights=w)
    np.testing.assert_allclose(sampled.params.to_array(), direct.params.to_array(), rtol=1e-9)
    assert sampled.log_likelihood == pytest.approx(direct.log_likelihood, rel=1e-12)


def test_gamma_gamma_kernels_see_only_contiguous_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    # a strided sample would make numba load or compile a second specialisation of the kernels
    # inside a fit (about 0.5-1 s with a cold cache: the unsteady Gamma-Gamma fit timings)
    seen: list[bool] = []

    def spy(*args: object) -> object:
        seen.extend(a.flags.c_contiguous for a in args if isinstance(a, np.ndarray))
        return prepare(*args)

    prepare = gamma_gamma_module.gg_prepare
    monkeypatch.setattr(gamma_gamma_module, "gg_prepare", spy)
    monkeypatch.setattr(gamma_gamma_module, "_SAMPLE_ROWS", 100)
    x, m = _spend_sample(3000, seed=9)
    GammaGamma.fit(frequency=x, monetary_value=m)
    GammaGamma.fit(frequency=x, monetary_value=m, weights=np.arange(x.size) % 2 + 1.0)
    assert len(seen) >= 8  # the sample and the full data, twice
    assert all(seen)
