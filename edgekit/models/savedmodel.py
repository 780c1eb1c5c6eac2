"""TensorFlow SavedModel folders (``saved_model.pb`` + variables), through their serving signature."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit._lazy import tf as _tf
from edgekit.errors import ModelLoadError
from edgekit.models.base import SourceModel, TensorSpec


def sniff(path: Path) -> bool:
    """A SavedModel is a folder with saved_model.pb (or .pbtxt)."""
    return path.is_dir() and ((path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file())


def load(path: Path, *, sha256: str, fmt: str = "savedmodel", signature: str = "serving_default", **_) -> SourceModel:
    tf = _tf()
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as exc:
        raise ModelLoadError(
            f"{path}: cannot load this SavedModel ({type(exc).__name__}: {str(exc).splitlines()[0][:300]}). "
            "Is the folder complete (saved_model.pb and variables/)?"
        ) from None
    sigs = dict(loaded.signatures)
    if signature not in sigs:
        raise ModelLoadError(
            f"{path}: no signature {signature!r} (it has: {', '.join(sigs) or 'none'}). "
            "Export the model with a serving signature, e.g. keras_model.export(DIR)"
        )
    fn = sigs[signature]
    _, kw = fn.structured_input_signature
    names = sorted(kw)
    inputs = [
        TensorSpec(name=n, shape=tuple(None if d is None else int(d) for d in kw[n].shape), dtype=kw[n].dtype.name)
        for n in names
    ]
    out_keys = sorted(fn.structured_outputs)
    outputs = [
        TensorSpec(name=k, shape=tuple(None if d is None else int(d) for d in fn.structured_outputs[k].shape))
        for k in out_keys
    ]

    def predict(xs: list[np.ndarray]) -> list[np.ndarray]:
        res = fn(**{n: tf.constant(x, dtype=kw[n].dtype) for n, x in zip(names, xs)})
        return [np.asarray(res[k], dtype=np.float32) for k in out_keys]

    def tf_function(batch: int = 1, specs_in: list[TensorSpec] | None = None):
        specs = [tf.TensorSpec(s.static(batch), tf.as_dtype(s.dtype), name=s.name) for s in specs_in or inputs]

        @tf.function(input_signature=specs, autograph=False)
        def serve(*xs):
            res = fn(**dict(zip(names, xs)))
            return {f"output_{i}": res[k] for i, k in enumerate(out_keys)}

        return serve

    model = SourceModel(
        path=path, format=fmt, sha256=sha256, inputs=inputs, outputs=outputs, predict=predict, tf_function=tf_function
    )
    model._keepalive = loaded  # the signature's variables live as long as the loaded object
    return model
