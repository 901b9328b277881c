"""Every campaigns test runs twice: text columns coded on construction (as large batches are) and not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from omnicore.data import _text_codes


@pytest.fixture(scope="module", autouse=True, params=["text coded on construction", "text factorised on use"])
def text_codes_on_construction(request: pytest.FixtureRequest) -> Iterator[None]:
    original = _text_codes.ENCODE_MIN_ROWS
    if request.param == "text coded on construction":
        _text_codes.ENCODE_MIN_ROWS = 1
    yield
    _text_codes.ENCODE_MIN_ROWS = original
