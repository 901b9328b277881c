"""What every demo step receives and returns."""

from __future__ import annotations

from typing import Any

import attrs

from omnicore._progress import Progress, null_progress
from omnicore.storage import Store

__all__ = ["DemoContext", "DemoSection"]


@attrs.define(kw_only=True)
class DemoContext:
    """Shared state of one demo run.

    Attributes
    ----------
    store
        The opened store (SQLite by default) the steps read from and write to.
    data
        The :class:`omnicore.datasets.SyntheticRetailer` generated for this run.
    seed
        The run's seed, for any randomness a step needs.
    progress
        Factory of progress callbacks for long steps: ``ctx.progress("identity")``.
    results
        What earlier steps produced for later ones (e.g. ``results["rfm.segments"]``).
    spark
        Run the Spark step (it starts a local Spark session).
    """

    store: Store
    data: Any
    seed: int
    progress: Any = attrs.field(default=lambda label: null_progress)
    results: dict[str, Any] = attrs.field(factory=dict)
    spark: bool = False

    def bar(self, label: str) -> Progress:
        """A progress callback for a long step."""
        bar: Progress = self.progress(label)
        return bar


@attrs.frozen(kw_only=True)
class DemoSection:
    """One section of the demo report.

    Attributes
    ----------
    title
        Section heading, e.g. ``"RFM segments"``.
    lines
        Sentences or ``key: value`` facts, printed in order.
    table
        Optional table: the first row is the header.
    seconds
        Wall time of the step (filled in by the runner).
    """

    title: str
    lines: tuple[str, ...] = ()
    table: tuple[tuple[str, ...], ...] = ()
    seconds: float = 0.0
