"""Keras 3 ``.keras``, Keras 3 ``.h5`` and legacy Keras 2 ``.h5`` files, loaded with Keras 3."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from edgekit._lazy import keras as _keras
from edgekit._lazy import tf as _tf
from edgekit.errors import ModelLoadError
from edgekit.models.base import SourceModel, TensorSpec

UNSAFE_FLAG = "--unsafe-deserialization"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _head(path: Path, n: int = 8) -> bytes:
    if not path.is_file():
        return b""
    with open(path, "rb") as f:
        return f.read(n)


def sniff_keras(path: Path) -> bool:
    """A Keras 3 ``.keras`` file is a zip archive."""
    return _head(path).startswith(b"PK\x03\x04")


def sniff_h5(path: Path) -> bool:
    """An HDF5 file (Keras 3 or legacy Keras 2 ``.h5``)."""
    return _head(path) == _HDF5_MAGIC


def _load(path: Path, *, unsafe: bool):
    keras = _keras()
    kwargs = {"safe_mode": not unsafe} if path.suffix == ".keras" or _is_zip(path) else {}
    try:
        try:
            return keras.models.load_model(path, compile=True, **kwargs)
        except (TypeError, ValueError, KeyError) as exc:
            if "safe_mode" in str(exc) or "unsafe" in str(exc).lower():
                raise
            # a training config we cannot rebuild (custom loss, old optimizer) must not stop a conversion
            return keras.models.load_model(path, compile=False, **kwargs)
    except Exception as exc:  # keras raises ValueError/TypeError/OSError/KeyError/zipfile errors
        msg = str(exc)
        if "safe_mode" in msg or "unsafe" in msg.lower():
            raise ModelLoadError(
                f"{path}: the model contains code (e.g. a Lambda layer) that Keras only deserializes in "
                f"unsafe mode. Load it only if you trust its origin, with {UNSAFE_FLAG}"
            ) from None
        if "Could not locate" in msg or "Unknown layer" in msg or "custom_objects" in msg:
            raise ModelLoadError(
                f"{path}: the model uses a custom class that is not registered ({msg.splitlines()[0][:300]}). "
                "Export it without custom layers, or save it as a SavedModel with model.export(DIR)"
            ) from None
        if "File not found" in msg and path.is_file():  # Keras says so for a damaged zip that exists
            raise ModelLoadError(
                f"{path}: cannot load this Keras model: not a readable .keras archive (the zip is corrupt or truncated). "
                "Re-save it with model.save('model.keras')"
            ) from None
        raise ModelLoadError(
            f"{path}: cannot load this Keras model ({type(exc).__name__}: {msg.splitlines()[0][:300] if msg else ''}). "
            "Is the file complete and not corrupt? Re-save it with model.save('model.keras')"
        ) from None


def _is_zip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


def _shape(s) -> tuple[int | None, ...]:
    return tuple(None if d is None else int(d) for d in s)


def load(path: Path, *, sha256: str, fmt: str, unsafe: bool = False, **_) -> SourceModel:
    return wrap(_load(path, unsafe=unsafe), path=path, sha256=sha256, fmt=fmt)


def wrap(model, *, path: Path, sha256: str, fmt: str = "keras") -> SourceModel:
    """A SourceModel around an in-memory ``keras.Model`` (a loaded one, or one that pruning/QAT produced)."""
    tf = _tf()
    inputs = [
        TensorSpec(name=t.name.split(":")[0], shape=_shape(t.shape), dtype=str(np.dtype(t.dtype)))
        for t in model.inputs
    ]
    outs = model.outputs
    outputs = [TensorSpec(name=f"output_{i}", shape=_shape(t.shape), dtype="float32") for i, t in enumerate(outs)]
    if not inputs:
        raise ModelLoadError(f"{path}: the model has no defined inputs; build it on an Input first")
    if not outputs:
        raise ModelLoadError(f"{path}: the model has no defined outputs")

    def predict(xs: list[np.ndarray]) -> list[np.ndarray]:
        feed = xs[0] if len(xs) == 1 else list(xs)
        with warnings.catch_warnings():  # legacy models declare inputs as a list of one; a tensor is fine
            warnings.filterwarnings("ignore", message="The structure of `inputs`")
            y = model(feed, training=False)
        ys = y if isinstance(y, (list, tuple)) else [y]
        return [np.asarray(v, dtype=np.float32) for v in ys]

    def tf_function(batch: int = 1, specs_in: list[TensorSpec] | None = None):
        specs = [tf.TensorSpec(s.static(batch), tf.as_dtype(s.dtype), name=s.name) for s in specs_in or inputs]

        @tf.function(input_signature=specs, autograph=False)
        def serve(*xs):
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="The structure of `inputs`")
                y = model(xs[0] if len(xs) == 1 else list(xs), training=False)
            ys = y if isinstance(y, (list, tuple)) else [y]
            return {f"output_{i}": v for i, v in enumerate(ys)}

        return serve

    return SourceModel(
        path=path,
        format=fmt,
        sha256=sha256,
        inputs=inputs,
        outputs=outputs,
        predict=predict,
        tf_function=tf_function,
        keras_model=model,
    )
