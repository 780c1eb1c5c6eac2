""".tflite flatbuffers as a *source* model: run with LiteRT (the reference artifacts are validated against) and
quantized by ai-edge-quantizer (:mod:`edgekit.quantize.aeq`).

One signature is used. A model with several picks ``signature=`` (``--signature``); the prepared flatbuffer
keeps only that one. A model with none (older converters wrote none) gets ``serving_default`` naming its
subgraph-0 inputs and outputs by tensor name: ai-edge-quantizer calibrates through signature runners.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit._lazy import capture_native_stderr
from edgekit.errors import ModelLoadError
from edgekit.models.base import SourceModel, TensorSpec

IDENTIFIER = b"TFL3"  # the flatbuffer file identifier, bytes 4..8
DEFAULT_SIGNATURE = "serving_default"
LOADER = "litert"


def sniff(path: Path) -> bool:
    """Whether ``path`` is a TFLite flatbuffer (by its file identifier, not its name)."""
    if not path.is_file():
        return False
    with open(path, "rb") as f:
        return f.read(8)[4:8] == IDENTIFIER


def read_object(data: bytes, origin: str):
    """The flatbuffer as ai-edge-litert's object API (``ModelT``)."""
    from ai_edge_litert.tools import flatbuffer_utils

    try:
        return flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    except Exception as exc:  # noqa: BLE001 - flatbuffers raises struct/index errors on a corrupt file
        raise ModelLoadError(f"{origin}: not a readable .tflite flatbuffer ({type(exc).__name__}); is the file complete?") from None


def is_quantized(model_obj) -> bool:
    """Any tensor with quantization scales: an int8/int16 (or dynamic-range) model, not a float one.
    fp16-weight models (float16 constants + DEQUANTIZE) are float: their tensors carry no scales."""
    return any(
        t.quantization is not None and t.quantization.scale is not None and len(t.quantization.scale) > 0
        for sg in model_obj.subgraphs
        for t in sg.tensors
    )


def signature_key(model_obj) -> str:
    """The key of the first signature."""
    k = model_obj.signatureDefs[0].signatureKey
    return k.decode() if isinstance(k, bytes) else str(k)


def _name(t) -> str:
    n = t.name
    return n.decode() if isinstance(n, bytes) else str(n)


def prepare(data: bytes, signature: str | None, origin: str) -> tuple[bytes, str, list[str]]:
    """The flatbuffer with exactly one signature and current operator codes: ``(bytes, signature_key, notes)``."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    obj = read_object(data, origin)
    notes = []
    if _upgrade_opcodes(obj):
        notes.append("old-schema operator codes (deprecated_builtin_code only) copied to builtin_code")
    folded = _fold_fp16_weights(obj)
    if folded:
        notes.append(f"fp16 weights widened to fp32 ({folded} DEQUANTIZE op(s) folded) for the quantizer")
    sigs = list(obj.signatureDefs or [])
    keys = [k.decode() if isinstance(k, bytes) else str(k) for k in (s.signatureKey for s in sigs)]
    if not sigs:
        if signature not in (None, DEFAULT_SIGNATURE):
            raise ModelLoadError(f"{origin}: the model has no signatures, so no {signature!r}; drop --signature")
        sg = obj.subgraphs[0]
        sd = schema.SignatureDefT()
        sd.signatureKey, sd.subgraphIndex = DEFAULT_SIGNATURE, 0
        sd.inputs, sd.outputs = [], []
        for idxs, dst in ((sg.inputs, sd.inputs), (sg.outputs, sd.outputs)):
            for i in idxs:
                m = schema.TensorMapT()
                m.name, m.tensorIndex = _name(sg.tensors[i]), int(i)
                dst.append(m)
        obj.signatureDefs = [sd]
        notes.append(f"the model has no signature: added {DEFAULT_SIGNATURE!r} over subgraph 0's inputs and outputs")
        return bytes(flatbuffer_utils.convert_object_to_bytearray(obj)), DEFAULT_SIGNATURE, notes
    if signature is None and len(sigs) > 1:
        raise ModelLoadError(
            f"{origin}: the model has {len(sigs)} signatures ({', '.join(keys)}); pick one with --signature NAME"
        )
    key = keys[0] if signature is None else signature
    if key not in keys:
        raise ModelLoadError(f"{origin}: no signature {signature!r}; it has: {', '.join(keys)}. Pass one of them to --signature")
    if len(sigs) > 1:
        obj.signatureDefs = [sigs[keys.index(key)]]
        notes.append(f"signature {key!r} of {', '.join(keys)}: the others are dropped")
        _first_subgraph(obj, key, origin)
    if not notes:
        return data, key, notes  # unchanged, byte for byte
    return bytes(flatbuffer_utils.convert_object_to_bytearray(obj)), key, notes


_SUBGRAPH_OPS = ("IF", "WHILE", "CALL_ONCE", "STABLEHLO_")  # ops that refer to subgraphs by index


def _first_subgraph(obj, key: str, origin: str) -> None:
    """Make the kept signature's subgraph subgraph 0 (the one interpreters run without a signature runner,
    and the one edgekit's runners and the device harness read), swapping it with the first."""
    from ai_edge_litert import schema_py_generated as schema

    sd = obj.signatureDefs[0]
    k = int(sd.subgraphIndex)
    if k == 0:
        return
    names = {v: n for n, v in vars(schema.BuiltinOperator).items() if not n.startswith("_")}
    used = {names.get(max(c.builtinCode, c.deprecatedBuiltinCode), "") for c in obj.operatorCodes or []}
    if any(u.startswith(_SUBGRAPH_OPS) for u in used):
        raise ModelLoadError(
            f"{origin}: signature {key!r} runs subgraph {k}, and the model has control-flow ops that refer to "
            "subgraphs by index, so edgekit cannot make it the first subgraph; export that signature on its own"
        )
    obj.subgraphs[0], obj.subgraphs[k] = obj.subgraphs[k], obj.subgraphs[0]
    sd.subgraphIndex = 0


def _fold_fp16_weights(obj) -> int:
    """Replace ``DEQUANTIZE(float16 constant)`` by the float32 constant (exact): ai-edge-quantizer sees the
    DEQUANTIZE's output as an activation, not as a weight it can quantize."""
    from ai_edge_litert import schema_py_generated as schema

    dq = {i for i, c in enumerate(obj.operatorCodes or []) if max(c.builtinCode, c.deprecatedBuiltinCode)
          == schema.BuiltinOperator.DEQUANTIZE}
    folded = 0
    for sg in obj.subgraphs:
        keep = []
        for op in sg.operators:
            src = sg.tensors[op.inputs[0]] if op.opcodeIndex in dq and len(op.inputs) == 1 else None
            data = None if src is None else obj.buffers[src.buffer].data
            if src is None or data is None or src.type != schema.TensorType.FLOAT16:
                keep.append(op)
                continue
            buf = schema.BufferT()
            buf.data = np.frombuffer(np.asarray(data, np.uint8).tobytes(), np.float16).astype("<f4").view(np.uint8)
            obj.buffers.append(buf)
            dst = sg.tensors[op.outputs[0]]
            dst.buffer = len(obj.buffers) - 1
            folded += 1
        sg.operators = keep
    return folded


def _upgrade_opcodes(obj) -> bool:
    """Models from old converters set only ``deprecated_builtin_code`` (LiteRT reads the larger of the two;
    ai-edge-quantizer reads ``builtin_code`` and would see every op as ADD)."""
    changed = False
    for code in obj.operatorCodes or []:
        if code.builtinCode < code.deprecatedBuiltinCode:
            code.builtinCode, changed = code.deprecatedBuiltinCode, True
    return changed


def _spec(name: str, d: dict) -> TensorSpec:
    shape = [int(s) for s in d["shape"]]
    if shape and shape[0] == 1:
        shape[0] = None  # run one sample at a time: any number of samples
    return TensorSpec(name=name, shape=tuple(shape), dtype=np.dtype(d["dtype"]).name)


# What a corrupt flatbuffer raises from the object API and from LiteRT's tensor details: None where a table
# should be, indices past the end, names that are not UTF-8 (UnicodeDecodeError is a ValueError).
_MALFORMED = (AttributeError, IndexError, KeyError, TypeError, ValueError)


def _one(text) -> str:
    return " ".join(str(text).split())[:300]


def _read(data: bytes, signature: str | None, origin: str) -> tuple[bytes, str, list[str], bool]:
    """:func:`prepare` and :func:`is_quantized`, with a malformed flatbuffer refused as a ModelLoadError."""
    try:
        data, key, notes = prepare(data, signature, origin)
        return data, key, notes, is_quantized(read_object(data, origin))
    except ModelLoadError:
        raise
    except _MALFORMED as exc:
        raise ModelLoadError(
            f"{origin}: a malformed .tflite flatbuffer ({type(exc).__name__}: {_one(exc)}); is the file complete and unmodified?"
        ) from None


def _open_signature(data: bytes, key: str, origin: str):
    """LiteRT's runner for signature ``key`` and its input/output details (``{name: detail}``)."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        with capture_native_stderr():
            it = Interpreter(model_content=data, num_threads=1)
            runner = it.get_signature_runner(key)
            return runner, runner.get_input_details(), runner.get_output_details()
    except Exception as exc:  # noqa: BLE001 - LiteRT raises ValueError/RuntimeError for unknown ops etc., and
        # TypeError/UnicodeDecodeError reading the tensors of a corrupt file
        raise ModelLoadError(f"{origin}: LiteRT cannot load this model ({_one(exc)})") from None


def load(path: Path, *, sha256: str, fmt: str = "tflite", unsafe: bool = False, signature: str | None = None, **_) -> SourceModel:
    from edgekit.runtimes.harness import _natural
    from edgekit.runtimes.isolation import check_loads

    origin = str(path)
    check_loads(path, runtime="ai_edge_litert")  # a hostile .tflite can crash LiteRT in-process
    data, key, notes, quantized = _read(path.read_bytes(), signature, origin)
    runner, ins, outs = _open_signature(data, key, origin)
    in_names, out_names = list(ins), sorted(outs, key=_natural)  # outputs in the order LiteRTRunner gives them
    inputs = [_spec(n, ins[n]) for n in in_names]
    outputs = [_spec(n, outs[n]) for n in out_names]
    batch = [int(ins[n]["shape"][0]) if len(ins[n]["shape"]) else 1 for n in in_names]

    def predict(xs: list[np.ndarray]) -> list[np.ndarray]:
        n = len(xs[0])
        res: list[list[np.ndarray]] = [[] for _ in out_names]
        for i in range(n):  # static batch of 1: one sample at a time
            feed = {k: np.asarray(x[i : i + 1], dtype=s.dtype) for k, s, x in zip(in_names, inputs, xs)}
            try:
                got = runner(**feed)
            except RuntimeError as exc:  # a corrupt graph fails to prepare (or to run) on the first call, not at load
                raise ModelLoadError(f"{path}: LiteRT cannot run this model ({_one(exc)})") from None
            for j, k in enumerate(out_names):
                res[j].append(np.asarray(got[k], dtype=np.float32))
        return [np.concatenate(r) for r in res]

    if any(b != 1 for b in batch):
        raise ModelLoadError(f"{path}: inputs with a batch dimension other than 1 ({batch}) are not supported yet")
    if quantized:
        notes.append("already quantized: edgekit validates and benchmarks it, it does not quantize it again")
    return SourceModel(
        path=path, format=fmt, sha256=sha256, inputs=inputs, outputs=outputs, predict=predict,
        tf_function=None, loader=LOADER, tflite_bytes=data, notes=notes,
    )
