"""Keyword matching on chat text: whole words for Latin script, substrings for CJK text.

Chinese and Japanese text has no spaces, so a word boundary cannot be found without a segmenter;
a CJK keyword therefore matches anywhere in the text (``"防晒"`` in ``"有防晒霜吗"``). Latin-script
keywords match whole words only (``"sun"`` does not match ``"sunscreen"``), where a boundary is any
character that is not a letter or digit (so a CJK character next to a Latin word is a boundary).

All keywords of one predicate compile into one regular expression, which is run once per *distinct*
text (chat messages repeat a lot); the result is spread back to the rows with the codes from
:func:`omnicore.data.factorize`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["compile_keywords", "is_cjk", "match_keywords"]

_CJK_RANGES = (
    (0x2E80, 0x9FFF),  # CJK radicals, kana, CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF00, 0xFFEF),  # half- and full-width forms
    (0x20000, 0x2FA1F),  # CJK extensions
)


# letters and digits of Latin scripts (after casefolding): a word boundary is anything else,
# including CJK characters, so "买sunscreen" still has "sunscreen" as a whole word.
_LATIN = "[0-9a-z\u00c0-\u024f\u1e00-\u1eff]"


def is_cjk(text: str) -> bool:
    """Whether ``text`` contains a CJK (Chinese, Japanese, Korean) character.

    Examples
    --------
    >>> is_cjk("防晒霜"), is_cjk("sunscreen")
    (True, False)
    """
    return any(lo <= ord(ch) <= hi for ch in text for lo, hi in _CJK_RANGES)


def _normalise(text: str) -> str:
    # NFKC folds full-width Latin letters and digits (common in Chinese input methods) to ASCII.
    return unicodedata.normalize("NFKC", text).casefold()


def compile_keywords(keywords: Sequence[str]) -> re.Pattern[str]:
    """One case-insensitive pattern for all keywords (CJK as substrings, Latin as whole words).

    Examples
    --------
    >>> pattern = compile_keywords(["防晒", "sun cream"])
    >>> bool(pattern.search("有防晒霜吗")), bool(pattern.search("any sun cream?"))
    (True, True)
    >>> bool(pattern.search("sun creamy"))
    False
    """
    parts = []
    for word in sorted({_normalise(k.strip()) for k in keywords}, key=len, reverse=True):
        escaped = re.escape(word)
        if is_cjk(word):
            parts.append(escaped)
        else:
            parts.append(rf"(?<!{_LATIN}){escaped}(?!{_LATIN})")
    return re.compile("|".join(parts))


def match_keywords(text: npt.NDArray[Any], pattern: re.Pattern[str]) -> npt.NDArray[np.bool_]:
    """Rows of a text column in which ``pattern`` (from :func:`compile_keywords`) occurs.

    Examples
    --------
    >>> match_keywords(np.array(["防晒霜有吗", "sunscreen", "Sun!"]), compile_keywords(["防晒", "sun"]))
    array([ True, False,  True])
    """
    if text.size == 0:
        return np.zeros(0, dtype=bool)
    uniques, codes = np.unique(text, return_inverse=True)
    return match_unique(uniques, pattern)[codes.reshape(-1)]


def match_unique(uniques: npt.NDArray[Any], pattern: re.Pattern[str]) -> npt.NDArray[np.bool_]:
    """``pattern`` searched once in each distinct text."""
    search = pattern.search
    return np.fromiter(
        (bool(v) and search(_normalise(v)) is not None for v in uniques.tolist()),
        dtype=bool,
        count=uniques.size,
    )
