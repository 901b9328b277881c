"""The steps of ``omnicore demo``: each capability adds one module with a ``run(ctx)`` function."""

from omnicore._demo._base import DemoContext, DemoSection

__all__ = ["DemoContext", "DemoSection"]
