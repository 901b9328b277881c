import hashlib
import hmac

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnicore import ValidationError
from omnicore.identity import EmailNormalizer, PhoneNormalizer, TextNormalizer, normalize_values, pseudonymize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13912345678", "+8613912345678"),
        ("139 1234 5678", "+8613912345678"),
        ("+86 139-1234-5678", "+8613912345678"),
        ("008613912345678", "+8613912345678"),
        ("8613912345678", "+8613912345678"),
        ("(0755) 2990 2647", "+8675529902647"),
        ("+1 (415) 555-0100", "+14155550100"),
        ("12", ""),
        ("", ""),
        ("+123456789012345678", ""),
    ],
)
def test_phone_e164(raw, expected):
    assert PhoneNormalizer()(np.array([raw]))[0] == expected


def test_phone_other_default_country():
    us = PhoneNormalizer(country_code="1", national_digits=10)
    assert us(np.array(["(415) 555-0100", "14155550100"])).tolist() == ["+14155550100"] * 2
    with pytest.raises(ValidationError):
        PhoneNormalizer(country_code="086")


@given(st.text(alphabet="0123456789 -+()", max_size=20))
def test_phone_idempotent(raw):
    once = PhoneNormalizer()(np.array([raw]))
    twice = PhoneNormalizer()(once)
    assert once[0] == "" or twice[0] == once[0]


def test_email_and_text():
    assert EmailNormalizer()(np.array([" A.B@Example.COM", "x@y", "@b.com", "a b@c.com"])).tolist() == [
        "a.b@example.com",
        "",
        "",
        "",
    ]
    assert TextNormalizer(case="upper", remove="-")(np.array([" mc-01  ", "MC01"])).tolist() == [
        "MC01",
        "MC01",
    ]


def test_normalize_values_by_type_keeps_length():
    types = np.array(["phone", "email", "card", "phone"])
    values = np.array(["13912345678", "A@B.CN", " x ", "bad"])
    out = normalize_values(types, values, {"phone": PhoneNormalizer(), "email": EmailNormalizer()})
    assert out.tolist() == ["+8613912345678", "a@b.cn", "x", ""]


def test_pseudonymize_is_hmac_sha256_of_type_and_value():
    key = b"k" * 32
    out = pseudonymize(np.array(["phone", "email", "phone"]), np.array(["+861", "+861", ""]), key)
    expected = hmac.new(key, b"phone\x1f+861", hashlib.sha256).hexdigest()
    assert out[0] == expected
    assert out[1] != out[0]  # the type is part of the hash
    assert out[2] == ""
    with pytest.raises(ValidationError):
        pseudonymize(np.array(["phone"]), np.array(["x"]), b"short")


@given(
    st.lists(
        st.text(alphabet="0123456789 -+()abc@./\t\r\n\u3000\u00a0\u200b\u0663\u00b2", max_size=16),
        max_size=30,
    )
)
def test_vectorised_paths_agree_with_one_value_rules(values):
    array = (
        np.array(values, dtype=object).astype(np.dtypes.StringDType()) if values else np.array([], dtype=str)
    )
    for normalizer in (PhoneNormalizer(), EmailNormalizer(), TextNormalizer(case="upper", remove=" -")):
        expected = [normalizer.one(v) for v in values]
        assert normalizer(array).tolist() == expected


@pytest.mark.parametrize(("country_code", "national_digits"), [("86", 11), ("1", 10), ("44", 10)])
@given(values=st.lists(st.text(alphabet="0123456789 -+()./\t\u0663\u00b2x", max_size=16), max_size=30))
def test_phone_separators_vectorised_like_one(country_code, national_digits, values):
    # arabic-indic three is a decimal digit (kept), superscript two only a digit (dropped), as in one()
    normalizer = PhoneNormalizer(country_code=country_code, national_digits=national_digits)
    array = np.array(values, dtype=object).astype(np.dtypes.StringDType()) if values else np.array([], str)
    assert normalizer(array).tolist() == [normalizer.one(v) for v in values]


def test_phone_superscript_digit_is_dropped_as_in_one():
    # "²".isdigit() is True but it is no decimal digit: one() drops it, so must the fast path
    normalizer = PhoneNormalizer(country_code="1", national_digits=10)
    raw = "968470\u00b2782"
    assert normalizer(np.array([raw], dtype=np.dtypes.StringDType())).tolist() == [normalizer.one(raw)]
    assert normalizer.one(raw) == "+1968470782"


def test_text_inner_whitespace_of_any_kind_collapses_as_in_one():
    # ideographic (U+3000) and no-break spaces, CR and tabs inside a value: one space, then removed
    normalizer = TextNormalizer(case="upper", remove=" -")
    raw = ["mc\u30000001", "mc\xa00001", "mc\r0001", "mc \t 0001", "mc-0001"]
    out = normalizer(np.array(raw, dtype=np.dtypes.StringDType())).tolist()
    assert out == [normalizer.one(v) for v in raw] == ["MC0001"] * 5
