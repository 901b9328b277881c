"""Run a script twice, compiled and as plain Python (``NUMBA_DISABLE_JIT=1``), for parity tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")


def outputs_with_and_without_jit(code: str) -> tuple[str, str]:
    """The standard output of ``code`` run compiled, then with the kernels as plain Python.

    Each run is a fresh interpreter: numba reads ``NUMBA_DISABLE_JIT`` once, at import.
    """
    outputs = []
    for disable in ("0", "1"):
        env = {**os.environ, "NUMBA_DISABLE_JIT": disable, "PYTHONPATH": SRC}
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        outputs.append(done.stdout)
    return outputs[0], outputs[1]
