"""Model loaders: one registry (:data:`edgekit.registry.LOADERS`), each loader module with a ``sniff(path)``
telling its format from the content (not the name) and a ``load(path, sha256=, fmt=, ...)`` returning a
:class:`~edgekit.models.base.SourceModel`."""

from __future__ import annotations

from pathlib import Path

from edgekit.errors import ModelLoadError
from edgekit.hashing import sha256_path
from edgekit.models.base import SourceModel, TensorSpec
from edgekit.registry import LOADERS


def detect_format(path: Path) -> str:
    """The registered format whose ``sniff`` recognises ``path``; ModelLoadError with the reason otherwise."""
    if not path.exists():
        raise ModelLoadError(f"{path}: no such file or folder")
    for entry in LOADERS:
        if getattr(entry.load(), entry.meta.get("sniff", "sniff"))(path):
            return entry.name
    raise ModelLoadError(_unrecognised(path))


def _unrecognised(path: Path) -> str:
    if path.is_dir():
        return (f"{path}: a folder, but not a SavedModel (no saved_model.pb inside). "
                "Pass a .keras/.h5/.onnx file or a SavedModel folder")
    if path.stat().st_size == 0:
        return f"{path}: the file is empty"
    suffix = path.suffix.lower()
    if suffix in (".keras", ".h5", ".hdf5"):
        return (f"{path}: named like a Keras model but its content is not (no zip/HDF5 header): "
                "the file is corrupt or truncated. Re-export it from the training code")
    if suffix == ".tflite":
        return f"{path}: named like a .tflite model but it has no TFL3 flatbuffer identifier: corrupt?"
    return f"{path}: unknown model format. {LOADERS.hint}"


def load_model(path: str | Path, *, unsafe: bool = False, **options) -> SourceModel:
    path = Path(path)
    fmt = detect_format(path)
    module = LOADERS.get(fmt)
    return module.load(path, sha256=sha256_path(path), fmt=fmt, unsafe=unsafe, **options)


__all__ = ["SourceModel", "TensorSpec", "detect_format", "load_model"]
