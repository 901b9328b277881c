"""Hypothesis strategies shared by the rfm tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# Small value sets make ties common, which is where ranking goes wrong.
tied_floats = hnp.arrays(
    np.float64,
    st.integers(1, 60),
    elements=st.sampled_from([0.0, 1.0, 1.5, 2.0, 7.25, 30.0, 365.0, 1e6]),
)
any_floats = hnp.arrays(
    np.float64, st.integers(1, 60), elements=st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False)
)
small_ints = hnp.arrays(np.int64, st.integers(1, 60), elements=st.integers(0, 12))
wide_ints = hnp.arrays(np.int64, st.integers(1, 60), elements=st.integers(-(2**40), 2**40))
columns = st.one_of(tied_floats, any_floats, small_ints, wide_ints)
bins = st.integers(1, 10)


@st.composite
def rfm_inputs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Recency days, frequency and monetary columns of one length, with many ties."""
    n = draw(st.integers(1, 50))
    recency = draw(hnp.arrays(np.float64, n, elements=st.sampled_from([0.5, 1.0, 3.0, 10.0, 90.0, 400.0])))
    frequency = draw(hnp.arrays(np.int64, n, elements=st.integers(1, 6)))
    monetary = draw(
        hnp.arrays(np.float64, n, elements=st.floats(0, 1000, allow_nan=False).map(lambda x: round(x, 1)))
    )
    return recency, frequency, monetary
