"""Progress reporting for long work: an optional callback, a terminal bar only when stderr is a TTY."""

from __future__ import annotations

import sys
import time
from typing import Protocol, TextIO

__all__ = ["Progress", "ProgressBar", "null_progress", "progress_bar"]


class Progress(Protocol):
    """Called by long-running work as it goes: ``progress(done, total, message)``."""

    def __call__(self, done: int, total: int, message: str = "") -> None: ...


def null_progress(done: int, total: int, message: str = "") -> None:
    """A progress callback that does nothing (the default everywhere)."""


class ProgressBar:
    """A one-line text bar on a terminal; silent when the stream is not a TTY (logs, CI, notebooks)."""

    def __init__(self, label: str, *, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._last = 0.0

    def __call__(self, done: int, total: int, message: str = "") -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        finished = total > 0 and done >= total
        if not finished and now - self._last < 0.1:
            return
        self._last = now
        share = done / total if total else 0.0
        filled = int(share * 24)
        bar = "#" * filled + "-" * (24 - filled)
        text = f"\r{self.label:<14} [{bar}] {share:6.1%} {message}"
        self.stream.write(text[:120].ljust(80))
        if finished:
            self.stream.write("\n")
        self.stream.flush()


def progress_bar(label: str, *, enabled: bool | None = None) -> Progress:
    """A :class:`ProgressBar` on stderr; pass ``enabled=True`` to force it on."""
    return ProgressBar(label, enabled=enabled)
