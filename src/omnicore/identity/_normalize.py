"""Normalising identifier values per type, and pseudonymising them with a keyed hash.

Every normaliser maps a text column to a text column of the same length, with ``""`` where a value is
not a valid identifier of its type (such rows are dropped before linking). Normalisers work on the
distinct values only and map back, so a column of millions of repeated values costs one pass over its
uniques.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import attrs
import numpy as np
import numpy.typing as npt

from omnicore._errors import ValidationError
from omnicore.data import STRING_DTYPE, factorize
from omnicore.identity._text import unique_text_full

__all__ = [
    "EmailNormalizer",
    "Normalizer",
    "PhoneNormalizer",
    "TextNormalizer",
    "normalize_values",
    "pseudonymize",
]

_NON_DIGITS = re.compile(r"\D+")
_SPACES = re.compile(r"\s+")
_SEPARATORS = (" ", "-", ".", "(", ")", "+", "/")


@runtime_checkable
class Normalizer(Protocol):
    """Maps raw identifier values to their canonical text; ``""`` marks an invalid value."""

    def __call__(self, values: npt.NDArray[Any]) -> npt.NDArray[Any]: ...


def _per_unique(values: npt.NDArray[Any], one: Callable[[str], str]) -> npt.NDArray[Any]:
    array = np.asarray(values).astype(STRING_DTYPE, copy=False)
    if array.size == 0:
        return np.empty(0, dtype=STRING_DTYPE)
    uniques, _, codes, _ = unique_text_full(array)
    mapped = np.array([one(str(v)) for v in uniques.tolist()], dtype=STRING_DTYPE)
    return mapped[codes]


def _check_digits(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not (value.isdigit() and value.isascii() and 1 <= len(value) <= 3 and value[0] != "0"):
        raise ValidationError("expected a 1-3 digit country calling code", field=attribute.name, value=value)


@attrs.frozen(kw_only=True)
class PhoneNormalizer:
    """Phone numbers to E.164 (``+<country code><national number>``).

    Parameters
    ----------
    country_code
        Calling code assumed for numbers written without one (``"86"`` for mainland China).
    national_digits
        Length of a national number in the default country (11 for Chinese mobiles); a number of
        ``len(country_code) + national_digits`` digits that starts with the country code is read as
        already carrying it (``8613912345678``).

    Notes
    -----
    ``+`` or ``00`` starts an international number; a leading ``0`` is a trunk prefix and is dropped
    before the default country code is added. Separators (spaces, dashes, dots, brackets) are ignored.
    Results outside E.164's 8-15 digits are invalid (``""``).

    Examples
    --------
    >>> PhoneNormalizer()(np.array(["139 1234 5678", "+86 139-1234-5678", "008613912345678", "12"]))
    array(['+8613912345678', '+8613912345678', '+8613912345678', ''], dtype=StringDType())
    """

    country_code: str = attrs.field(default="86", validator=_check_digits)
    national_digits: int = 11

    def one(self, raw: str) -> str:
        """Normalise one value."""
        text = raw.strip()
        digits = _NON_DIGITS.sub("", text)
        if text.startswith("+"):
            full = digits
        elif digits.startswith("00"):
            full = digits[2:]
        elif digits.startswith("0"):
            full = self.country_code + digits[1:]
        elif len(digits) == len(self.country_code) + self.national_digits and digits.startswith(
            self.country_code
        ):
            full = digits
        else:
            full = self.country_code + digits
        if not 8 <= len(full) <= 15 or full.startswith("0"):
            return ""
        return "+" + full

    def _separated(self, text: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """:meth:`one` over stripped values, vectorised where only common separators are in the way."""
        digits = text
        for char in _SEPARATORS:
            digits = np.strings.replace(digits, char, "")
        # one() drops every non-digit; where only these separators stood between the digits (left
        # decimal digits, which is what ``\D`` keeps) its rules apply column-wise, else per value
        simple = np.strings.isdecimal(digits)
        cc = self.country_code
        n_digits = np.strings.str_len(digits)
        full = np.where(
            np.strings.startswith(text, "+"),
            digits,
            np.where(
                np.strings.startswith(digits, "00"),
                np.strings.slice(digits, 2, None),
                np.where(
                    np.strings.startswith(digits, "0"),
                    np.strings.add(cc, np.strings.slice(digits, 1, None)),
                    np.where(
                        (n_digits == len(cc) + self.national_digits) & np.strings.startswith(digits, cc),
                        digits,
                        np.strings.add(cc, digits),
                    ),
                ),
            ),
        ).astype(STRING_DTYPE)
        n_full = np.strings.str_len(full)
        valid = (n_full >= 8) & (n_full <= 15) & ~np.strings.startswith(full, "0")
        out = np.where(valid, np.strings.add("+", full), "").astype(STRING_DTYPE)
        odd = np.flatnonzero(~simple)
        if odd.size:
            out[odd] = _per_unique(text[odd], self.one)
        return out

    def __call__(self, values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        text = np.strings.strip(np.asarray(values).astype(STRING_DTYPE, copy=False))
        # fast path: a bare national number (the common case) just gains the country code
        plain = (
            np.strings.isdecimal(text)  # what one() keeps: "²" is a digit but not a decimal digit
            & (np.strings.str_len(text) == self.national_digits)
            & ~np.strings.startswith(text, "0")
        )
        out = np.empty(text.size, dtype=STRING_DTYPE)
        out[plain] = np.strings.add("+" + self.country_code, text[plain])
        rest = np.flatnonzero(~plain)
        if rest.size:
            out[rest] = self._separated(text[rest])
        # the fast path must agree with one(): E.164 allows at most 15 digits
        if len(self.country_code) + self.national_digits > 15:
            out[plain] = ""
        return out


@attrs.frozen
class EmailNormalizer:
    """E-mail addresses trimmed and lower-cased; values without one ``@`` are invalid.

    Examples
    --------
    >>> EmailNormalizer()(np.array([" Li.Wei@Example.COM ", "not-an-email"]))
    array(['li.wei@example.com', ''], dtype=StringDType())
    """

    def one(self, raw: str) -> str:
        """Normalise one value."""
        text = raw.strip().lower()
        local, at, domain = text.partition("@")
        if not at or not local or "." not in domain or "@" in domain or " " in text:
            return ""
        return text

    def __call__(self, values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        text = np.strings.lower(np.strings.strip(np.asarray(values).astype(STRING_DTYPE, copy=False)))
        at = np.strings.find(text, "@")
        valid = (
            (at > 0)
            & (np.strings.rfind(text, "@") == at)
            & (np.strings.find(text, ".", at) > at)
            & (np.strings.find(text, " ") < 0)
        )
        return np.where(valid, text, np.array("", dtype=STRING_DTYPE)).astype(STRING_DTYPE)


@attrs.frozen(kw_only=True)
class TextNormalizer:
    """Generic identifiers (member cards, open ids, device ids): trimmed, optionally case-folded.

    Parameters
    ----------
    case
        ``"upper"``, ``"lower"`` or ``"keep"``.
    remove
        Characters deleted everywhere (e.g. ``" -"`` for card numbers printed with separators).

    Examples
    --------
    >>> TextNormalizer(case="upper", remove=" -")(np.array(["mc-0001 ", "MC 0001"]))
    array(['MC0001', 'MC0001'], dtype=StringDType())
    """

    case: str = attrs.field(default="keep", validator=attrs.validators.in_(("upper", "lower", "keep")))
    remove: str = ""

    def one(self, raw: str) -> str:
        """Normalise one value."""
        text = _SPACES.sub(" ", raw.strip())
        for char in self.remove:
            text = text.replace(char, "")
        if self.case == "upper":
            return text.upper()
        if self.case == "lower":
            return text.lower()
        return text

    def __call__(self, values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        text = np.strings.strip(np.asarray(values).astype(STRING_DTYPE, copy=False))
        # inner whitespace other than single spaces is rare: only those values take the per-value
        # path. Letters and digits only (most identifiers) have none; of the rest, every whitespace
        # character but " " (tab, CR, ideographic space U+3000, no-break space...) is unprintable.
        rows = np.flatnonzero(~np.strings.isalnum(text))
        if rows.size:
            irregular = np.fromiter(
                (not v.isprintable() or "  " in v for v in text[rows].tolist()), dtype=bool, count=rows.size
            )
            odd = rows[irregular]
            if odd.size:
                text = text.copy()
                text[odd] = _per_unique(text[odd], lambda v: _SPACES.sub(" ", v))
        for char in self.remove:
            text = np.strings.replace(text, char, "")
        if self.case == "upper":
            return np.strings.upper(text)
        if self.case == "lower":
            return np.strings.lower(text)
        return text


def normalize_values(
    id_type: npt.NDArray[Any],
    value: npt.NDArray[Any],
    normalizers: Mapping[str, Normalizer],
    *,
    default: Normalizer | None = None,
) -> npt.NDArray[Any]:
    """Normalise a value column type by type.

    Parameters
    ----------
    id_type, value
        Parallel text columns.
    normalizers
        Normaliser per identifier type.
    default
        Normaliser for types not in ``normalizers`` (trimming only when None).

    Returns
    -------
    numpy.ndarray
        Normalised values (``StringDType``), ``""`` where invalid.

    Examples
    --------
    >>> normalize_values(
    ...     np.array(["phone", "email"]), np.array(["13912345678", "A@B.CN"]),
    ...     {"phone": PhoneNormalizer(), "email": EmailNormalizer()},
    ... ).tolist()
    ['+8613912345678', 'a@b.cn']
    """
    types = np.asarray(id_type).astype(STRING_DTYPE, copy=False)
    values = np.asarray(value).astype(STRING_DTYPE, copy=False)
    out = np.empty(values.size, dtype=STRING_DTYPE)
    fallback: Normalizer = default if default is not None else TextNormalizer()
    if values.size == 0:
        return out
    type_uniques, type_codes = factorize(types)  # a few types: one comparison per type, no sort
    for code, name in enumerate(type_uniques.tolist()):
        rows = np.flatnonzero(type_codes == code)
        normalizer = normalizers.get(str(name), fallback)
        result = np.asarray(normalizer(values[rows]))
        if result.shape != rows.shape:
            raise ValidationError("normaliser changed the number of values", field=f"normalizers.{name}")
        out[rows] = result.astype(STRING_DTYPE, copy=False)
    return out


def pseudonymize(id_type: npt.NDArray[Any], value: npt.NDArray[Any], key: bytes) -> npt.NDArray[Any]:
    """Keyed hash (HMAC-SHA256) of each (type, value), as 64 hex characters.

    The hash covers the type too, so the same text under two types gives two pseudonyms. Empty
    values stay empty. Hash normalised values, so that equal identifiers get equal pseudonyms.

    Parameters
    ----------
    id_type, value
        Parallel text columns.
    key
        The tenant's secret key (at least 16 bytes). Keep it outside the store: with the key, a
        pseudonym can be recomputed from a known identifier; without it, it cannot.

    Returns
    -------
    numpy.ndarray
        Hex digests (``StringDType``).

    Raises
    ------
    ValidationError
        If the key is shorter than 16 bytes.

    Examples
    --------
    >>> out = pseudonymize(np.array(["phone"]), np.array(["+8613912345678"]), b"0123456789abcdef")
    >>> len(out[0])
    64

    References
    ----------
    .. [1] Krawczyk, Bellare and Canetti, "HMAC: Keyed-Hashing for Message Authentication",
       RFC 2104, 1997. https://doi.org/10.17487/RFC2104
    """
    if not isinstance(key, bytes) or len(key) < 16:
        raise ValidationError("the pseudonymisation key must be at least 16 bytes", field="key")
    types = np.asarray(id_type).astype(STRING_DTYPE, copy=False)
    values = np.asarray(value).astype(STRING_DTYPE, copy=False)
    if values.size == 0:
        return np.empty(0, dtype=STRING_DTYPE)
    joined = np.strings.add(np.strings.add(types, "\x1f"), values)
    uniques, _, codes, _ = unique_text_full(joined)
    digests = [
        "" if text.endswith("\x1f") else hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
        for text in uniques.tolist()
    ]
    return np.array(digests, dtype=STRING_DTYPE)[codes.reshape(-1)]
