"""Calibration and evaluation data: ``.npy`` (inputs), ``.npz`` (``x``, optional ``y``) or a folder of
images (optionally one sub-folder per class). Checked against the model's input, seeded, hashed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.errors import CalibrationError
from edgekit.hashing import sha256_array
from edgekit.models.base import TensorSpec
from edgekit.options import RANDOM
from edgekit.options.image import ImageOptions

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".pgm", ".ppm"}


@dataclass
class Dataset:
    x: np.ndarray  # float32, (N, *sample_shape)
    y: np.ndarray | None
    source: str
    kind: str  # "npy" | "npz" | "images" | "random"
    classes: list[str] | None = None

    def __len__(self) -> int:
        return len(self.x)

    @property
    def sha256(self) -> str:
        return sha256_array(self.x)

    def take(self, idx: np.ndarray) -> Dataset:
        return Dataset(self.x[idx], None if self.y is None else self.y[idx], self.source, self.kind, self.classes)


def _layout(spec: TensorSpec) -> str:
    """NHWC (TensorFlow's) unless the shape clearly reads channels-first (ONNX/PyTorch style)."""
    s = spec.sample_shape
    if len(s) == 3 and s[0] in (1, 3) and s[2] not in (1, 3):
        return "NCHW"
    return "NHWC"


def _load_images(folder: Path, spec: TensorSpec, opts: ImageOptions) -> Dataset:
    from PIL import Image, UnidentifiedImageError

    s = spec.sample_shape
    if len(s) != 3:
        raise CalibrationError(
            f"{folder}: a folder of images needs a model input of rank 4 (N,H,W,C); "
            f"this model's input {spec.name!r} has shape {spec.shape}. Pass an .npy/.npz file instead"
        )
    layout = _layout(spec)
    h, w, c = (s[1], s[2], s[0]) if layout == "NCHW" else (s[0], s[1], s[2])
    if opts.size:
        h, w = opts.size
    if h is None or w is None:
        raise CalibrationError(f"{folder}: the model's input size is dynamic {spec.shape}; pass --image-size H,W")
    if c not in (1, 3):
        raise CalibrationError(f"{folder}: images need 1 or 3 input channels; the model has {c}")
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir())
    files: list[tuple[Path, int | None]] = []
    if subdirs:
        for label, d in enumerate(subdirs):
            files += [(p, label) for p in sorted(d.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    files += [(p, None) for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise CalibrationError(
            f"{folder}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))}, "
            "directly inside or one sub-folder per class)"
        )
    labelled = [lab for _, lab in files if lab is not None]
    if labelled and len(labelled) != len(files):
        raise CalibrationError(f"{folder}: mix of loose images and class sub-folders; use one layout")
    arrays = []
    for p, _ in files:
        try:
            with Image.open(p) as im:
                im = im.convert("L" if c == 1 else "RGB").resize((w, h), Image.BILINEAR)
                a = np.asarray(im, dtype=np.float32)
        except (UnidentifiedImageError, OSError) as exc:
            raise CalibrationError(f"{p}: not a readable image ({exc}); remove it from the folder") from None
        except Exception as exc:  # a corrupt file makes PIL's decoders raise ValueError, SyntaxError, EOFError...
            raise CalibrationError(
                f"{p}: a corrupt or truncated image ({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); "
                "remove or re-save it"
            ) from None
        arrays.append(a.reshape(h, w, c))
    x = np.stack(arrays)
    if opts.normalize == "0..1":
        x = x / 255.0
    elif opts.normalize == "-1..1":
        x = x / 127.5 - 1.0
    elif opts.normalize == "mean-std":
        mean = np.asarray(opts.mean, np.float32)
        std = np.asarray(opts.std, np.float32)
        if mean.size not in (1, c) or std.size not in (1, c):
            raise CalibrationError(f"--mean/--std need 1 or {c} values for {c}-channel input")
        x = (x / 255.0 - mean) / std
    if layout == "NCHW":
        x = x.transpose(0, 3, 1, 2)
    y = np.asarray(labelled, dtype=np.int64) if labelled else None
    classes = [d.name for d in subdirs] if labelled else None
    return Dataset(x.astype(np.float32), y, str(folder), "images", classes)


def _load_arrays(path: Path) -> tuple[np.ndarray, np.ndarray | None, str]:
    try:
        if path.suffix == ".npy":
            x = np.load(path, allow_pickle=False)
            if not isinstance(x, np.ndarray):  # an .npz archive named .npy
                x.close()
                raise CalibrationError(f"{path}: named .npy but holds an .npz archive; rename it to .npz")
            return x, None, "npy"
        with np.load(path, allow_pickle=False) as z:
            if "x" not in z.files:
                raise CalibrationError(
                    f"{path}: an .npz needs an array named 'x' (inputs) and optionally 'y' (labels); "
                    f"it has: {', '.join(z.files) or 'nothing'}. Save it with np.savez(path, x=..., y=...)"
                )
            return z["x"], (z["y"] if "y" in z.files else None), "npz"
    except CalibrationError:
        raise
    except Exception as exc:
        if "allow_pickle" in str(exc):  # numpy's advice would be to run code from the file: never
            raise CalibrationError(
                f"{path}: holds Python objects (a pickle), which edgekit never loads: they can run code. "
                "Save plain numeric arrays with np.save / np.savez"
            ) from None
        raise CalibrationError(f"{path}: cannot read this array file ({type(exc).__name__}: {exc})") from None


def _check(x: np.ndarray, y: np.ndarray | None, spec: TensorSpec, origin: str) -> tuple[np.ndarray, np.ndarray | None]:
    if x.size == 0 or x.ndim == 0 or len(x) == 0:
        raise CalibrationError(f"{origin}: holds no samples; provide at least one")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise CalibrationError(f"{origin}: inputs have dtype {x.dtype}; expected numbers (float32)")
    want = spec.sample_shape
    got = x.shape[1:]
    if len(got) != len(want) or any(w is not None and w != g for w, g in zip(want, got)):
        raise CalibrationError(
            f"{origin}: samples have shape {tuple(got)} but the model's input {spec.name!r} takes "
            f"{tuple('?' if d is None else d for d in want)} per sample (full input shape {spec.shape}). "
            "Reshape or resize the data to the model's input"
        )
    x = x.astype(np.float32, copy=False)
    finite = np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise CalibrationError(
            f"{origin}: {len(bad)} sample(s) contain NaN or Inf (first at index {bad[0]}); clean the data"
        )
    if y is not None:
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] > 1:
            y = y.argmax(axis=1)  # one-hot labels
        y = y.reshape(-1)
        if len(y) != len(x):
            raise CalibrationError(f"{origin}: {len(y)} labels for {len(x)} samples; 'y' must have one per sample")
    return x, y


def load_data(source: str | Path, spec: TensorSpec, images: ImageOptions | None = None) -> Dataset:
    """Load calibration/evaluation data and check it against the model input ``spec``."""
    path = Path(source)
    if not path.exists():
        raise CalibrationError(f"{path}: no such file or folder")
    if path.is_dir():
        ds = _load_images(path, spec, images or ImageOptions())
        ds.x, ds.y = _check(ds.x, ds.y, spec, str(path))
        return ds
    if path.suffix not in (".npy", ".npz"):
        raise CalibrationError(f"{path}: calibration data must be .npy, .npz or a folder of images")
    x, y, kind = _load_arrays(path)
    x, y = _check(x, y, spec, str(path))
    return Dataset(x, y, str(path), kind)


def random_data(spec: TensorSpec, n: int, seed: int, low: float = 0.0, high: float = 1.0) -> Dataset:
    """Seeded uniform noise in the model's input shape. Only for explicit ``--calibration random`` or for
    validating when the user gave no data at all; always labelled as such."""
    shape = tuple(1 if d is None else d for d in spec.sample_shape)
    x = np.random.default_rng(seed).uniform(low, high, size=(n, *shape)).astype(np.float32)
    return Dataset(x, None, f"random uniform [{low}, {high}) seed={seed}", RANDOM)


def split(ds: Dataset, n_calib: int, seed: int, holdout: bool) -> tuple[Dataset, Dataset | None]:
    """Seeded split: up to ``n_calib`` calibration samples and, when ``holdout``, a disjoint held-out set
    (a fifth of the data, at most 500 samples) for validation."""
    if n_calib < 1:
        raise CalibrationError("--calibration-samples must be at least 1")
    perm = np.random.default_rng(seed).permutation(len(ds))
    held = None
    if holdout and len(ds) >= 2:
        n_hold = min(500, max(1, len(ds) // 5))
        held = ds.take(np.sort(perm[:n_hold]))
        perm = perm[n_hold:]
    return ds.take(perm[:n_calib]), held
