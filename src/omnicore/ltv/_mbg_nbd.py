"""MBG/NBD: the modified BG/NBD model (Batislam, Denizel & Filiztekin 2007)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._progress import Progress, null_progress
from omnicore.ltv._bg_nbd import BetaGeoFamily, BetaGeoParams, _family_loglik
from omnicore.ltv._fitting import Columns, FitInfo, ModelSpec
from omnicore.ltv._inputs import to_period
from omnicore.summary import Period

__all__ = ["ModifiedBetaGeo"]

FloatArray = npt.NDArray[np.float64]


def _loglik(theta: FloatArray, columns: Columns, grad: bool) -> tuple[FloatArray, FloatArray | None]:
    return _family_loglik(theta, columns, grad, 1)


@attrs.frozen(kw_only=True)
class ModifiedBetaGeo(BetaGeoFamily):
    """A fitted MBG/NBD model (Batislam, Denizel & Filiztekin 2007).

    As BG/NBD, except that a customer may also drop out right after the first purchase, so
    customers with no repeat purchase are no longer certainly alive.

    Attributes
    ----------
    params
        :class:`BetaGeoParams` ``(r, alpha, a, b)``.
    fit_info
        Fit diagnostics (``None`` for a model built with :meth:`from_params`).
    period
        Time unit of the data the model was fitted on.

    References
    ----------
    .. [1] Batislam, E. P., Denizel, M. and Filiztekin, A. (2007). Empirical validation and
       comparison of models for customer base analysis. International Journal of Research in
       Marketing 24(3), 201-209. https://doi.org/10.1016/j.ijresmar.2006.12.005
    """

    spec: ClassVar[ModelSpec] = ModelSpec(
        name="ModifiedBetaGeo", param_names=("r", "alpha", "a", "b"), loglik=_loglik
    )
    _k: ClassVar[int] = 1

    params: BetaGeoParams
    fit_info: FitInfo | None = None
    period: Period | None = attrs.field(default=None, converter=to_period)

    @classmethod
    def from_params(
        cls, *, r: float, alpha: float, a: float, b: float, period: Period | str | None = None
    ) -> ModifiedBetaGeo:
        """A model with given parameters (no fit).

        Parameters
        ----------
        r, alpha, a, b
            MBG/NBD parameters.
        period
            Time unit the parameters are expressed in.

        Returns
        -------
        ModifiedBetaGeo
            The model.

        Examples
        --------
        >>> m = ModifiedBetaGeo.from_params(r=0.525, alpha=6.183, a=0.891, b=1.614)
        >>> float(m.p_alive(frequency=[0], recency=[0], T=[38.86])[0]) < 1
        True
        """
        return cls(params=BetaGeoParams(r, alpha, a, b), period=period)

    @classmethod
    def fit(
        cls,
        summary: Any = None,
        *,
        frequency: Any = None,
        recency: Any = None,
        T: Any = None,
        weights: Any = None,
        penalizer_coef: float = 0.0,
        period: Period | str | None = None,
        starts: list[BetaGeoParams] | None = None,
        maxiter: int = 1000,
        progress: Progress = null_progress,
    ) -> ModifiedBetaGeo:
        """Fit the MBG/NBD model by maximum likelihood (compressed rows, analytic gradient).

        Parameters
        ----------
        summary
            A ``CustomerSummary``, or pass ``frequency``, ``recency`` and ``T`` arrays.
        frequency, recency, T
            Repeat purchases, time of last purchase since the first, age at observation end.
        weights
            Optional count of customers each row stands for.
        penalizer_coef
            L2 penalty on the parameters (lifetimes' ``penalizer_coef``).
        period
            Time unit of the arrays; taken from the summary when given.
        starts
            Starting points to try instead of the defaults.
        maxiter
            Iteration cap per start.
        progress
            Progress callback.

        Returns
        -------
        ModifiedBetaGeo
            The fitted model.

        Raises
        ------
        ValidationError
            On invalid input.
        ConvergenceError
            When no start converges; the message says what to try.
        """
        params, info, data_period = cls._fit_arrays(
            summary, frequency, recency, T, weights, penalizer_coef, period, starts, maxiter, progress
        )
        return cls(params=params, fit_info=info, period=data_period)
