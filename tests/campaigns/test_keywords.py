"""Keyword matching: CJK substrings, whole Latin words, case and width folding."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnicore.campaigns import compile_keywords, is_cjk, match_keywords


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("有防晒霜吗", True),  # Chinese: no spaces, substring
        ("防晒", True),
        ("请问防 晒", False),  # broken by a space: not the keyword
        ("need SUNSCREEN please", True),  # case-insensitive
        ("sunscreens", False),  # whole words only for Latin script
        ("买sunscreen", True),  # CJK next to a Latin word is a boundary
        ("ｓｕｎｓｃｒｅｅｎ？", True),  # full-width input folds to ASCII
        ("sun-screen", False),
        ("", False),
    ],
)
def test_mixed_keywords(text: str, expected: bool) -> None:
    pattern = compile_keywords(["防晒", "sunscreen"])
    assert match_keywords(np.array([text], dtype=np.dtypes.StringDType()), pattern).tolist() == [expected]


@given(st.text(alphabet="防晒霜吗sun cream,.!", max_size=20))
def test_agrees_with_python_in_for_cjk(text: str) -> None:
    got = match_keywords(np.array([text], dtype=np.dtypes.StringDType()), compile_keywords(["防晒"]))
    assert got.tolist() == ["防晒" in text]


@given(st.lists(st.sampled_from(["sun", "cream", "suncream", "a", " ", ",", "防"]), max_size=8))
def test_latin_whole_word_matches_tokenisation(tokens: list[str]) -> None:
    text = "".join(tokens)
    words = [w for w in text.replace(",", " ").replace("防", " ").split(" ") if w]
    got = match_keywords(np.array([text], dtype=np.dtypes.StringDType()), compile_keywords(["sun"]))
    assert got.tolist() == ["sun" in words]


def test_is_cjk() -> None:
    assert is_cjk("奶粉")
    assert is_cjk("ミルク")
    assert not is_cjk("milk")
