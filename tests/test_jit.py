import numpy as np

from omnicore._jit import jit


@jit
def _running_max(values: np.ndarray) -> np.ndarray:
    out = np.empty_like(values)
    best = -np.inf
    for i in range(values.shape[0]):
        best = max(best, values[i])
        out[i] = best
    return out


def test_jit_compiles_a_loop_and_matches_numpy() -> None:
    values = np.random.default_rng(0).normal(size=1000)
    np.testing.assert_array_equal(_running_max(values), np.maximum.accumulate(values))
