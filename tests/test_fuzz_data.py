"""Property-based fuzzing of calibration/evaluation data loading: .npy/.npz of every dtype and shape, pickles,
NaN/Inf, mutated bytes of valid files, and image folders of garbage or truncated images. Only a Dataset or a
CalibrationError (an EdgekitError), never another exception; the data folder is never written to."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzz_targets as ft
from edgekit.models.base import TensorSpec
from edgekit.quantize.calibration import ImageOptions, load_data

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SPEC = TensorSpec("x", (None, 8, 8, 1))
SPEC_RGB = TensorSpec("x", (None, 8, 8, 3))
VALID_NPY = ft.npy_bytes(np.linspace(0, 1, 2 * 64, dtype=np.float32).reshape(2, 8, 8, 1))
VALID_NPZ = ft.npz_bytes(x=np.zeros((3, 8, 8, 1), np.float32), y=np.arange(3))
IMAGES = ft.image_seeds()


def _dir(tmp_path: Path) -> Path:
    return Path(tempfile.mkdtemp(dir=tmp_path))


def _load(path: Path, spec=SPEC, images=None) -> str:
    return ft.outcome(load_data, path, spec, images, watch=path.parent if path.is_file() else path)


@FUZZ
@given(x=ft.arrays(), y=st.one_of(st.none(), ft.arrays()), as_npz=st.booleans(), pickle=st.booleans())
def test_fuzz_arrays(tmp_path, x, y, as_npz, pickle):
    d = _dir(tmp_path)
    if as_npz:
        p = d / "c.npz"
        arrays = {"x": x} if y is None else {"x": x, "y": y}
        np.savez(p, **arrays) if pickle or x.dtype != object and (y is None or y.dtype != object) else np.savez(p, x=np.zeros(1))
    else:
        p = d / "c.npy"
        p.write_bytes(ft.npy_bytes(x, pickle=True) if x.dtype == object else ft.npy_bytes(x))
    _load(p)


@FUZZ
@given(data=st.one_of(ft.mutated(VALID_NPY), ft.mutated(VALID_NPZ)), suffix=st.sampled_from([".npy", ".npz"]))
def test_fuzz_array_bytes(tmp_path, data, suffix):
    p = _dir(tmp_path) / f"c{suffix}"
    p.write_bytes(data)
    _load(p)


@FUZZ
@given(files=st.lists(st.tuples(st.sampled_from(sorted(IMAGES)), st.booleans(), st.sampled_from(["", "cat", "dog"])),
                      min_size=1, max_size=3), data=st.data(), rgb=st.booleans(),
       size=st.sampled_from([None, (8, 8), (1, 3)]))
def test_fuzz_image_folders(tmp_path, files, data, rgb, size):
    d = _dir(tmp_path)
    for i, (suffix, corrupt, sub) in enumerate(files):
        seed = IMAGES[suffix]
        content = data.draw(ft.mutated(seed, max_ops=2)) if corrupt else seed
        (d / sub).mkdir(exist_ok=True)
        (d / sub / f"img{i}{suffix}").write_bytes(content)
    _load(d, SPEC_RGB if rgb else SPEC, ImageOptions(size=size))
