"""Shared fixtures: real models trained once per session on real data (no mocks of any runtime)."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="session")
def example(tmp_path_factory):
    """The built-in example: digits CNN trained for real, with train.npz / test.npz beside it."""
    from edgekit.example import make_example

    return make_example(tmp_path_factory.mktemp("example"), seed=0, epochs=12)


def _idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


@pytest.fixture(scope="session")
def fashion():
    """Real Fashion-MNIST (Debian's dataset-fashion-mnist): ((x_train, y_train), (x_test, y_test)), uint8."""
    if not FASHION.is_dir():
        pytest.skip("Debian package dataset-fashion-mnist is not installed (run .ci/setup)")
    return (
        (_idx(FASHION / "train-images-idx3-ubyte.gz"), _idx(FASHION / "train-labels-idx1-ubyte.gz")),
        (_idx(FASHION / "t10k-images-idx3-ubyte.gz"), _idx(FASHION / "t10k-labels-idx1-ubyte.gz")),
    )


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real console entry point in a subprocess (exit codes and stdout as a user sees them)."""
    return subprocess.run(
        [sys.executable, "-m", "edgekit", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
