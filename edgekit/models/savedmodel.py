"""TensorFlow SavedModel folders (``saved_model.pb`` + variables), through their serving signature.

Two loaders. The TF2 object-graph loader (``tf.saved_model.load``) first; when it fails — e.g. a SavedModel
that Keras 2 (tf.keras, TF <= 2.15) saved with its optimizer state: ``'_UserObject' object has no attribute
'add_slot'`` when tf_keras is not installed — TF's v1 loader (``tf.compat.v1.saved_model.loader.load`` into a
graph + session), which reads only the MetaGraph and the variables. A v1-loaded model runs in its session
(``predict``) and converts to TFLite with ``tf.compat.v1.lite.TFLiteConverter.from_saved_model`` (the
``tflite_converter`` hook); it has no ``tf.function`` for tf2onnx, so it exports to TFLite only.
``SourceModel.loader`` says which loader was used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit._lazy import tf as _tf
from edgekit.errors import ModelLoadError
from edgekit.models.base import SourceModel, TensorSpec

LOADER_TF2 = "tf2-object-graph"  # tf.saved_model.load
LOADER_TF1 = "tf1-graph-session"  # tf.compat.v1.saved_model.loader.load (legacy fallback)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:300] if text else ''}"


def _dims(shape) -> tuple[int | None, ...]:
    return tuple(None if d is None else int(d) for d in shape)


def sniff(path: Path) -> bool:
    """A SavedModel is a folder with saved_model.pb (or .pbtxt)."""
    return path.is_dir() and ((path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file())


def load(path: Path, *, sha256: str, fmt: str = "savedmodel", signature: str = "serving_default", **_) -> SourceModel:
    tf = _tf()
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as exc:  # noqa: BLE001 - any failure of the object-graph loader: try the v1 loader
        first = _first_line(exc)
        try:
            model = load_v1(path, sha256=sha256, fmt=fmt, signature=signature)
        except ModelLoadError as exc1:
            raise ModelLoadError(
                f"{path}: cannot load this SavedModel ({first}; TF's v1 loader: {str(exc1).removeprefix(f'{path}: ')}). "
                "Is the folder complete (saved_model.pb and variables/)?"
            ) from None
        model.notes.append(f"loaded with TF's v1 loader: the TF2 object-graph loader failed ({first})")
        return model
    return _wrap_tf2(loaded, path, sha256=sha256, fmt=fmt, signature=signature)


def _wrap_tf2(loaded, path: Path, *, sha256: str, fmt: str, signature: str) -> SourceModel:
    tf = _tf()
    sigs = dict(loaded.signatures)
    if signature not in sigs:
        raise ModelLoadError(
            f"{path}: no signature {signature!r} (it has: {', '.join(sigs) or 'none'}). "
            "Export the model with a serving signature, e.g. keras_model.export(DIR)"
        )
    fn = sigs[signature]
    _, kw = fn.structured_input_signature
    names = sorted(kw)
    inputs = [TensorSpec(name=n, shape=_dims(kw[n].shape), dtype=kw[n].dtype.name) for n in names]
    out_keys = sorted(fn.structured_outputs)
    outputs = [TensorSpec(name=k, shape=_dims(fn.structured_outputs[k].shape)) for k in out_keys]

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
        path=path, format=fmt, sha256=sha256, inputs=inputs, outputs=outputs, predict=predict,
        tf_function=tf_function, loader=LOADER_TF2,
    )
    model._keepalive = loaded  # the signature's variables live as long as the loaded object
    return model




def load_v1(path: Path, *, sha256: str, fmt: str = "savedmodel", signature: str = "serving_default") -> SourceModel:
    """Load ``path`` with ``tf.compat.v1.saved_model.loader.load`` into its own graph and session."""
    tf = _tf()
    graph = tf.Graph()
    sess = tf.compat.v1.Session(graph=graph)
    try:
        with graph.as_default():
            meta = tf.compat.v1.saved_model.loader.load(sess, [tf.compat.v1.saved_model.tag_constants.SERVING], str(path))
    except Exception as exc:  # noqa: BLE001 - RuntimeError/IOError/DecodeError from the v1 loader
        sess.close()
        raise ModelLoadError(f"{path}: {_first_line(exc)}") from None
    sigs = meta.signature_def
    if signature not in sigs:
        sess.close()
        raise ModelLoadError(
            f"{path}: no signature {signature!r} (it has: {', '.join(k for k in sigs if not k.startswith('__')) or 'none'}). "
            "Pass the serving signature's name"
        )
    sig = sigs[signature]
    names, out_keys = sorted(sig.inputs), sorted(sig.outputs)

    def spec(name: str, info) -> TensorSpec:
        dims = None if info.tensor_shape.unknown_rank else [d.size for d in info.tensor_shape.dim]
        if dims is None:
            raise ModelLoadError(f"{path}: signature tensor {name!r} has an unknown rank; re-export with static shapes")
        return TensorSpec(name=name, shape=tuple(None if d < 0 else d for d in dims), dtype=tf.as_dtype(info.dtype).name)

    inputs = [spec(n, sig.inputs[n]) for n in names]
    outputs = [spec(k, sig.outputs[k]) for k in out_keys]
    in_tensors = [graph.get_tensor_by_name(sig.inputs[n].name) for n in names]
    out_tensors = [graph.get_tensor_by_name(sig.outputs[k].name) for k in out_keys]

    def predict(xs: list[np.ndarray]) -> list[np.ndarray]:
        feed = {t: np.asarray(x, dtype=s.dtype) for t, s, x in zip(in_tensors, inputs, xs)}
        return [np.asarray(v, dtype=np.float32) for v in sess.run(out_tensors, feed_dict=feed)]

    def tflite_converter(batch: int = 1):
        """The v1 converter (it freezes the graph in a session of its own) at a static batch."""
        return tf.compat.v1.lite.TFLiteConverter.from_saved_model(
            str(path), input_arrays=[sig.inputs[n].name.split(":")[0] for n in names],
            input_shapes={sig.inputs[n].name.split(":")[0]: list(s.static(batch)) for n, s in zip(names, inputs)},
            output_arrays=[sig.outputs[k].name.split(":")[0] for k in out_keys],
            signature_key=signature,
        )

    model = SourceModel(
        path=path, format=fmt, sha256=sha256, inputs=inputs, outputs=outputs, predict=predict,
        tf_function=None, loader=LOADER_TF1, tflite_converter=tflite_converter,
    )
    model._keepalive = sess  # the session holds the restored variables
    return model
