"""The charts analysts expect: an R x F heat map and segment migration flows (needs the ``plot`` extra)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from omnicore._errors import DependencyError, ValidationError
from omnicore.rfm._migration import SegmentMigration
from omnicore.rfm._segments import CustomerSegments

__all__ = ["plot_heatmap", "plot_migration"]


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise DependencyError("plots need matplotlib: pip install 'omnicore[plot]'") from exc
    return plt


def _axes(ax: Any, size: tuple[float, float]) -> Any:
    if ax is not None:
        return ax
    _, new_ax = _pyplot().subplots(figsize=size)
    return new_ax


def plot_heatmap(
    segments: CustomerSegments,
    *,
    value: Literal["customers", "revenue"] = "customers",
    ax: Any = None,
) -> Any:
    """R x F heat map of customers or revenue, each cell labelled with its value and segment.

    Parameters
    ----------
    segments
        The output of :func:`segment`.
    value
        ``"customers"`` (count per cell) or ``"revenue"`` (net spend per cell).
    ax
        A matplotlib ``Axes`` to draw on; a new figure is made when None.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on. Recency runs bottom (1) to top (``bins``), frequency left to right.

    Raises
    ------
    ValidationError
        On an unknown ``value``.
    DependencyError
        If matplotlib is not installed.
    """
    if value not in ("customers", "revenue"):
        raise ValidationError("value must be 'customers' or 'revenue'", field="value", value=value)
    b = segments.scheme.bins
    cell = (segments.recency_score.astype(np.intp) - 1) * b + (segments.frequency_score - 1)
    weights = None if value == "customers" else segments.revenue
    grid = np.bincount(cell, weights=weights, minlength=b * b).reshape(b, b)
    ax = _axes(ax, (1.3 * b + 2, 1.1 * b + 1))
    image = ax.imshow(grid, origin="lower", cmap="YlGnBu", aspect="auto")
    ax.figure.colorbar(image, ax=ax, label=value)
    # the segment of a cell at the median monetary score, for the label
    m_mid = (b - 1) // 2
    names = segments.names
    peak = float(grid.max()) if grid.size else 0.0
    for r in range(b):
        for f in range(b):
            amount = grid[r, f]
            text = f"{amount:,.0f}" if value == "customers" else _compact(amount)
            name = names[segments.scheme.table[r, f, m_mid]]
            colour = "white" if peak and amount > 0.6 * peak else "black"
            ax.text(f, r, f"{name}\n{text}", ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(b), [str(i + 1) for i in range(b)])
    ax.set_yticks(range(b), [str(i + 1) for i in range(b)])
    ax.set_xlabel("F score")
    ax.set_ylabel("R score")
    ax.set_title(f"{value.capitalize()} by R and F score ({segments.scheme.name} segments)")
    return ax


def _compact(amount: float) -> str:
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(amount) >= size:
            return f"{amount / size:.3g}{suffix}"
    return f"{amount:.3g}"


def _smooth(t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    curve: npt.NDArray[np.float64] = t * t * (3 - 2 * t)
    return curve


def plot_migration(migration: SegmentMigration, *, ax: Any = None, min_share: float = 0.002) -> Any:
    """Segment migration flows: segments before on the left, after on the right, bands sized by customers.

    Parameters
    ----------
    migration
        The output of :func:`migration`.
    ax
        A matplotlib ``Axes``; a new figure is made when None.
    min_share
        Flows smaller than this share of all customers are not drawn (the blocks still count them).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

    Raises
    ------
    DependencyError
        If matplotlib is not installed.
    """
    plt = _pyplot()
    counts = migration.counts.astype(np.float64)
    total = float(counts.sum())
    ax = _axes(ax, (9, 7))
    if not total:
        return ax
    k = len(migration.labels)
    gap = 0.01 * total
    colours = plt.get_cmap("tab20")(np.linspace(0, 1, max(k, 2)))
    left_size, right_size = counts.sum(axis=1), counts.sum(axis=0)
    left_top = total + gap * (k - 1) - (np.cumsum(left_size) - left_size + gap * np.arange(k))
    right_top = total + gap * (k - 1) - (np.cumsum(right_size) - right_size + gap * np.arange(k))
    out_used = np.zeros(k)
    in_used = np.zeros(k)
    x = np.linspace(0.08, 0.92, 60)
    shape = _smooth((x - 0.08) / 0.84)
    for i in range(k):
        for j in range(k):
            c = counts[i, j]
            if c <= 0:
                continue
            y_left = left_top[i] - out_used[i]
            y_right = right_top[j] - in_used[j]
            out_used[i] += c
            in_used[j] += c
            if c < min_share * total:
                continue
            top = y_left + (y_right - y_left) * shape
            ax.fill_between(x, top - c, top, color=colours[i], alpha=0.45, linewidth=0)
    for side, tops, sizes, x0 in (("left", left_top, left_size, 0.0), ("right", right_top, right_size, 0.92)):
        for i in range(k):
            if sizes[i] <= 0:
                continue
            ax.add_patch(
                plt.Rectangle((x0, tops[i] - sizes[i]), 0.08, sizes[i], color=colours[i], linewidth=0)
            )
            label = f"{migration.labels[i]} ({sizes[i]:,.0f})"
            if side == "left":
                ax.text(-0.01, tops[i] - sizes[i] / 2, label, ha="right", va="center", fontsize=8)
            else:
                ax.text(1.01, tops[i] - sizes[i] / 2, label, ha="left", va="center", fontsize=8)
    ax.set_xlim(-0.45, 1.45)
    ax.set_ylim(0, total + gap * (k - 1))
    ax.axis("off")
    ax.set_title(f"Segment migration: {migration.stayed:.0%} of returning customers kept their segment")
    return ax
