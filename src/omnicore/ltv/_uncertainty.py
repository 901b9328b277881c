"""Per-customer uncertainty without MCMC: predictions under draws of the fitted parameters."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.data._columns import freeze
from omnicore.ltv._base import FittedModel

__all__ = ["PredictionInterval", "predict_interval"]

FloatArray = npt.NDArray[np.float64]


def _array(value: Any) -> FloatArray:
    return freeze(np.asarray(value, dtype=np.float64))


@attrs.frozen(kw_only=True)
class PredictionInterval:
    """A prediction with an interval from parameter uncertainty.

    Attributes
    ----------
    estimate
        The prediction at the maximum-likelihood parameters.
    lower, upper
        Quantiles ``(1 - level) / 2`` and ``(1 + level) / 2`` over parameter draws.
    std
        Standard deviation over the draws.
    level
        Coverage of the interval.
    n_draws
        Number of parameter draws.
    """

    estimate: FloatArray = attrs.field(converter=_array, eq=attrs.cmp_using(eq=np.array_equal))
    lower: FloatArray = attrs.field(converter=_array, eq=attrs.cmp_using(eq=np.array_equal))
    upper: FloatArray = attrs.field(converter=_array, eq=attrs.cmp_using(eq=np.array_equal))
    std: FloatArray = attrs.field(converter=_array, eq=attrs.cmp_using(eq=np.array_equal))
    level: float
    n_draws: int


def predict_interval(
    models: FittedModel | Sequence[FittedModel],
    predict: Callable[..., Any],
    *,
    level: float = 0.9,
    n_draws: int = 200,
    seed: int | np.random.Generator | None = None,
) -> PredictionInterval:
    """Intervals for any vectorised prediction from the fitted parameters' sampling distribution.

    Parameters are drawn from the asymptotic normal distribution of the log-parameters (mean at
    the estimate, covariance from the observed information), independently for each model; the
    prediction is recomputed for every draw, vectorised over customers. This is the parametric
    bootstrap / "parameter draws" alternative to MCMC: it carries estimation uncertainty, not the
    randomness of future purchases.

    Parameters
    ----------
    models
        One fitted model, or several (e.g. ``(bg_nbd, gamma_gamma)`` for CLV).
    predict
        ``predict(*models) -> array``, called with the fitted models and then with each draw.
    level
        Interval coverage, e.g. 0.9.
    n_draws
        Number of parameter draws (memory: ``n_draws * n_customers`` floats).
    seed
        Random seed or generator.

    Returns
    -------
    PredictionInterval
        Estimate, lower and upper quantiles and standard deviation per customer.

    Raises
    ------
    ValidationError
        If a model was not fitted (no covariance) or the arguments are out of range.

    Examples
    --------
    >>> import numpy as np
    >>> from omnicore.ltv import BetaGeo, BetaGeoParams
    >>> x, t_x, T = BetaGeo.simulate(BetaGeoParams(0.25, 4.0, 0.8, 2.5), np.full(2000, 39.0), seed=1)
    >>> m = BetaGeo.fit(frequency=x, recency=t_x, T=T, period="W")
    >>> iv = predict_interval(m, lambda g: g.p_alive(frequency=[2], recency=[20], T=[38]), seed=0)
    >>> bool(iv.lower[0] <= iv.estimate[0] <= iv.upper[0])
    True
    """
    if not 0 < level < 1:
        raise ValidationError("level must be in (0, 1)", field="level", value=level)
    if n_draws < 2:
        raise ValidationError("n_draws must be >= 2", field="n_draws", value=n_draws)
    group: tuple[FittedModel, ...] = (models,) if isinstance(models, FittedModel) else tuple(models)
    rng = np.random.default_rng(seed)
    estimate = np.asarray(predict(*group), dtype=np.float64)
    draws = [m.sample_params(n_draws, seed=rng) for m in group]
    values = np.empty((n_draws, *estimate.shape))
    for j in range(n_draws):
        drawn = [m.with_params(d[j]) for m, d in zip(group, draws, strict=True)]
        values[j] = predict(*drawn)
    tail = (1 - level) / 2
    lower, upper = np.nanquantile(values, [tail, 1 - tail], axis=0)
    return PredictionInterval(
        estimate=estimate,
        lower=lower,
        upper=upper,
        std=np.nanstd(values, axis=0),
        level=float(level),
        n_draws=int(n_draws),
    )
