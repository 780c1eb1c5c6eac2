"""``--input-value NAME=VALUE``: an input frozen to a constant, then folded by the converters.

Keras/SavedModel: the model is traced with the constant in place of the input (TFLite's converter and
tf2onnx fold what depends on it). ONNX: the input becomes an initializer and onnxsim folds the graph (an
``If`` on a sample rate disappears: ORT then quantizes the weights that were inside its branches)."""

from __future__ import annotations

import dataclasses

import numpy as np

from edgekit.errors import ConfigError
from edgekit.models.base import SourceModel, TensorSpec
from edgekit.options.io import parse_values  # noqa: F401  (re-exported)


def constant(spec: TensorSpec, value: float, batch: int = 1) -> np.ndarray:
    shape = tuple(batch if (i == 0 and d is None) else (1 if d is None else d) for i, d in enumerate(spec.shape))
    return np.full(shape, value, dtype=spec.dtype)


def check_names(model: SourceModel, names, flag: str) -> None:
    have = {t.name for t in model.inputs}
    unknown = [n for n in names if n not in have]
    if unknown:
        raise ConfigError(f"{flag}: the model has no input {', '.join(map(repr, unknown))}; {model.io_text()}")


def freeze_tf(model: SourceModel, values: dict[str, float]) -> SourceModel:
    """A Keras/SavedModel source with ``values`` fixed: predict and the traced tf.function take the rest."""
    if not values:
        return model
    check_names(model, values, "--input-value")
    if model.tf_function is None:
        raise ConfigError(f"{model.path}: a {model.format} model cannot freeze inputs (--input-value); "
                          "export it with the value fixed")
    specs = list(model.inputs)
    kept = [s for s in specs if s.name not in values]
    if not kept:
        raise ConfigError(f"--input-value: every input would be constant; {model.io_text()}")
    old_predict, old_fn = model.predict, model.tf_function

    def predict(xs: list[np.ndarray]) -> list[np.ndarray]:
        n = len(xs[0])
        given = dict(zip([s.name for s in kept], xs))
        return old_predict([given[s.name] if s.name in given else constant(s, values[s.name], n) for s in specs])

    def tf_function(batch: int = 1, specs_in: list[TensorSpec] | None = None):
        from edgekit._lazy import tf as _tf

        tf = _tf()
        now = {s.name: s for s in (specs_in or kept)}
        full = [now.get(s.name, s) for s in specs]
        inner = old_fn(batch, specs_in=full)
        sig = [tf.TensorSpec(now[s.name].static(batch), tf.as_dtype(now[s.name].dtype), name=s.name) for s in kept]

        @tf.function(input_signature=sig, autograph=False)
        def serve(*xs):
            given = dict(zip([s.name for s in kept], xs))
            args = [given[s.name] if s.name in given else tf.constant(constant(s, values[s.name], batch)) for s in full]
            return inner(*args)

        return serve

    new = dataclasses.replace(model, inputs=kept, predict=predict, tf_function=tf_function,
                              notes=[*model.notes, *(f"input {k!r} frozen to {v:g} (--input-value)" for k, v in values.items())])
    if hasattr(model, "_keepalive"):
        new._keepalive = model._keepalive
    return new


def freeze_onnx(proto, values: dict[str, float], origin: str) -> list[str]:
    """Replace the ONNX graph inputs in ``values`` by initializers (in place). Returns notes."""
    from onnx import helper, numpy_helper

    from edgekit.models.onnx import _dims, graph_inputs

    inputs = {vi.name: vi for vi in graph_inputs(proto)}
    unknown = [n for n in values if n not in inputs]
    if unknown:
        shown = ", ".join(f"{n} {tuple('?' if d is None else d for d in _dims(vi))}" for n, vi in inputs.items())
        outs = ", ".join(o.name for o in proto.graph.output)
        raise ConfigError(f"--input-value: {origin} has no input {', '.join(map(repr, unknown))}; the model's "
                          f"inputs: {shown}; outputs: {outs}")
    notes = []
    for name, value in values.items():
        vi = inputs[name]
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type))
        shape = tuple(1 if d is None else d for d in _dims(vi))
        proto.graph.initializer.append(numpy_helper.from_array(np.full(shape, value, dtype=dtype), name))
        proto.graph.input.remove(vi)
        notes.append(f"input {name!r} frozen to {value:g} (--input-value) and folded")
    return notes


def fold(proto, origin: str):
    """onnxsim's constant folding after inputs were frozen, then every ``If`` whose condition became a
    constant replaced by its taken branch. Returns the folded model (the input when onnxsim fails)."""
    import contextlib
    import io

    from edgekit._lazy import capture_native_stderr

    try:
        import onnxsim

        with capture_native_stderr(), contextlib.redirect_stdout(io.StringIO()):
            simplified, ok = onnxsim.simplify(proto, check_n=0)
        if ok:
            proto = simplified
    except Exception:  # noqa: BLE001 - onnxsim raises many kinds; the If inlining below still runs
        pass
    _inline_ifs(proto)
    return proto


def _inline_ifs(proto) -> int:
    """Replace ``If`` nodes with a constant (initializer) condition by the nodes of the taken branch."""
    from onnx import helper, numpy_helper

    g = proto.graph
    inits = {i.name: i for i in g.initializer}
    done = 0
    while True:
        at = next((k for k, n in enumerate(g.node) if n.op_type == "If" and n.input[0] in inits), None)
        if at is None:
            break
        node = g.node[at]
        cond = bool(numpy_helper.to_array(inits[node.input[0]]).reshape(-1)[0])
        branch = next(helper.get_attribute_value(a) for a in node.attribute
                      if a.name == ("then_branch" if cond else "else_branch"))
        rename = {o.name: out for o, out in zip(branch.output, node.output)}
        new = []
        for inner in branch.node:
            copy = type(inner)()
            copy.CopyFrom(inner)
            for k, o in enumerate(copy.output):
                copy.output[k] = rename.get(o, o)
            new.append(copy)
        for init in branch.initializer:
            g.initializer.append(init)
        for o, out in rename.items():  # a branch output that is a plain outer tensor or initializer
            if not any(o in n.output for n in branch.node):
                new.append(helper.make_node("Identity", [o], [out]))
        del g.node[at]
        for k, n in enumerate(new):
            g.node.insert(at + k, n)
        done += 1
    return done
