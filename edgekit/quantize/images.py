"""A folder of images (optionally one sub-folder per class) as the samples of one image input."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.errors import CalibrationError
from edgekit.models.base import TensorSpec
from edgekit.options.image import ImageOptions

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".pgm", ".ppm"}


def _layout(spec: TensorSpec) -> str:
    """NHWC (TensorFlow's) unless the shape clearly reads channels-first (ONNX/PyTorch style)."""
    s = spec.sample_shape
    if len(s) == 3 and s[0] in (1, 3) and s[2] not in (1, 3):
        return "NCHW"
    return "NHWC"


def _size(folder: Path, spec: TensorSpec, opts: ImageOptions) -> tuple[str, int, int, int]:
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
    return layout, h, w, c


def _files(folder: Path) -> tuple[list[tuple[Path, int | None]], list[Path]]:
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir())
    files: list[tuple[Path, int | None]] = []
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
    return files, subdirs


def _read(p: Path, h: int, w: int, c: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(p) as im:
            im = im.convert("L" if c == 1 else "RGB").resize((w, h), Image.BILINEAR)
            return np.asarray(im, dtype=np.float32).reshape(h, w, c)
    except (UnidentifiedImageError, OSError) as exc:
        raise CalibrationError(f"{p}: not a readable image ({exc}); remove it from the folder") from None
    except Exception as exc:  # a corrupt file makes PIL's decoders raise ValueError, SyntaxError, EOFError...
        raise CalibrationError(
            f"{p}: a corrupt or truncated image ({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); "
            "remove or re-save it"
        ) from None


def _normalize(x: np.ndarray, opts: ImageOptions, c: int) -> np.ndarray:
    if opts.normalize == "0..1":
        return x / 255.0
    if opts.normalize == "-1..1":
        return x / 127.5 - 1.0
    if opts.normalize == "mean-std":
        mean = np.asarray(opts.mean, np.float32)
        std = np.asarray(opts.std, np.float32)
        if mean.size not in (1, c) or std.size not in (1, c):
            raise CalibrationError(f"--mean/--std need 1 or {c} values for {c}-channel input")
        return (x / 255.0 - mean) / std
    return x


def load_images(folder: Path, spec: TensorSpec, opts: ImageOptions):
    """The images of ``folder`` for input ``spec``: (x float32, labels or None, class names or None)."""
    layout, h, w, c = _size(folder, spec, opts)
    files, subdirs = _files(folder)
    x = _normalize(np.stack([_read(p, h, w, c) for p, _ in files]), opts, c)
    if layout == "NCHW":
        x = x.transpose(0, 3, 1, 2)
    labelled = [lab for _, lab in files if lab is not None]
    y = np.asarray(labelled, dtype=np.int64) if labelled else None
    return x.astype(np.float32), y, ([d.name for d in subdirs] if labelled else None)
