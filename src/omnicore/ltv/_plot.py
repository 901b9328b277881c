"""Matplotlib figures for the LTV diagnostics (needs the ``plot`` extra)."""

from __future__ import annotations

from typing import Any

import numpy as np

from omnicore._errors import DependencyError
from omnicore.ltv._diagnostics import FrequencyFit, HoldoutComparison, Tracking

__all__ = ["plot_frequency_fit", "plot_holdout", "plot_tracking"]


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise DependencyError("plotting needs matplotlib: pip install 'omnicore[plot]'") from exc
    _, new_ax = plt.subplots(figsize=(6, 4))
    return new_ax


def plot_holdout(comparison: HoldoutComparison, *, ax: Any = None) -> Any:
    """Mean actual vs predicted holdout purchases by calibration frequency.

    Parameters
    ----------
    comparison
        From :func:`compare_holdout`.
    ax
        Matplotlib axes to draw on (a new figure when ``None``).

    Returns
    -------
    matplotlib.axes.Axes
        The axes.
    """
    ax = _axes(ax)
    labels = [str(int(f)) for f in comparison.frequency]
    labels[-1] += "+"
    x = np.arange(len(labels))
    ax.plot(x, comparison.actual, "o-", label="actual")
    ax.plot(x, comparison.predicted, "s--", label="model")
    ax.set_xticks(x, labels)
    ax.set_xlabel("purchases in calibration period")
    ax.set_ylabel("mean purchases in holdout")
    ax.set_title("Holdout: actual vs predicted")
    ax.legend()
    return ax


def plot_frequency_fit(fit: FrequencyFit, *, ax: Any = None) -> Any:
    """Observed vs expected customers by number of repeat purchases.

    Parameters
    ----------
    fit
        From :func:`frequency_fit`.
    ax
        Matplotlib axes (a new figure when ``None``).

    Returns
    -------
    matplotlib.axes.Axes
        The axes.
    """
    ax = _axes(ax)
    labels = [str(int(f)) for f in fit.frequency]
    labels[-1] += "+"
    x = np.arange(len(labels))
    ax.bar(x - 0.2, fit.observed, width=0.4, label="actual")
    ax.bar(x + 0.2, fit.expected, width=0.4, label="model")
    ax.set_xticks(x, labels)
    ax.set_xlabel("repeat purchases")
    ax.set_ylabel("customers")
    ax.set_title(f"Frequency fit (chi2={fit.chi_square:.1f}, p={fit.p_value:.2g})")
    ax.legend()
    return ax


def plot_tracking(tracking: Tracking, *, ax: Any = None) -> Any:
    """Cumulative repeat purchases, actual vs model, with the calibration end marked.

    Parameters
    ----------
    tracking
        From :func:`track_cumulative`.
    ax
        Matplotlib axes (a new figure when ``None``).

    Returns
    -------
    matplotlib.axes.Axes
        The axes.
    """
    ax = _axes(ax)
    ax.plot(tracking.time, tracking.actual, label="actual")
    ax.plot(tracking.time, tracking.expected, "--", label="model")
    if tracking.calibration_end is not None:
        ax.axvline(tracking.calibration_end, color="grey", linestyle=":", label="calibration end")
    ax.set_xlabel("period")
    ax.set_ylabel("cumulative repeat purchases")
    ax.set_title("Tracking cumulative repeat purchases")
    ax.legend()
    return ax
