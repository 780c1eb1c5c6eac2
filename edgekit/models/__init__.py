"""Model loaders. One registry: format name -> module whose ``load(path, sha256=, fmt=, ...)`` returns a
:class:`~edgekit.models.base.SourceModel`. Formats are detected from the file's content, not its name."""

from __future__ import annotations

import importlib
from pathlib import Path

from edgekit.errors import ModelLoadError
from edgekit.hashing import sha256_path
from edgekit.models.base import SourceModel, TensorSpec

# format -> module implementing load(); imported only when a model of that format is loaded
LOADERS: dict[str, str] = {
    "keras": "edgekit.models.keras",  # Keras 3 .keras (zip)
    "h5": "edgekit.models.keras",  # Keras 3 or legacy Keras 2 HDF5
    "savedmodel": "edgekit.models.savedmodel",
    "onnx": "edgekit.models.onnx",
    "tflite": "edgekit.models.tflite",  # a float .tflite, quantized by ai-edge-quantizer
}

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def detect_format(path: Path) -> str:
    """Tell the format from the content: zip (.keras), HDF5 (.h5), a SavedModel folder, ONNX protobuf."""
    if not path.exists():
        raise ModelLoadError(f"{path}: no such file or folder")
    if path.is_dir():
        if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file():
            return "savedmodel"
        raise ModelLoadError(
            f"{path}: a folder, but not a SavedModel (no saved_model.pb inside). "
            "Pass a .keras/.h5/.onnx file or a SavedModel folder"
        )
    with open(path, "rb") as f:
        head = f.read(8)
    if not head:
        raise ModelLoadError(f"{path}: the file is empty")
    if head.startswith(b"PK\x03\x04"):
        return "keras"
    if head == _HDF5_MAGIC:
        return "h5"
    if head[4:8] == b"TFL3":  # edgekit.models.tflite.sniff
        return "tflite"
    if path.suffix.lower() == ".onnx":
        return "onnx"
    if path.suffix.lower() in (".keras", ".h5", ".hdf5"):
        raise ModelLoadError(
            f"{path}: named like a Keras model but its content is not (no zip/HDF5 header): "
            "the file is corrupt or truncated. Re-export it from the training code"
        )
    if path.suffix.lower() == ".tflite":
        raise ModelLoadError(f"{path}: named like a .tflite model but it has no TFL3 flatbuffer identifier: corrupt?")
    raise ModelLoadError(
        f"{path}: unknown model format. edgekit reads .keras, .h5 (Keras 3 or legacy Keras 2), "
        "SavedModel folders, .onnx and .tflite files"
    )


def load_model(path: str | Path, *, unsafe: bool = False, **options) -> SourceModel:
    path = Path(path)
    fmt = detect_format(path)
    module = importlib.import_module(LOADERS[fmt])
    return module.load(path, sha256=sha256_path(path), fmt=fmt, unsafe=unsafe, **options)


__all__ = ["LOADERS", "SourceModel", "TensorSpec", "detect_format", "load_model"]
