"""Calibration and evaluation data: ``.npy`` (one input), ``.npz`` (one array per input name, ``x`` for a
one-input model; optional ``y`` labels) or a folder of images (one image input; optionally one sub-folder per
class). A streaming model's data inputs are sequences ``(N, T, *frame)``. Checked against the model's
inputs, seeded, hashed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.errors import CalibrationError
from edgekit.hashing import sha256_array
from edgekit.models.base import TensorSpec
from edgekit.models.feed import Feed, Stream
from edgekit.options import RANDOM
from edgekit.options.image import ImageOptions
from edgekit.quantize.images import IMAGE_SUFFIXES, load_images

__all__ = ["IMAGE_SUFFIXES", "RANDOM", "Dataset", "load_data", "random_data", "split"]
RANDOM_FRAMES = 8  # frames per random sequence of a streaming model


@dataclass
class Dataset:
    inputs: dict[str, np.ndarray]  # float32, one per data input in model order: (N, *sample) or (N, T, *frame)
    y: np.ndarray | None  # (N,) labels; a streaming model's may be per frame (N, T)
    source: str
    kind: str  # "npy" | "npz" | "images" | "random"
    classes: list[str] | None = None
    stream: Stream | None = None

    def __len__(self) -> int:
        return len(next(iter(self.inputs.values())))

    @property
    def x(self):
        """The one input's array; for several inputs or a streaming model, a :class:`Feed` (a list)."""
        if len(self.inputs) == 1 and self.stream is None:
            return next(iter(self.inputs.values()))
        return Feed(list(self.inputs.values()), list(self.inputs), self.stream)

    @property
    def sha256(self) -> str:
        if len(self.inputs) == 1 and self.stream is None:
            return sha256_array(self.x)
        h = hashlib.sha256()
        for name, a in self.inputs.items():
            h.update(f"{name}:{sha256_array(a)};".encode())
        return h.hexdigest()

    def take(self, idx: np.ndarray) -> Dataset:
        return Dataset({k: v[idx] for k, v in self.inputs.items()}, None if self.y is None else self.y[idx],
                       self.source, self.kind, self.classes, self.stream)


def _specs(spec) -> list[TensorSpec]:
    return [spec] if isinstance(spec, TensorSpec) else list(spec)


def _load_arrays(path: Path) -> tuple[dict[str, np.ndarray], str]:
    try:
        if path.suffix == ".npy":
            x = np.load(path, allow_pickle=False)
            if not isinstance(x, np.ndarray):  # an .npz archive named .npy
                x.close()
                raise CalibrationError(f"{path}: named .npy but holds an .npz archive; rename it to .npz")
            return {"x": x}, "npy"
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}, "npz"
    except CalibrationError:
        raise
    except Exception as exc:
        if "allow_pickle" in str(exc):  # numpy's advice would be to run code from the file: never
            raise CalibrationError(
                f"{path}: holds Python objects (a pickle), which edgekit never loads: they can run code. "
                "Save plain numeric arrays with np.save / np.savez"
            ) from None
        raise CalibrationError(f"{path}: cannot read this array file ({type(exc).__name__}: {exc})") from None


def _pick(arrays: dict[str, np.ndarray], specs: list[TensorSpec], path: Path, describe: str) -> dict[str, np.ndarray]:
    """One array per input: named after it, or ``x`` for a one-input model."""
    if len(specs) == 1 and specs[0].name not in arrays and "x" in arrays:
        return {specs[0].name: arrays["x"]}
    missing = [s.name for s in specs if s.name not in arrays]
    if missing:
        need = "an array named 'x' (inputs)" if len(specs) == 1 else "one array named after each input"
        raise CalibrationError(
            f"{path}: no array for input {', '.join(map(repr, missing))}: an .npz needs {need} and optionally 'y' "
            f"(labels); it has: {', '.join(arrays) or 'nothing'}. Save it with np.savez(path, "
            f"{', '.join(('x' if len(specs) == 1 else s.name) + '=...' for s in specs)}, y=...)"
            + (f"; {describe}" if describe else "")
        )
    return {s.name: arrays[s.name] for s in specs}


def _check_x(x: np.ndarray, spec: TensorSpec, origin: str, stream: bool) -> np.ndarray:
    if x.size == 0 or x.ndim == 0 or len(x) == 0:
        raise CalibrationError(f"{origin}: holds no samples; provide at least one")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise CalibrationError(f"{origin}: inputs have dtype {x.dtype}; expected numbers (float32)")
    want = spec.sample_shape
    got = x.shape[2:] if stream else x.shape[1:]
    if (stream and x.ndim < 2) or len(got) != len(want) or any(w is not None and w != g for w, g in zip(want, got)):
        shown = tuple("?" if d is None else d for d in want)
        what = f"sequences (N, T, *{shown}) of frames" if stream else f"{shown} per sample"
        raise CalibrationError(
            f"{origin}: samples have shape {tuple(x.shape[1:])} but the model's input {spec.name!r} takes {what} "
            f"(full input shape {spec.shape}). Reshape or resize the data to the model's input"
        )
    x = x.astype(np.float32, copy=False)
    finite = np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise CalibrationError(
            f"{origin}: {len(bad)} sample(s) contain NaN or Inf (first at index {bad[0]}); clean the data"
        )
    return x


def _check_y(y, n: int, frames: int | None, origin: str) -> np.ndarray | None:
    if y is None:
        return None
    y = np.asarray(y)
    if frames is not None and y.shape[:2] == (n, frames):  # per-frame labels of a streaming model
        return (y.argmax(-1) if y.ndim == 3 and y.shape[2] > 1 else y.reshape(n, frames)).astype(np.int64)
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)  # one-hot labels
    y = y.reshape(-1)
    if len(y) != n:
        raise CalibrationError(f"{origin}: {len(y)} labels for {n} samples; 'y' must have one per sample")
    return y


def _check(inputs: dict[str, np.ndarray], specs: list[TensorSpec], y, origin: str, stream: Stream | None,
           describe: str) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    multi = len(specs) > 1
    out = {s.name: _check_x(inputs[s.name], s, f"{origin}[{s.name}]" if multi else origin, stream is not None)
           for s in specs}
    counts = {k: len(v) for k, v in out.items()}
    if len(set(counts.values())) > 1:
        raise CalibrationError(f"{origin}: the inputs' arrays hold different numbers of samples {counts}; give "
                               f"each input one array of N samples. {describe}")
    frames = None
    if stream is not None:
        ts = {k: v.shape[1] for k, v in out.items()}
        if len(set(ts.values())) > 1:
            raise CalibrationError(f"{origin}: sequences of unequal length T {ts}: every streaming input needs "
                                   f"(N, T, *frame) arrays with one T. {describe}")
        frames = next(iter(ts.values()))
    return out, _check_y(y, next(iter(counts.values())), frames, origin)


def load_data(source: str | Path, spec, images: ImageOptions | None = None, *, stream: Stream | None = None,
              describe: str = "") -> Dataset:
    """Load calibration/evaluation data and check it against the model's data inputs ``spec`` (one
    TensorSpec, or one per input); ``stream``: a streaming model (sequences); ``describe``: the model's
    inputs and outputs, for messages."""
    path, specs = Path(source), _specs(spec)
    if not path.exists():
        raise CalibrationError(f"{path}: no such file or folder")
    if path.is_dir():
        return _images(path, specs, images or ImageOptions(), stream, describe)
    if path.suffix not in (".npy", ".npz"):
        raise CalibrationError(f"{path}: calibration data must be .npy, .npz or a folder of images")
    arrays, kind = _load_arrays(path)
    if kind == "npy" and len(specs) > 1:
        raise CalibrationError(f"{path}: an .npy holds one array, but the model has {len(specs)} data inputs: "
                               f"save an .npz with one array per input name; {describe}")
    inputs, y = _check(_pick(arrays, specs, path, describe), specs, arrays.get("y"), str(path), stream, describe)
    return Dataset(inputs, y, str(path), kind, stream=stream)


def _images(folder: Path, specs: list[TensorSpec], opts: ImageOptions, stream, describe: str) -> Dataset:
    if len(specs) != 1 or stream is not None:
        raise CalibrationError(
            f"{folder}: a folder of images feeds one image input, but the model has "
            f"{'a streaming input' if stream is not None else f'{len(specs)} data inputs'}; pass an .npz with one "
            f"array per input name instead. {describe}"
        )
    x, y, classes = load_images(folder, specs[0], opts)
    inputs, y = _check({specs[0].name: x}, specs, y, str(folder), None, describe)
    return Dataset(inputs, y, str(folder), "images", classes)


def random_data(spec, n: int, seed: int, low: float = 0.0, high: float = 1.0, *,
                stream: Stream | None = None) -> Dataset:
    """Seeded uniform noise in the model's input shapes (sequences of RANDOM_FRAMES for a streaming model).
    Only for explicit ``--calibration random`` or for validating when the user gave no data at all."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for s in _specs(spec):
        shape = tuple(1 if d is None else d for d in s.sample_shape)
        lead = (n, RANDOM_FRAMES) if stream is not None else (n,)
        inputs[s.name] = rng.uniform(low, high, size=(*lead, *shape)).astype(np.float32)
    return Dataset(inputs, None, f"random uniform [{low}, {high}) seed={seed}", RANDOM, stream=stream)


def split(ds: Dataset, n_calib: int, seed: int, holdout: bool) -> tuple[Dataset, Dataset | None]:
    """Seeded split: up to ``n_calib`` calibration samples and, when ``holdout``, a disjoint held-out set
    (a fifth of the data, at most 500 samples) for validation. A streaming model's samples are sequences."""
    if n_calib < 1:
        raise CalibrationError("--calibration-samples must be at least 1")
    perm = np.random.default_rng(seed).permutation(len(ds))
    held = None
    if holdout and len(ds) >= 2:
        n_hold = min(500, max(1, len(ds) // 5))
        held = ds.take(np.sort(perm[:n_hold]))
        perm = perm[n_hold:]
    return ds.take(perm[:n_calib]), held
