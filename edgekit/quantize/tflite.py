"""TFLiteConverter in each of its post-training modes: fp32, fp16, dynamic range, full int8 (int8 or uint8
IO) and 16x8. Traces the model's ``tf.function`` at a static batch of 1 (static shapes for every target)."""

from __future__ import annotations

import re
import warnings

import numpy as np

from edgekit._lazy import capture_native_stderr
from edgekit._lazy import tf as _tf
from edgekit.errors import CalibrationError, ConversionError, TargetConstraintError
from edgekit.models.base import SourceModel
from edgekit.targets import Precision

_OP_RE = re.compile(r"'(?:tf|tfl)\.([A-Za-z0-9_]+)'")
_NO_KERNEL_RE = re.compile(r"'tf\.([A-Za-z0-9_]+)' op is neither a custom op nor a flex op")


def _unsupported_ops(log: str) -> list[str]:
    ops = sorted(set(_OP_RE.findall(log)))
    return ops


_FAKE_QUANT_OPS = frozenset({"FakeQuantWithMinMaxVars", "FakeQuantWithMinMaxVarsPerChannel", "FakeQuantWithMinMaxArgs"})


def has_fake_quant(concrete) -> bool:
    """Whether a traced graph holds fake-quantization nodes (a quantization-aware-trained model)."""
    gd = concrete.graph.as_graph_def()
    nodes = [n for n in gd.node] + [n for f in gd.library.function for n in f.node_def]
    return any(n.op in _FAKE_QUANT_OPS for n in nodes)


def _converter(model: SourceModel):
    """The TFLiteConverter for ``model`` at batch 1, whether it is quantization-aware (fake-quant nodes), and
    the names of the traced function's inputs (the signature's)."""
    tf = _tf()
    if model.tflite_converter is not None:  # e.g. a legacy SavedModel: TF's v1 converter, no tf.function
        return model.tflite_converter(1), False, None
    if model.tf_function is None:
        raise ConversionError(f"{model.path}: {model.format} models cannot be converted to TFLite by edgekit")
    fn = model.tf_function(1)
    concrete = fn.get_concrete_function()
    names = [s.name for s in fn.input_signature]
    return tf.lite.TFLiteConverter.from_concrete_functions([concrete], fn), has_fake_quant(concrete), names


def representative(calibration, names: list[str] | None, origin: str):
    """A representative dataset: one sample at a time, in the given order. Arrays are picked by the traced
    signature's input names and yielded as a list in its input order (TF's converter takes dicts only for
    models with a SignatureDef, which ``from_concrete_functions`` models do not have while calibrating)."""
    if isinstance(calibration, dict):
        arrays = {k: np.asarray(v, np.float32) for k, v in calibration.items()}
    elif names is not None and len(names) == 1:
        arrays = {names[0]: np.asarray(calibration, dtype=np.float32)}
    else:  # no names known (TF's v1 converter): a list in input order
        arrays = None
    if arrays is None:
        samples = np.asarray(calibration, dtype=np.float32)
        return lambda: ([s[None, ...]] for s in samples)
    if names is not None:
        from edgekit.runtimes.harness import name_key

        by_key = {name_key(k): v for k, v in arrays.items()}
        missing = [n for n in names if n not in arrays and name_key(n) not in by_key]
        if missing:
            raise CalibrationError(f"{origin}: no calibration array for input(s) {', '.join(missing)}")
        arrays = {n: arrays[n] if n in arrays else by_key[name_key(n)] for n in names}
    n = len(next(iter(arrays.values())))
    order = list(arrays.values())
    return lambda: ([v[i][None, ...] for v in order] for i in range(n))


def _configure(conv, precision: Precision, io_dtype: str, qat: bool, data) -> None:
    tf = _tf()
    if qat:  # the learned ranges quantize the graph; no representative dataset (it would re-calibrate them)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        if io_dtype in ("int8", "uint8"):
            conv.inference_input_type = getattr(tf, io_dtype)
            conv.inference_output_type = getattr(tf, io_dtype)
    elif precision == Precision.FP16:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif precision == Precision.DYNAMIC:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif precision.full_integer:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = data
        if precision == Precision.INT8:
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            if io_dtype in ("int8", "uint8"):
                conv.inference_input_type = getattr(tf, io_dtype)
                conv.inference_output_type = getattr(tf, io_dtype)
        else:
            conv.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
            ]


def convert(
    model: SourceModel,
    precision: Precision,
    *,
    io_dtype: str = "float32",
    calibration=None,
) -> bytes:
    """Return the ``.tflite`` flatbuffer for ``model`` at ``precision``.

    ``calibration`` (float32 ``(N, *sample_shape)`` for a one-input model, else ``{input name: array}``) is
    required for the full-integer precisions; samples are fed in their given order, one at a time, as dicts
    keyed by the signature's input names, so the same data gives the same ranges. A graph with fake-quant
    nodes (QAT) converts to int8 with its learned ranges, without calibration.
    """
    conv, qat, names = _converter(model)
    if qat and precision != Precision.INT8:
        raise ConversionError(
            f"{model.path}: the model holds fake-quantization nodes (quantization-aware training), which convert "
            f"to int8 only, not {precision.value}: use --precision int8"
        )
    data = None
    if precision.full_integer and not qat:
        if calibration is None:
            raise ValueError("full-integer conversion needs calibration samples")
        data = representative(calibration, names, str(model.path))
    _configure(conv, precision, io_dtype, qat, data)
    with capture_native_stderr() as cap, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        try:
            return bytes(conv.convert())
        except Exception as exc:  # ConverterError and friends
            err = exc
    raise _explain(model, precision, err, cap.text) from None


def _explain(model: SourceModel, precision: Precision, err: Exception, log: str) -> Exception:
    text = f"{err}\n{log}"
    missing = sorted(set(_NO_KERNEL_RE.findall(text)))
    if missing:
        return ConversionError(
            f"{model.path}: these TensorFlow ops have no TFLite builtin kernel: {', '.join(missing)}. "
            "Replace them with supported ops in the model (edgekit does not emit Flex/select-TF-ops "
            "models: edge runtimes do not ship them)"
        )
    if precision.full_integer:
        ops = _unsupported_ops(text)
        detail = ", ".join(ops) if ops else f"(converter: {' '.join(str(err).split())[:400]})"
        return TargetConstraintError(
            f"{model.path}: cannot convert to full-integer {precision.value}: these ops have no integer "
            f"kernel: {detail}. Replace them in the model, or choose a target/precision that allows float "
            "ops (e.g. --precision dynamic or fp16)"
        )
    return ConversionError(f"{model.path}: the TFLite converter failed: {' '.join(str(err).split())[:1500]}")
