import os
import subprocess
import sys
from pathlib import Path

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


@jit
def _clipped(value: float) -> float:
    return min(max(value, 0.0), 1.0)


@jit
def _clipped_sum(values: np.ndarray) -> float:
    total = 0.0
    for i in range(values.shape[0]):
        total += _clipped(values[i])
    return total


def test_a_kernel_calls_another_kernel() -> None:
    values = np.array([-1.0, 0.25, 0.5, 3.0])
    assert _clipped_sum(values) == 1.0 + 0.25 + 0.5


def test_importing_omnicore_does_not_import_numba() -> None:
    # numba costs about half a second to import; it is loaded on the first kernel call instead.
    code = (
        "import sys, omnicore, omnicore.allocation, omnicore.campaigns, omnicore.identity, omnicore.ltv, "
        "omnicore.rfm; print('numba' in sys.modules)"
    )
    src = Path(__file__).resolve().parents[1] / "src"
    env = {**os.environ, "PYTHONPATH": str(src)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
