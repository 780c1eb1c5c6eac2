"""Known-bad patterns of device runtimes (``targets/device/quirks.toml``): detect them in a .tflite, and
rewrite the artifact so it runs where a fix exists.

Detection parses the flatbuffer with the ``tflite`` package; the rewrite uses the flatbuffer object API
of the schema shipped in ``ai_edge_litert`` (``schema_py_generated``). Both imported lazily.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from edgekit.manifest.device import QuirkFinding  # noqa: F401  (re-exported)
from edgekit.targets import DeviceRuntime


class Quirk(BaseModel):
    """One known-bad pattern: what matches, what happens, how it is fixed, and the test that shows it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    runtime: str
    versions: tuple[str, ...]
    arch: str
    op: str
    input_types: tuple[str, ...] = ()
    bias: Literal["absent", "any"] = "any"
    min_rows: int = 1
    effect: str
    fix: Literal["zero-bias", "none"]
    test: str

    def applies_to(self, runtime: DeviceRuntime, arch: str) -> bool:
        return runtime.name == self.runtime and runtime.version in self.versions and arch == self.arch


@lru_cache(maxsize=1)
def known_quirks() -> tuple[Quirk, ...]:
    text = (resources.files("edgekit._profiles") / "device" / "quirks.toml").read_text()
    return tuple(Quirk(**q) for q in tomllib.loads(text)["quirks"])


def _names(cls) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def _op_features(model, sg, op, op_names, type_names) -> dict:
    code = model.OperatorCodes(op.OpcodeIndex())
    ins = op.InputsAsNumpy().tolist() if op.InputsLength() else []
    first = sg.Tensors(ins[0]) if ins and ins[0] >= 0 else None
    shape = first.ShapeAsNumpy().tolist() if first is not None and first.ShapeLength() else []
    return {
        "op": op_names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM"),
        "input_type": type_names.get(first.Type(), "?") if first is not None else "?",
        "bias_absent": len(ins) < 3 or ins[2] < 0,
        "rows": int(np.prod(shape[:-1])) if len(shape) > 1 else 1,
        "output": sg.Tensors(op.Outputs(0)).Name().decode() if op.OutputsLength() else "",
    }


def _matches(q: Quirk, f: dict) -> bool:
    return (
        f["op"] == q.op
        and (not q.input_types or f["input_type"] in q.input_types)
        and (q.bias == "any" or f["bias_absent"])
        and f["rows"] >= q.min_rows
    )


def detect(data: bytes, runtimes: tuple[DeviceRuntime, ...], arch: str) -> list[QuirkFinding]:
    """Every (operator, runtime) of ``data`` that matches a known quirk of that runtime on ``arch``."""
    import tflite
    from tflite.BuiltinOperator import BuiltinOperator
    from tflite.TensorType import TensorType

    quirks = [(q, rt) for rt in runtimes for q in known_quirks() if q.applies_to(rt, arch)]
    if not quirks:
        return []
    op_names, type_names = _names(BuiltinOperator), _names(TensorType)
    model = tflite.Model.GetRootAsModel(data, 0)
    found = []
    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)
        for i in range(sg.OperatorsLength()):
            f = _op_features(model, sg, sg.Operators(i), op_names, type_names)
            for q, rt in quirks:
                if _matches(q, f):
                    found.append(QuirkFinding(quirk=q.id, runtime=rt.name, version=rt.version, subgraph=s, operator=i,
                                              op=f["op"], output=f["output"], effect=q.effect, fix=q.fix, test=q.test))
    return found


def fix(data: bytes, findings: list[QuirkFinding]) -> tuple[bytes, list[QuirkFinding]]:
    """Rewrite ``data`` so the fixable findings no longer match; returns (new bytes, findings with ``fixed``).
    Unfixable findings are returned unchanged (``fixed`` false). Same input -> same bytes."""
    todo = sorted({(f.subgraph, f.operator) for f in findings if f.fix == "zero-bias"})
    if not todo:
        return data, findings
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools.flatbuffer_utils import convert_object_to_bytearray, read_model_from_bytearray

    model = read_model_from_bytearray(bytearray(data))
    for s, i in todo:
        _add_zero_bias(model, model.subgraphs[s], model.subgraphs[s].operators[i], schema)
    out = bytes(convert_object_to_bytearray(model))
    return out, [f.model_copy(update={"fixed": (f.subgraph, f.operator) in todo}) for f in findings]


def _add_zero_bias(model, sg, op, schema) -> None:
    """Give an int8 FULLY_CONNECTED an explicit int32 zero bias: one value per output unit, scale =
    input scale x weight scale (per channel when the weights are), zero point 0."""
    x, w = sg.tensors[op.inputs[0]], sg.tensors[op.inputs[1]]
    units = int(w.shape[0])
    w_scale = np.asarray(w.quantization.scale, dtype=np.float64)
    scale = (float(x.quantization.scale[0]) * (w_scale if w_scale.size > 1 else np.repeat(w_scale, units)))
    buf = schema.BufferT()
    buf.data = np.zeros(units * 4, dtype=np.uint8)
    model.buffers.append(buf)
    q = schema.QuantizationParametersT()
    q.scale = [float(v) for v in scale.astype(np.float32)]
    q.zeroPoint = [0] * units
    q.quantizedDimension = 0
    t = schema.TensorT()
    t.shape = [units]
    t.type = schema.TensorType.INT32
    t.buffer = len(model.buffers) - 1
    name = sg.tensors[op.outputs[0]].name
    t.name = (name.decode() if isinstance(name, bytes) else name) + "/edgekit_zero_bias"
    t.quantization = q
    sg.tensors.append(t)
    op.inputs = [op.inputs[0], op.inputs[1], len(sg.tensors) - 1]
