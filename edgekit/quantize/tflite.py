"""TFLiteConverter in each of its post-training modes: fp32, fp16, dynamic range, full int8 (int8 or uint8
IO) and 16x8. Traces the model's ``tf.function`` at a static batch of 1 (static shapes for every target)."""

from __future__ import annotations

import re
import warnings

import numpy as np

from edgekit._lazy import capture_native_stderr
from edgekit._lazy import tf as _tf
from edgekit.errors import ConversionError, TargetConstraintError
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


def convert(
    model: SourceModel,
    precision: Precision,
    *,
    io_dtype: str = "float32",
    calibration: np.ndarray | None = None,
) -> bytes:
    """Return the ``.tflite`` flatbuffer for ``model`` at ``precision``.

    ``calibration`` (float32, (N, *sample_shape)) is required for the full-integer precisions; samples are
    fed in their given order, one at a time, so the same data gives the same ranges. A graph with fake-quant
    nodes (QAT) converts to int8 with its learned ranges, without calibration.
    """
    tf = _tf()
    if model.tflite_converter is not None:  # e.g. a legacy SavedModel: TF's v1 converter, no tf.function
        conv, qat = model.tflite_converter(1), False
    elif model.tf_function is not None:
        fn = model.tf_function(1)
        concrete = fn.get_concrete_function()
        conv = tf.lite.TFLiteConverter.from_concrete_functions([concrete], fn)
        qat = has_fake_quant(concrete)
    else:
        raise ConversionError(f"{model.path}: {model.format} models cannot be converted to TFLite by edgekit")
    if qat and precision != Precision.INT8:
        raise ConversionError(
            f"{model.path}: the model holds fake-quantization nodes (quantization-aware training), which convert "
            f"to int8 only, not {precision.value}: use --precision int8"
        )
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
        if calibration is None:
            raise ValueError("full-integer conversion needs calibration samples")
        samples = np.asarray(calibration, dtype=np.float32)

        def representative():
            for s in samples:
                yield [s[None, ...]]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        if precision == Precision.INT8:
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            if io_dtype in ("int8", "uint8"):
                conv.inference_input_type = getattr(tf, io_dtype)
                conv.inference_output_type = getattr(tf, io_dtype)
        else:
            conv.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
            ]
    with capture_native_stderr() as cap, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        try:
            data = conv.convert()
            err = None
        except Exception as exc:  # ConverterError and friends
            data, err = None, exc
    if err is not None:
        text = f"{err}\n{cap.text}"
        missing = sorted(set(_NO_KERNEL_RE.findall(text)))
        if missing:
            raise ConversionError(
                f"{model.path}: these TensorFlow ops have no TFLite builtin kernel: {', '.join(missing)}. "
                "Replace them with supported ops in the model (edgekit does not emit Flex/select-TF-ops "
                "models: edge runtimes do not ship them)"
            ) from None
        if precision.full_integer:
            ops = _unsupported_ops(text)
            detail = ", ".join(ops) if ops else f"(converter: {' '.join(str(err).split())[:400]})"
            raise TargetConstraintError(
                f"{model.path}: cannot convert to full-integer {precision.value}: these ops have no integer "
                f"kernel: {detail}. Replace them in the model, or choose a target/precision that allows float "
                "ops (e.g. --precision dynamic or fp16)"
            ) from None
        raise ConversionError(f"{model.path}: the TFLite converter failed: {' '.join(str(err).split())[:1500]}") from None
    return bytes(data)
