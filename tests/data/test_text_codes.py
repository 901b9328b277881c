"""Dictionary codes of text columns: computed on construction from fixed-width input, carried by take."""

from __future__ import annotations

import gc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnicore import ValidationError
from omnicore.data import STRING_DTYPE, Events
from omnicore.data import _text_codes as tc
from tests.jit_parity import outputs_with_and_without_jit


@pytest.fixture
def encode_small(monkeypatch: pytest.MonkeyPatch) -> None:
    """Code columns of any length (the default threshold would need 65,536 rows per test)."""
    monkeypatch.setattr(tc, "ENCODE_MIN_ROWS", 1)


def _events(event_type: object, **properties: object) -> Events:
    n = len(event_type)  # type: ignore[arg-type]
    return Events(
        customer_id=np.arange(n),
        event_type=event_type,
        timestamp=np.full(n, np.datetime64("2024-06-01", "us")),
        properties=properties,
    )


def _assert_codes_of(column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hit = tc.text_codes(column)
    assert hit is not None
    uniques, codes = hit
    assert uniques.dtype == STRING_DTYPE
    assert np.unique(uniques).size == uniques.size  # distinct
    assert (uniques[codes] == column).all()
    return uniques, codes


text = st.text(alphabet=st.sampled_from("ab c\x00é防晒"), max_size=6)


@given(values=st.lists(text, min_size=1, max_size=60))
def test_codes_reproduce_the_column_and_equal_values_share_a_code(values: list[str]) -> None:
    source = np.array(values)  # fixed-width '<U'; numpy drops trailing NULs, as StringDType does
    column = source.astype(STRING_DTYPE)
    original = tc.ENCODE_MIN_ROWS
    tc.ENCODE_MIN_ROWS = 1
    try:
        tc.encode_fixed_width(source, column)
    finally:
        tc.ENCODE_MIN_ROWS = original
    uniques, codes = _assert_codes_of(column)
    assert codes.tolist() == [uniques.tolist().index(v) for v in column.tolist()]
    assert uniques.tolist() == list(dict.fromkeys(column.tolist()))  # order of first appearance


def test_bytes_of_any_width_are_coded(encode_small: None) -> None:
    source = np.array([b"abc", b"abcde", b"abc", b"x"])  # S5: not a whole number of words
    column = source.astype(STRING_DTYPE)
    tc.encode_fixed_width(source, column)
    _, codes = _assert_codes_of(column)
    assert codes.tolist() == [0, 1, 0, 2]


def test_events_built_from_fixed_width_text_keep_codes(encode_small: None) -> None:
    ev = _events(np.array(["browse", "buy", "browse"]), category=np.array(["a", "b", "b"]), price=[1.0, 2, 3])
    _, type_codes = _assert_codes_of(ev.event_type)
    _, cat_codes = _assert_codes_of(ev.properties["category"])
    assert type_codes.tolist() == [0, 1, 0]
    assert cat_codes.tolist() == [0, 1, 1]
    assert tc.text_codes(ev.customer_id) is None  # ids are not coded


def test_small_wide_and_already_converted_columns_are_not_coded() -> None:
    assert tc.text_codes(_events(np.array(["browse", "buy"])).event_type) is None  # below the threshold
    n = tc.ENCODE_MIN_ROWS
    wide = np.full(n, "x" * (tc.ENCODE_MAX_BYTES // 4 + 1))
    assert tc.text_codes(_events(np.full(n, "browse"), text=wide).properties["text"]) is None
    assert tc.text_codes(_events(np.full(n, "browse").astype(STRING_DTYPE)).event_type) is None
    assert tc.text_codes(_events(np.full(n, "browse")).event_type) is not None


def test_take_carries_codes_to_the_rows_taken(encode_small: None) -> None:
    ev = _events(np.array(["a", "b", "c", "a"]), category=np.array(["x", "y", "x", "z"]))
    for index in (np.array([3, 1, 1]), np.array([True, False, False, True]), np.array([], dtype=np.intp)):
        taken = ev.take(index)
        uniques, _ = _assert_codes_of(taken.event_type)
        assert uniques.tolist() == ["a", "b", "c"]  # the parent's values, some of them not held
        _assert_codes_of(taken.properties["category"])
    rebuilt = Events(customer_id=ev.customer_id, event_type=ev.event_type, timestamp=ev.timestamp)
    _assert_codes_of(rebuilt.event_type)  # a coded column handed to a new container stays coded


def test_blank_event_type_is_still_reported_with_its_row(encode_small: None) -> None:
    with pytest.raises(ValidationError) as info:
        _events(np.array(["browse", " ", "buy", " "]))
    assert info.value.field == "event_type"
    assert info.value.row == 1


def test_codes_are_forgotten_with_their_column(encode_small: None) -> None:
    gc.collect()
    before = len(tc._registry)
    ev = _events(np.array(["a", "b"]), category=np.array(["x", "y"]))
    assert len(tc._registry) > before
    del ev
    gc.collect()
    assert len(tc._registry) == before


def test_factorize_words_is_the_same_compiled_and_interpreted() -> None:
    code = """
import numpy as np
from omnicore.data._text_codes import factorize_words
rng = np.random.default_rng(3)
words = rng.integers(0, 3, (5000, 3)).astype(np.uint32)  # 27 distinct rows: the table grows
wide = rng.integers(0, 2**63, (2000, 2)).astype(np.uint64)[rng.integers(0, 2000, 5000)]
for raw in (words, wide):
    codes, firsts = factorize_words(raw)
    print(codes.tolist(), firsts.tolist())
    assert (raw[firsts][codes] == raw).all()
    assert np.unique(raw, axis=0).shape[0] == firsts.size
"""
    compiled, interpreted = outputs_with_and_without_jit(code)
    assert compiled == interpreted


def _frame_events(library: str, with_missing: bool) -> Events:
    types = ["browse", "buy", "browse", "chat"]
    category = ["baby", None if with_missing else "food", "baby", "toys"]
    data = {"customer_id": [1, 2, 1, 3], "event_type": types, "timestamp": ["2024-06-01"] * 4}
    if library == "pandas":
        pd = pytest.importorskip("pandas")
        frame = pd.DataFrame(data).astype({"event_type": "category"})
        frame["category"] = pd.Categorical(category)
        frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    elif library == "pyarrow":
        pa = pytest.importorskip("pyarrow")
        chunks = pa.chunked_array([pa.array(types[:2]), pa.array(types[2:])])  # two dictionaries to unify
        frame = pa.table(
            {
                "customer_id": data["customer_id"],
                "event_type": chunks.dictionary_encode(),
                "timestamp": pa.array(np.array(data["timestamp"], dtype="datetime64[us]")),
                "category": pa.array(category).dictionary_encode(),
            }
        )
    else:
        pl = pytest.importorskip("polars")
        pytest.importorskip("pyarrow")
        frame = pl.DataFrame(
            {
                "customer_id": data["customer_id"],
                "event_type": pl.Series(types, dtype=pl.Categorical),
                "timestamp": np.array(data["timestamp"], dtype="datetime64[us]"),
                "category": pl.Series(category, dtype=pl.Enum(["toys", "food", "baby"])),
            }
        )
    return Events.from_frame(frame)


@pytest.mark.parametrize("library", ["pandas", "pyarrow", "polars"])
def test_categorical_and_dictionary_columns_keep_their_codes(library: str) -> None:
    ev = _frame_events(library, with_missing=False)
    expected = Events(
        customer_id=[1, 2, 1, 3],
        event_type=["browse", "buy", "browse", "chat"],
        timestamp=["2024-06-01"] * 4,
        properties={"category": ["baby", "food", "baby", "toys"]},
    )
    assert ev == expected
    _assert_codes_of(ev.event_type)
    _assert_codes_of(ev.properties["category"])
    with_missing = _frame_events(library, with_missing=True)  # a missing value: the general path
    assert with_missing.properties["category"].tolist() == ["baby", "", "baby", "toys"]
    assert tc.text_codes(with_missing.properties["category"]) is None
