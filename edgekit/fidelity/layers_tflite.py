"""Per-layer error of a full-integer TFLite conversion, through TF's QuantizationDebugger.

The debugger calibrates once and re-quantizes the calibrated model with NumericVerify ops: each one takes a
quantized op's output and the same op run in float on the dequantized inputs. The debug model's tensors are
read directly (our own matching of the NumericVerify pairs), one sample at a time."""

from __future__ import annotations

import warnings

import numpy as np

from edgekit._lazy import capture_native_stderr
from edgekit._lazy import tf as _tf
from edgekit.errors import ConversionError
from edgekit.fidelity.layers import LayerReport, _Acc
from edgekit.models.base import SourceModel

NUMERIC_VERIFY = "NumericVerify"


def calibrated_debugger(model: SourceModel, calibration: np.ndarray, denylisted_nodes: tuple[str, ...] = ()):
    """A ``tf.lite.experimental.QuantizationDebugger`` over the model, calibrated on ``calibration`` (one
    sample at a time, in order). Its ``calibrated_model`` re-quantizes without calibrating again."""
    if model.tf_function is None:
        raise ConversionError(f"{model.path}: {model.format} models cannot be converted to TFLite by edgekit")
    tf = _tf()
    fn = model.tf_function(1)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    samples = np.asarray(calibration, np.float32)

    def representative():
        for s in samples:
            yield [s[None, ...]]

    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    opts = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=list(denylisted_nodes) or None)
    with capture_native_stderr() as cap, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")  # the debugger's own
        try:
            return tf.lite.experimental.QuantizationDebugger(
                converter=conv, debug_dataset=lambda: ([s[None, ...]] for s in samples[:1]), debug_options=opts
            )
        except Exception as exc:  # ConverterError, ValueError
            detail = " ".join(f"{exc} {cap.text}".split())[:600]
    raise ConversionError(f"{model.path}: TF's quantization debugger could not convert the model: {detail}")


def _interpreter(content: bytes):
    from tensorflow.lite.python import interpreter  # the TF interpreter registers NumericVerify (LiteRT does not)

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
        it = interpreter.Interpreter(
        model_content=content, experimental_preserve_all_tensors=True,
            experimental_op_resolver_type=interpreter.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
    it.allocate_tensors()
    return it


def _float_name(nv_name: str) -> str:
    """The original op-output tensor name (what ``denylisted_nodes`` takes) of a NumericVerify output named
    ``NumericVerify/{name}{digit}:{index}`` (TF's own rule, ``QuantizationDebugger._get_operand_name_and_index``)."""
    name = nv_name.rsplit(":", 1)[0][len(NUMERIC_VERIFY) + 1 :]
    return name[:-1] if name and name[-1].isdigit() else name


def layer_report(model: SourceModel, calibration: np.ndarray, inputs: np.ndarray, *, debugger=None) -> LayerReport:
    """Per-layer error of the int8 conversion of ``model`` on ``inputs`` (float32, (N, *sample))."""
    dbg = debugger or calibrated_debugger(model, calibration)
    with capture_native_stderr(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        it = _interpreter(dbg.get_debug_quantized_model())
    ops = it._get_ops_details()  # noqa: SLF001 - the debugger reads the same op table
    defining = {t: op for op in ops for t in op["outputs"]}
    pairs = []
    for op in ops:
        if op["op_name"] != NUMERIC_VERIFY:
            continue
        q_idx, f_idx = op["inputs"][:2]
        nv_name = it._get_tensor_details(op["outputs"][0], 0)["name"]  # noqa: SLF001
        qd = it._get_tensor_details(q_idx, 0)  # noqa: SLF001
        name = _float_name(nv_name)
        qp = qd["quantization_parameters"]
        scale, zp = float(qp["scales"][0]), int(qp["zero_points"][0])
        src = defining.get(q_idx)
        pairs.append((name, src["op_name"] if src else "?", q_idx, f_idx, scale, zp))
    accs = {p[0]: _Acc() for p in pairs}
    inp = it.get_input_details()[0]
    for x in np.asarray(inputs, np.float32):
        feed = x[None, ...]
        if inp["dtype"] != np.float32:
            s, z = inp["quantization"]
            feed = np.clip(np.round(feed / s + z), -128, 127).astype(inp["dtype"])
        it.set_tensor(inp["index"], feed)
        it.invoke()
        for name, _, q_idx, f_idx, scale, zp in pairs:
            q = (it.get_tensor(q_idx).astype(np.float64) - zp) * scale
            accs[name].add(it.get_tensor(f_idx), q)
    names = {q_idx: n for n, _, q_idx, _, _, _ in pairs}
    readers: dict[int, list[str]] = {}
    for op in ops:
        if op["op_name"] != NUMERIC_VERIFY:
            for i in op["inputs"]:
                readers.setdefault(int(i), []).extend(names[o] for o in op["outputs"] if o in names)
    layers = tuple(accs[n].result(n, op, s, tuple(dict.fromkeys(readers.get(q, [])))) for n, op, q, _, s, _ in pairs)
    return LayerReport(format="tflite", compare="local", samples=len(inputs), layers=layers)
