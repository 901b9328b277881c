"""Run the demo pipeline end to end and render its report."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import TextIO

from omnicore._demo import allocation, campaigns, identity, ltv, privacy, rfm, spark
from omnicore._demo._base import DemoContext, DemoSection
from omnicore._demo._foundation import generate_step, store_step, summary_step
from omnicore._progress import Progress, progress_bar
from omnicore.storage import Store

__all__ = ["CAPABILITY_STEPS", "render", "run_demo"]

logger = logging.getLogger(__name__)

Step = Callable[[DemoContext], DemoSection]

#: Capability steps in pipeline order: later steps read what earlier ones put in ``ctx.results``.
_CAPABILITY_STEPS: tuple[tuple[str, Step], ...] = (
    ("identity", identity.run),
    ("rfm", rfm.run),
    ("ltv", ltv.run),
    ("spark", spark.run),
    ("allocation", allocation.run),
    ("campaigns", campaigns.run),
    ("privacy", privacy.run),
)
CAPABILITY_STEPS: tuple[str, ...] = tuple(name for name, _ in _CAPABILITY_STEPS)


def _steps() -> list[tuple[str, Step]]:
    return [("store", store_step), ("summary", summary_step), *_CAPABILITY_STEPS]


def run_demo(
    store: Store,
    *,
    n_customers: int,
    seed: int,
    show_progress: bool | None = None,
    out: TextIO | None = None,
    spark: bool = False,
) -> list[DemoSection]:
    """Generate a synthetic retailer, run every step against ``store`` and return the report sections.

    Sections are also written to ``out`` as they finish, when given. ``spark`` runs the Spark step
    (a local Spark session; needs pyspark and Java).
    """

    def ctx_progress(label: str) -> Progress:
        return progress_bar(label, enabled=show_progress)

    started = time.perf_counter()
    data_section, data = generate_step(n_customers=n_customers, seed=seed, progress=ctx_progress("generate"))
    sections = [_timed(data_section, started)]
    if out is not None:
        out.write(render([sections[0]]))
    ctx = DemoContext(store=store, data=data, seed=seed, progress=ctx_progress, spark=spark)
    for name, step in _steps():
        began = time.perf_counter()
        logger.info("demo step %s", name)
        section = _timed(step(ctx), began)
        sections.append(section)
        if out is not None:
            out.write(render([section]))
    return sections


def _timed(section: DemoSection, began: float) -> DemoSection:
    return DemoSection(
        title=section.title,
        lines=section.lines,
        table=section.table,
        seconds=time.perf_counter() - began,
    )


def render(sections: Iterable[DemoSection]) -> str:
    """Plain-text report: a heading per section, its lines, and its table with aligned columns."""
    parts: list[str] = []
    for section in sections:
        heading = f"== {section.title} ({section.seconds:.2f} s) "
        parts.append(heading.ljust(78, "=") + "\n")
        parts.extend(f"  {line}\n" for line in section.lines)
        if section.table:
            widths = [max(len(row[i]) for row in section.table) for i in range(len(section.table[0]))]
            for index, row in enumerate(section.table):
                cells = [
                    cell.ljust(width) if i == 0 else cell.rjust(width)
                    for i, (cell, width) in enumerate(zip(row, widths, strict=True))
                ]
                parts.append("  " + "  ".join(cells).rstrip() + "\n")
                if index == 0:
                    parts.append("  " + "  ".join("-" * w for w in widths) + "\n")
        parts.append("\n")
    return "".join(parts)
