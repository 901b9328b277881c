"""Every public name of every subpackage appears in the API reference."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs" / "api"
PACKAGES = [
    "omnicore",
    "omnicore.data",
    "omnicore.storage",
    "omnicore.summary",
    "omnicore.datasets",
    "omnicore.identity",
    "omnicore.allocation",
    "omnicore.rfm",
    "omnicore.ltv",
    "omnicore.campaigns",
    "omnicore.privacy",
    "omnicore.spark",
]


@pytest.mark.parametrize("package", PACKAGES)
def test_public_names_are_documented(package: str) -> None:
    reference = "\n".join(page.read_text(encoding="utf-8") for page in DOCS.glob("*.rst"))
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if not name.startswith("_") and name not in reference]
    assert not missing, f"{package}: not in docs/api: {missing}"
