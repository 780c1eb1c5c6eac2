"""Read a ``.tflite`` flatbuffer with the ``tflite`` package: op codes (builtin or custom), op versions,
builtin options (fused activation & co.), tensor shapes, types and constant buffers. No string matching on
names, no TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgekit.errors import ModelLoadError

TFLITE_MAGIC = b"TFL3"


@dataclass(frozen=True)
class TensorInfo:
    index: int
    name: str
    dtype: str  # "int8", "float32", ... (the schema's TensorType name, lower case)
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]  # -1 where the dimension is dynamic
    is_const: bool  # backed by a non-empty buffer
    nbytes: int  # bytes of the constant buffer (0 for runtime tensors)
    values: np.ndarray | None = None  # small integer constants (axes, paddings, strides), else None

    @property
    def is_static(self) -> bool:
        return all(d >= 0 for d in self.shape_signature)

    @property
    def dims_gt1(self) -> int:
        return sum(1 for d in self.shape if d > 1)


@dataclass(frozen=True)
class OpInfo:
    index: int
    op: str  # builtin name (CONV_2D) or the custom op's name
    custom: bool
    version: int
    inputs: tuple[TensorInfo | None, ...]  # None for an optional input left out (-1)
    outputs: tuple[TensorInfo, ...]
    options: dict = field(default_factory=dict)  # builtin options, snake_case field -> value


@dataclass(frozen=True)
class Graph:
    ops: tuple[OpInfo, ...]
    subgraphs: int
    description: str


def _names(enum_cls) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and (not name[i - 1].isupper() or (i + 1 < len(name) and name[i + 1].islower())):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def _options(op, tflite) -> dict:
    """Decode the op's builtin options table into a dict through the generated class's accessors."""
    table = op.BuiltinOptions()
    opt_type = op.BuiltinOptionsType()
    if table is None or opt_type == 0:
        return {}
    cls_name = _names(tflite.BuiltinOptions).get(opt_type)
    cls = getattr(tflite, cls_name, None) if cls_name else None
    if cls is None:
        return {}
    obj = cls()
    obj.Init(table.Bytes, table.Pos)
    out: dict = {}
    for attr in dir(cls):
        if attr.startswith("_") or attr in ("Init", "GetRootAs") or attr.startswith("GetRootAs"):
            continue
        if attr.endswith(("AsNumpy", "Length", "IsNone", "BufferHasIdentifier")):
            continue
        fn = getattr(obj, attr)
        if not callable(fn):
            continue
        try:
            val = fn()
        except TypeError:  # vector accessors need an index
            continue
        if isinstance(val, (int, float, bool)):
            out[_snake(attr)] = val
    return out


def _tensor(model, sub, idx: int, type_names: dict, tflite) -> TensorInfo:
    t = sub.Tensors(idx)
    buf = model.Buffers(t.Buffer())
    nbytes = 0
    values = None
    dtype = type_names.get(t.Type(), str(t.Type())).lower()
    if buf is not None and buf.DataLength() > 0:
        nbytes = buf.DataLength()
        if dtype in ("int32", "int64") and nbytes <= 4096:
            values = buf.DataAsNumpy().view(np.dtype(dtype))
    elif buf is not None and buf.Size() > 0:  # large models keep buffers outside the flatbuffer (offset/size)
        nbytes = int(buf.Size())
    shape = tuple(int(x) for x in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    sig = tuple(int(x) for x in t.ShapeSignatureAsNumpy()) if t.ShapeSignatureLength() else shape
    name = t.Name().decode("utf-8", "replace") if t.Name() else f"t{idx}"
    return TensorInfo(idx, name, dtype, shape, sig, nbytes > 0, nbytes, values)


def read_graph(data: bytes) -> Graph:
    """Parse the main subgraph of a .tflite flatbuffer. Raises ModelLoadError for anything that is not one."""
    import tflite

    if len(data) < 8 or data[4:8] != TFLITE_MAGIC:
        raise ModelLoadError(
            "not a TensorFlow Lite flatbuffer (no 'TFL3' identifier at byte 4); pass a .tflite file"
        )
    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        sub = model.Subgraphs(0)
        op_names = _names(tflite.BuiltinOperator)
        type_names = _names(tflite.TensorType)
        ops = []
        for i in range(sub.OperatorsLength()):
            op = sub.Operators(i)
            oc = model.OperatorCodes(op.OpcodeIndex())
            code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
            custom = code == tflite.BuiltinOperator.CUSTOM
            name = oc.CustomCode().decode() if custom and oc.CustomCode() else op_names.get(code, f"OP_{code}")
            ins = tuple(
                None if j < 0 else _tensor(model, sub, int(j), type_names, tflite)
                for j in (op.InputsAsNumpy() if op.InputsLength() else [])
            )
            outs = tuple(_tensor(model, sub, int(j), type_names, tflite) for j in op.OutputsAsNumpy())
            ops.append(OpInfo(i, name, bool(custom), int(oc.Version()), ins, outs, _options(op, tflite)))
        desc = model.Description().decode("utf-8", "replace") if model.Description() else ""
        return Graph(tuple(ops), int(model.SubgraphsLength()), desc)
    except ModelLoadError:
        raise
    except Exception as exc:  # a truncated or corrupt flatbuffer surfaces as struct/index errors
        raise ModelLoadError(f"the .tflite flatbuffer is corrupt or truncated ({type(exc).__name__}: {exc})") from exc
