"""ONNX models (``.onnx``): checked, shape-inferred, made static, weights normalised into initializers.

The loaded graph is what every ONNX artifact starts from, and ``predict`` runs it in fp32 with onnxruntime:
the reference the artifacts are validated against. External data is read from the model's own folder only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgekit.errors import ConfigError, ModelLoadError
from edgekit.models.base import SourceModel, TensorSpec

INPUT_SHAPE_FLAG = "--input-shape"


def parse_input_shape(value) -> dict[str | None, tuple[int, ...]]:
    """``"1,3,32,32"``, ``"name:1,3,32,32"`` (several separated by ``;``), a tuple, or a {name: shape} dict."""
    if value is None:
        return {}
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, (tuple, list)):
        items = [(None, value)]
    else:
        items = []
        for part in (p.strip() for p in str(value).split(";")):
            if part:
                name, _, dims = part.rpartition(":")
                items.append((name.strip() or None, dims))
    out: dict[str | None, tuple[int, ...]] = {}
    for name, dims in items:
        try:
            shape = tuple(int(d) for d in (dims.split(",") if isinstance(dims, str) else dims))
        except ValueError:
            shape = ()
        if not shape or any(d < 1 for d in shape):
            raise ConfigError(
                f"{INPUT_SHAPE_FLAG} {value!r}: expected positive comma-separated dimensions, optionally after "
                "the input name, e.g. 1,3,32,32 or input:1,3,32,32"
            )
        out[name] = shape
    return out


def _graphs(graph) -> Iterator:
    """A graph and every subgraph (If/Loop bodies) inside it."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.g.ByteSize():
                yield from _graphs(attr.g)
            for g in attr.graphs:
                yield from _graphs(g)


def _tensors(model) -> Iterator:
    for graph in _graphs(model.graph):
        yield from graph.initializer
        for node in graph.node:
            for attr in node.attribute:
                if attr.t.ByteSize():
                    yield attr.t
                yield from attr.tensors


def load_external_data(model, folder: Path, origin: str) -> int:
    """Read external tensor data, refusing any location that escapes the model's folder. Returns the count."""
    from onnx import TensorProto
    from onnx.external_data_helper import load_external_data_for_tensor

    root = folder.resolve()
    n = 0
    for t in _tensors(model):
        if t.data_location != TensorProto.EXTERNAL:
            continue
        location = next((e.value for e in t.external_data if e.key == "location"), "")
        target = (root / location).resolve()
        if not location or Path(location).is_absolute() or not target.is_relative_to(root):
            raise ModelLoadError(
                f"{origin}: tensor {t.name!r} keeps its data at {location!r}, outside the model's folder {root}. "
                "edgekit reads external data only from files beside the model; move the data file there"
            )
        if not target.is_file():
            raise ModelLoadError(
                f"{origin}: tensor {t.name!r} needs external data file {location!r}, which is missing from "
                f"{root}. Copy the data file next to the model"
            )
        try:
            load_external_data_for_tensor(t, str(root))
        except Exception as exc:
            raise ModelLoadError(f"{origin}: cannot read external data {location!r} ({exc})") from None
        t.data_location = TensorProto.DEFAULT
        del t.external_data[:]
        n += 1
    return n


def constants_to_initializers(model, origin: str = "model") -> int:
    """Move ``Constant`` nodes that hold a tensor into graph initializers (in place), so that quantizers see
    their weights as weights. Returns how many were moved."""
    from onnx import AttributeProto, helper, numpy_helper

    graph = model.graph
    keep, moved = [], 0
    taken = {i.name for i in graph.initializer}
    for node in graph.node:
        attrs = {a.name: a for a in node.attribute}
        if node.op_type != "Constant" or node.domain not in ("", "ai.onnx") or len(attrs) != 1 or node.output[0] in taken:
            keep.append(node)
            continue
        (name, attr), = attrs.items()
        if name == "value" and attr.type == AttributeProto.TENSOR:
            tensor = numpy_helper.from_array(_constant_array(attr.t, node, origin), node.output[0])
        elif name in ("value_float", "value_floats", "value_int", "value_ints"):
            value = helper.get_attribute_value(attr)
            tensor = numpy_helper.from_array(np.asarray(value, np.float32 if "float" in name else np.int64), node.output[0])
        else:  # sparse_value / strings: leave as they are
            keep.append(node)
            continue
        graph.initializer.append(tensor)
        if model.ir_version < 4:  # before IR 4 every initializer must also be a graph input
            graph.input.append(helper.make_tensor_value_info(tensor.name, tensor.data_type, tensor.dims))
        taken.add(node.output[0])
        moved += 1
    del graph.node[:]
    graph.node.extend(keep)
    return moved


def _dims(value_info) -> tuple[int | None, ...]:
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return ()
    return tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in t.shape.dim)


def _set_dims(value_info, shape) -> None:
    from onnx import TensorShapeProto

    dims = value_info.type.tensor_type.shape
    del dims.dim[:]
    for d in shape:
        dims.dim.append(TensorShapeProto.Dimension(dim_value=d) if d else TensorShapeProto.Dimension(dim_param="N"))


def graph_inputs(model) -> list:
    """Real inputs (ONNX IR < 4 also lists initializers as inputs)."""
    inits = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def fix_input_shapes(model, overrides: dict[str | None, tuple[int, ...]], origin: str) -> list[str]:
    """Apply ``--input-shape`` and check that every dimension but the leading batch is static (in place)."""
    inputs = graph_inputs(model)
    names = [i.name for i in inputs]
    notes = []
    for key, shape in overrides.items():
        if key is None and len(inputs) != 1:
            raise ConfigError(
                f"{INPUT_SHAPE_FLAG}: the model has {len(inputs)} inputs ({', '.join(names)}); "
                "name the one you mean: NAME:1,3,224,224"
            )
        vi = inputs[0] if key is None else next((i for i in inputs if i.name == key), None)
        if vi is None:
            raise ConfigError(f"{INPUT_SHAPE_FLAG}: the model has no input {key!r}; its inputs: {', '.join(names)}")
        old = _dims(vi)
        if old and len(old) != len(shape):
            raise ConfigError(
                f"{INPUT_SHAPE_FLAG} {','.join(map(str, shape))}: input {vi.name!r} has rank {len(old)} "
                f"{tuple('?' if d is None else d for d in old)}; give {len(old)} dimensions"
            )
        clash = [(i, o, s) for i, (o, s) in enumerate(zip(old, shape)) if o is not None and o != s]
        if clash:
            i, o, s = clash[0]
            raise ConfigError(
                f"{INPUT_SHAPE_FLAG}: input {vi.name!r} has a fixed dimension {i} of {o}, not {s}; "
                "only dynamic dimensions can be set"
            )
        _set_dims(vi, shape)
        notes.append(f"input {vi.name!r} shape set to {shape} ({INPUT_SHAPE_FLAG})")
    for vi in inputs:
        dims = _dims(vi)
        if not dims:
            raise ConfigError(
                f"{origin}: input {vi.name!r} has no declared shape. Pass {INPUT_SHAPE_FLAG} {vi.name}:1,3,224,224"
            )
        if any(d is None for d in dims[1:]):
            params = [d.dim_param or "?" for d in vi.type.tensor_type.shape.dim]
            shown = ",".join(p if d is None else str(d) for p, d in zip(params, dims))
            hint = ",".join("1" if i == 0 and d is None else (p if d is None else str(d))
                            for i, (p, d) in enumerate(zip(params, dims)))
            raise ConfigError(
                f"{origin}: input {vi.name!r} has dynamic dimensions ({shown}) that edgekit cannot fix by itself "
                f"(only the leading batch may stay dynamic). Pass {INPUT_SHAPE_FLAG} {vi.name}:{hint} with the "
                "real sizes in place of the names"
            )
    return notes


def fix_batch(model, batch: int = 1) -> None:
    """Set a dynamic leading (batch) dimension of every input to ``batch`` (in place) and re-infer shapes."""
    for vi in graph_inputs(model):
        dims = _dims(vi)
        if dims and dims[0] is None:
            _set_dims(vi, (batch, *dims[1:]))
    infer_shapes(model, "model")


def infer_shapes(model, origin: str):
    """ONNX shape inference in place (value_info refreshed); a failure names the model."""
    import onnx

    del model.graph.value_info[:]
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=False, data_prop=True)
    except Exception as exc:
        raise ModelLoadError(f"{origin}: ONNX shape inference failed: {' '.join(str(exc).split())[:500]}") from None
    model.CopyFrom(inferred)
    return model


def _spec(vi) -> TensorSpec:
    from onnx import helper

    elem = vi.type.tensor_type.elem_type
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(elem)).name if elem else "float32"
    except (KeyError, TypeError, ValueError):
        raise ModelLoadError(
            f"{vi.name!r} has element type {elem}, which ONNX does not define: the file is corrupt. Re-export it"
        ) from None
    return TensorSpec(name=vi.name, shape=_dims(vi), dtype=dtype)


def read(path: Path):
    """Parse an ``.onnx`` file (without its external data) or raise a ModelLoadError that says why not."""
    import onnx

    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except Exception as exc:  # google.protobuf DecodeError, OSError
        raise ModelLoadError(
            f"{path}: not a readable ONNX file ({type(exc).__name__}): corrupt or truncated? Re-export it"
        ) from None
    if not model.graph.node or not model.graph.output or not model.opset_import:
        raise ModelLoadError(
            f"{path}: not a valid ONNX model (no graph nodes, outputs or opset): the file is corrupt, truncated "
            "or not ONNX. Re-export it"
        )
    return model


def _constant_array(t, node, origin: str) -> np.ndarray:
    """A Constant's tensor as an array; its data must match its type and shape (onnx.checker does not check)."""
    from onnx import numpy_helper

    try:
        return numpy_helper.to_array(t)
    except (KeyError, ValueError, TypeError) as exc:  # unknown element type; data size that does not fit the dims
        raise ModelLoadError(
            f"{origin}: Constant node {node.output[0]!r} holds a tensor whose data does not match its type/shape "
            f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); the file is corrupt, re-export it"
        ) from None


def opset_of(model) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def sniff(path: Path) -> bool:
    """ONNX has no magic number: a file named ``.onnx`` (the protobuf is checked when it is read)."""
    return path.is_file() and path.suffix.lower() == ".onnx"


def load(path: Path, *, sha256: str, fmt: str = "onnx", input_shape=None, input_value=None, **_) -> SourceModel:
    import onnx

    from edgekit.runtimes.onnxruntime import session

    origin = str(path)
    model = read(path)
    notes = []
    if n := load_external_data(model, path.parent, origin):
        notes.append(f"read {n} tensor(s) from external data beside the model")
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx.checker.ValidationError (and C++ errors for unknown ops/opsets)
        raise ModelLoadError(
            f"{origin}: onnx.checker rejects the model: {' '.join(str(exc).split())[:500]}. Fix or re-export it"
        ) from None
    if n := constants_to_initializers(model, origin):
        notes.append(f"moved {n} Constant node(s) into initializers (their weights get quantized as weights)")
    if input_value:
        from edgekit.models.constants import fold, freeze_onnx

        notes += freeze_onnx(model, dict(input_value), origin)
    notes += fix_input_shapes(model, parse_input_shape(input_shape), origin)
    infer_shapes(model, origin)
    if input_value:
        model = fold(model, origin)
    sess = session(model.SerializeToString(), origin=origin)
    inputs = [_spec(i) for i in graph_inputs(model)]
    outputs = [_spec(o) for o in model.graph.output]
    batch = inputs[0].shape[0] if inputs and inputs[0].shape else None
    names = [i.name for i in inputs]

    def predict(xs: list[np.ndarray]) -> list[np.ndarray]:
        n = len(xs[0])
        step = batch or n  # a model with a fixed batch runs in chunks of that batch
        outs = []
        for s in range(0, n, step):
            real = min(step, n - s)
            idx = np.minimum(np.arange(s, s + step), n - 1)  # pad a short last chunk, drop the padding after
            feed = {name: np.asarray(x[idx], dtype=spec.dtype) for name, x, spec in zip(names, xs, inputs)}
            outs.append([o[:real] for o in _run(sess, feed, origin)])
        return [np.concatenate([o[k] for o in outs]).astype(np.float32) for k in range(len(outputs))]

    return SourceModel(
        path=path, format=fmt, sha256=sha256, inputs=inputs, outputs=outputs, predict=predict,
        onnx_model=model, notes=notes,
    )


def _run(sess, feed: dict, origin: str) -> list:
    """``sess.run``; a model that loaded but cannot run (a corrupt shape or attribute) is a ModelLoadError."""
    from edgekit.runtimes.onnxruntime import run_errors

    try:
        return sess.run(None, feed)
    except run_errors() as exc:
        raise ModelLoadError(f"{origin}: onnxruntime cannot run this model ({' '.join(str(exc).split())[:300]})") from None
