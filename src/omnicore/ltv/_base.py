"""What every fitted omnicore.ltv model shares: parameters, diagnostics, period checks, parameter draws."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Self

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.ltv._fitting import FitInfo, ModelSpec, confidence_intervals, log_covariance
from omnicore.ltv._inputs import RFMArrays, check_period, rfm_arrays

__all__ = ["FittedModel", "Params", "positive"]

FloatArray = npt.NDArray[np.float64]


def _positive_float(value: Any) -> float:
    return float(value)


def _check_positive(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be a positive finite number",
            field=attribute.name,
            value=value,
        )


def positive() -> Any:
    """An attrs field for a positive, finite model parameter."""
    return attrs.field(converter=_positive_float, validator=_check_positive)


class Params:
    """Mixin of the per-model parameter classes (frozen attrs classes of positive floats)."""

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Parameter names in the paper's order."""
        return tuple(f.name for f in attrs.fields(cls))  # type: ignore[arg-type]

    def to_array(self) -> FloatArray:
        """The parameters as a float64 vector in :meth:`names` order."""
        return np.array([getattr(self, n) for n in self.names()], dtype=np.float64)

    @classmethod
    def from_array(cls, values: Any) -> Self:
        """Build the parameters from a vector in :meth:`names` order."""
        return cls(*(float(v) for v in np.asarray(values, dtype=np.float64)))

    def as_dict(self) -> dict[str, float]:
        """``{name: value}``."""
        return dict(zip(self.names(), self.to_array().tolist(), strict=False))


class FittedModel:
    """Methods shared by every fitted model (each model is a frozen attrs class with ``params``,
    ``fit_info`` and ``period``)."""

    params: Params
    fit_info: FitInfo | None
    period: Any
    spec: ClassVar[ModelSpec]

    @property
    def log_likelihood(self) -> float:
        """Maximised log-likelihood of the fit."""
        return self._info().log_likelihood

    @property
    def standard_errors(self) -> dict[str, float]:
        """Standard errors of the parameters from the observed information matrix."""
        return self._info().standard_errors

    def confidence_intervals(self, level: float = 0.95) -> dict[str, tuple[float, float]]:
        """Wald confidence intervals of the parameters, computed on the log scale (so always positive).

        Parameters
        ----------
        level
            Coverage, e.g. 0.95.

        Returns
        -------
        dict
            ``{name: (lower, upper)}``.
        """
        return confidence_intervals(self._info(), self.params.to_array(), level)

    def summary(self) -> str:
        """A plain-text table of estimates, standard errors and 95% intervals."""
        info = self._info()
        ci = self.confidence_intervals()
        se = info.standard_errors
        lines = [
            f"{type(self).__name__} fitted on {info.n_customers:g} customers ({info.n_rows} distinct rows), "
            f"period={getattr(self.period, 'value', self.period)!r}",
            f"log-likelihood {info.log_likelihood:.4f}  AIC {info.aic:.2f}  BIC {info.bic:.2f}",
            f"{'param':>8} {'estimate':>12} {'std err':>12} {'95% lower':>12} {'95% upper':>12}",
        ]
        for name, value in self.params.as_dict().items():
            lo, hi = ci[name]
            lines.append(f"{name:>8} {value:12.5g} {se[name]:12.4g} {lo:12.5g} {hi:12.5g}")
        return "\n".join(lines)

    def sample_params(self, n_draws: int, *, seed: int | np.random.Generator | None = None) -> FloatArray:
        """Draw parameter vectors from the asymptotic sampling distribution of the estimate.

        Draws are multivariate normal on the log scale (delta-method covariance), so every draw is
        positive. Shape ``(n_draws, k)``.
        """
        info = self._info()
        theta = self.params.to_array()
        cov = log_covariance(info, theta)
        if not np.isfinite(cov).all():
            raise ValidationError(
                "the fit's information matrix is singular; no parameter uncertainty is available",
                field="fit_info.covariance",
            )
        rng = np.random.default_rng(seed)
        draws = rng.multivariate_normal(np.log(theta), cov, size=n_draws, method="eigh")
        return np.exp(draws)

    def with_params(self, values: Any) -> Self:
        """A copy of the model with other parameter values (used for parameter draws)."""
        params = type(self.params).from_array(values)
        return attrs.evolve(self, params=params)  # type: ignore[misc]

    def _info(self) -> FitInfo:
        if self.fit_info is None:
            raise ValidationError(
                f"this {type(self).__name__} was built from parameters, not fitted; "
                "it has no fit diagnostics",
                field="fit_info",
            )
        return self.fit_info

    def _data(
        self, summary: Any, frequency: Any, recency: Any, T: Any, *, integer_T: bool = False
    ) -> RFMArrays:
        data = rfm_arrays(summary, frequency, recency, T, integer_T=integer_T)
        check_period(self.period, data.period, model=type(self).__name__)
        return data


def as_time(t: Any, name: str = "t") -> FloatArray:
    """A non-negative time or array of times."""
    array = np.asarray(t, dtype=np.float64)
    if not np.isfinite(array).all() or (array < 0).any():
        raise ValidationError("must be finite and >= 0", field=name, value=t)
    return array
