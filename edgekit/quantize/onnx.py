"""ONNX Runtime quantization: static QDQ int8 (minmax / percentile / entropy calibration, per-channel weights,
symmetric or asymmetric activations), int16x8, dynamic int8, and fp16 weights.

``quant_pre_process`` (shape inference + ORT graph optimisation) runs before static quantization, as ORT
recommends. Calibration samples are fed one at a time in their given order: same data, same bytes.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from edgekit._lazy import capture_native_stderr
from edgekit.configfile import pydantic_errors
from edgekit.errors import CalibrationError, ConfigError, ConversionError
from edgekit.models.onnx import graph_inputs
from edgekit.targets import OnnxOptions, Precision, TargetProfile

QUANT_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"}
ENTROPY_BINS, ENTROPY_QUANTIZED_BINS = 2048, 128
# calibration batches held in memory at once (ORT's CalibMaxIntermediateOutputs for minmax; chunks fed to the
# histogram calibrators): peak memory no longer grows with the number of samples
CALIB_CHUNK = 16
# ops that only move or reshape data: a float one of these is not arithmetic left in float
LAYOUT_OPS = {"Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Shape", "Size", "Cast"}


def options(profile: TargetProfile, **overrides) -> OnnxOptions:
    """The profile's ``[onnx]`` options with the user's overrides (None = keep the profile's) applied."""
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(given) - set(OnnxOptions.model_fields))
    if unknown:
        raise ConfigError(f"unknown ONNX option(s) {', '.join(unknown)}; known: {', '.join(OnnxOptions.model_fields)}")
    try:
        return OnnxOptions(**{**profile.onnx.model_dump(), **given})
    except ValidationError as exc:
        raise pydantic_errors(exc, "ONNX options", flags=True) from None


class ArrayReader:
    """onnxruntime CalibrationDataReader over float32 samples in their given order, ``batch`` at a time (the
    model's static batch; a short last batch is padded by repeating its last sample). Each item is a dict
    ``{input name: array}``: ``arrays`` maps every input name to ``(samples, dtype)``; the one-input form
    ``ArrayReader(name, samples, dtype, batch)`` is kept."""

    def __init__(self, arrays, samples=None, dtype: str = "float32", batch: int = 1):
        if isinstance(arrays, str):
            arrays = {arrays: (samples, dtype)}
        self._arrays = {k: (np.asarray(v), d) for k, (v, d) in arrays.items()}
        self._batch, self._at = batch, 0
        self._n = len(next(iter(self._arrays.values()))[0])

    def get_next(self) -> dict | None:
        if self._at >= self._n:
            return None
        idx = np.minimum(np.arange(self._at, self._at + self._batch), self._n - 1)
        self._at += self._batch
        return {k: np.asarray(v[idx], dtype=d) for k, (v, d) in self._arrays.items()}

    def rewind(self) -> None:
        self._at = 0

    @property
    def batches(self) -> int:
        return -(-self._n // self._batch)


def by_input_name(model, calibration, origin: str = "model"):
    """``calibration`` keyed by ``model``'s graph input names (a dict's keys matched exactly or without
    converter decorations such as ``:0``); a plain array (one input) is returned as it is."""
    from edgekit.runtimes.harness import name_key

    if not isinstance(calibration, dict):
        return calibration
    by_key = {name_key(k): v for k, v in calibration.items()}
    out = {}
    for vi in graph_inputs(model):
        data = calibration.get(vi.name, by_key.get(name_key(vi.name)))
        if data is None:
            raise CalibrationError(f"{origin}: no calibration array for input {vi.name!r}; it has {', '.join(calibration)}")
        out[vi.name] = data
    return out


def reader_for(model, calibration, origin: str = "model") -> ArrayReader:
    """A reader feeding every graph input of ``model``: ``calibration`` is one input's array, or
    ``{input name: array}`` (names matched exactly or without converter decorations such as ``:0``)."""
    import onnx

    ins = graph_inputs(model)
    if not isinstance(calibration, dict):
        if len(ins) != 1:
            raise CalibrationError(f"{origin}: calibration needs one array per input ({', '.join(i.name for i in ins)})")
        calibration = {ins[0].name: calibration}
    calibration = by_input_name(model, calibration, origin)
    arrays = {}
    for vi in ins:
        data = calibration[vi.name]
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)).name
        arrays[vi.name] = (np.asarray(data, np.float32), dtype)
    dims = ins[0].type.tensor_type.shape.dim
    batch = dims[0].dim_value if dims and dims[0].dim_value > 0 else 1
    return ArrayReader(arrays, batch=batch)


@contextlib.contextmanager
def _quiet():
    """onnxruntime.quantization prints progress and logs warnings through the root logger: keep them in."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), capture_native_stderr() as cap:
            yield cap
    finally:
        root.setLevel(level)


def _types(model) -> dict[str, int]:
    """Element type of every tensor of a (shape-inferred) model."""
    g = model.graph
    types = {i.name: i.data_type for i in g.initializer}
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        types.setdefault(vi.name, vi.type.tensor_type.elem_type)
    return types


def _integer_kernel(op_type: str) -> bool:
    """QOperator / dynamic ops that compute on integers (their float inputs are scales)."""
    return op_type.startswith(("QLinear", "QGemm", "QAttention", "QEmbed", "QOrdered")) or op_type.endswith("Integer")


def float_ops(model, quantizable: set[str] | None = None) -> list[str]:
    """Op types of a quantized model that still compute in float: an op ORT's quantizer does not quantize,
    or one with a float input that does not come from a DequantizeLinear. Data-movement ops are left out."""
    import onnx
    from onnx import TensorProto
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    ops = set(QDQRegistry) | set(QLinearOpsRegistry) if quantizable is None else quantizable
    model = onnx.shape_inference.infer_shapes(model)
    types = _types(model)
    floats = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16}
    from_dq = {o for n in model.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    bad = set()
    for n in model.graph.node:
        if n.op_type in QUANT_OPS or n.op_type in LAYOUT_OPS or _integer_kernel(n.op_type):
            continue
        float_in = [i for i in n.input if i and types.get(i) in floats]
        if not float_in and not any(types.get(o) in floats for o in n.output):
            continue
        if n.op_type not in ops or any(i not in from_dq for i in float_in):
            bad.add(n.op_type)
    return sorted(bad)


def quantized_initializers(model) -> dict[str, np.ndarray]:
    """Integer initializers the quantizer made (name -> array): the int8 weights."""
    from onnx import numpy_helper

    return {
        i.name: numpy_helper.to_array(i)
        for i in model.graph.initializer
        if i.name.endswith("_quantized") and np.dtype(numpy_helper.to_array(i).dtype).kind in "iu"
    }


class _Chunk:
    """At most ``n`` samples of ``reader``, then None: ORT's histogram calibrators keep every intermediate
    output of every sample they are fed in one ``collect_data`` call, so they are fed a chunk at a time."""

    def __init__(self, reader: ArrayReader, n: int):
        self._reader, self._left = reader, n

    def get_next(self) -> dict | None:
        if self._left <= 0:
            return None
        self._left -= 1
        return self._reader.get_next()


def _histogram_ranges(model_path: Path, reader: ArrayReader, method: str) -> Path:
    """Percentile or entropy ranges, collected ``CALIB_CHUNK`` samples at a time (the histograms merge across
    chunks; memory stays bounded whatever the number of samples), saved as an ORT calibration cache.

    Entropy: ``quantize_static`` builds its entropy calibrator with 128 histogram bins and 128 quantized bins,
    which leaves a single candidate threshold: the full min/max range. TensorRT's recipe (2048 bins searched
    for the best 128-bin window) is what makes entropy calibration differ from minmax; ORT's own calibrator
    does it when asked, and ``quantize_static`` then reads the ranges from the cache file."""
    from onnxruntime.quantization import CalibrationMethod, save_tensors_data
    from onnxruntime.quantization.calibrate import create_calibrator
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    entropy = method == "entropy"
    calibrator = create_calibrator(
        model_path, sorted(set(QDQRegistry) | set(QLinearOpsRegistry)),
        augmented_model_path=str(model_path.with_name("augmented.onnx")),
        calibrate_method=CalibrationMethod.Entropy if entropy else CalibrationMethod.Percentile,
        extra_options={"num_bins": ENTROPY_BINS, "num_quantized_bins": ENTROPY_QUANTIZED_BINS} if entropy else {},
    )
    batches = reader.batches
    for start in range(0, batches, CALIB_CHUNK):
        calibrator.collect_data(_Chunk(reader, min(CALIB_CHUNK, batches - start)))
    cache = model_path.with_name("ranges.json")
    save_tensors_data(calibrator.compute_data(), cache)
    return cache


def _minmax_chunk(batches: int) -> int:
    """Chunk for ORT's ``CalibMaxIntermediateOutputs``: at most CALIB_CHUNK, and not a divisor of the number
    of batches (ORT 1.2x-1.3x clears its buffer after a full last chunk, then fails: "No data is collected")."""
    return next((c for c in range(CALIB_CHUNK, 1, -1) if batches % c), batches)


def _pre_process(src: Path, pre: Path) -> None:
    from onnxruntime.quantization import quant_pre_process

    try:
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=False)
    except Exception:  # symbolic shape inference fails on some graphs: ONNX shape inference alone is enough
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)


def pre_process(model):
    """ORT's ``quant_pre_process`` (shape inference + graph optimisation) on a ModelProto."""
    import onnx

    with tempfile.TemporaryDirectory(prefix="edgekit-ort-") as tmp, _quiet():
        src, pre = Path(tmp) / "model.onnx", Path(tmp) / "pre.onnx"
        onnx.save_model(model, str(src))
        _pre_process(src, pre)
        return onnx.load_model(str(pre))


def _static(src: Path, dst: Path, opts: OnnxOptions, precision: Precision, reader: ArrayReader, mix,
            pre_processed: bool = False):
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    pre = src if pre_processed else src.with_name("pre.onnx")
    if not pre_processed:
        _pre_process(src, pre)
    if precision == Precision.INT16X8:
        act = QuantType.QInt16 if opts.activation_symmetric else QuantType.QUInt16
    else:
        act = QuantType.QInt8 if opts.activation_symmetric else QuantType.QUInt8
    method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
              "entropy": CalibrationMethod.Entropy}[opts.calibration_method]
    extra = {"ActivationSymmetric": opts.activation_symmetric, "WeightSymmetric": True}
    if reader is not None and reader.batches > CALIB_CHUNK:  # minmax: ORT merges the ranges every chunk
        extra["CalibMaxIntermediateOutputs"] = _minmax_chunk(reader.batches)
    if precision == Precision.INT16X8 and opts.opset < 21:
        extra["UseQDQContribOps"] = True  # 16-bit Q/DQ are standard from opset 21, ORT contrib ops before
    if mix.int16_tensors:  # ORT inserts the 8<->16-bit requantization itself (and moves to opset 21)
        q16 = QuantType.QInt16 if opts.activation_symmetric else QuantType.QUInt16
        extra["TensorQuantOverrides"] = {t: [{"quant_type": q16}] for t in sorted(mix.int16_tensors)}
    cache = None
    if opts.calibration_method in ("percentile", "entropy"):
        cache, reader = _histogram_ranges(pre, reader, opts.calibration_method), None
    quantize_static(
        str(pre), str(dst), reader, calibration_cache_path=cache,
        quant_format=QuantFormat.QDQ if opts.quant_format == "qdq" else QuantFormat.QOperator,
        per_channel=opts.per_channel, reduce_range=opts.reduce_range, activation_type=act,
        weight_type=QuantType.QInt8, calibrate_method=method, extra_options=extra,
        nodes_to_exclude=sorted(mix.float_nodes) or None,
    )


def count(calibration) -> int:
    """Samples in a calibration array or ``{name: array}``."""
    if isinstance(calibration, dict):
        return min((len(v) for v in calibration.values()), default=0)
    return len(calibration)


@dataclass(frozen=True)
class Mix:
    """Mixed precision for static quantization: activations kept in 16 bits, nodes left in float."""

    int16_tensors: frozenset[str] = frozenset()
    float_nodes: frozenset[str] = frozenset()


def quantize(model, precision: Precision, opts: OnnxOptions, calibration: np.ndarray | None, *, origin: str = "model",
             exclude: list[str] | None = None, pre_processed: bool = False, mix: Mix = Mix()):
    """Quantize an fp32 ``onnx.ModelProto`` (static shapes) at ``precision``; returns a new ModelProto.

    ``exclude``: node names left in float (added to ``mix.float_nodes``). ``mix``: activations kept in 16 bits.
    ``pre_processed``: ``model`` already went through :func:`pre_process` (static precisions). This does not
    check that onnxruntime loads the result: :func:`edgekit.quantize.onnx_check.quantize_checked` does (and
    renames, and excludes what breaks it)."""
    mix = Mix(mix.int16_tensors, mix.float_nodes | frozenset(exclude or ()))
    import onnx

    if precision == Precision.FP32:
        return model
    if precision == Precision.FP16:
        from onnxruntime.transformers.float16 import convert_float_to_float16

        with _quiet():
            return convert_float_to_float16(model, keep_io_types=True)
    if precision.needs_calibration and (calibration is None or count(calibration) == 0):
        raise CalibrationError(f"--precision {precision.value} needs calibration data: pass --calibration")
    reader = reader_for(model, calibration, origin) if precision.needs_calibration else None
    err = None
    with tempfile.TemporaryDirectory(prefix="edgekit-ort-") as tmp, _quiet() as cap:
        src, dst = Path(tmp) / "model.onnx", Path(tmp) / "quantized.onnx"
        onnx.save_model(model, str(src))
        try:
            if precision == Precision.DYNAMIC:
                from onnxruntime.quantization import QuantType, quantize_dynamic

                quantize_dynamic(str(src), str(dst), per_channel=opts.per_channel, reduce_range=opts.reduce_range,
                                 weight_type=QuantType.QInt8, nodes_to_exclude=sorted(mix.float_nodes) or None)
            else:
                _static(src, dst, opts, precision, reader, mix, pre_processed)
            result = onnx.load_model(str(dst))
        except Exception as exc:  # onnxruntime raises plain Exceptions, ValueErrors, RuntimeErrors, Fail
            err = exc
    if err is not None:
        detail = " ".join(str(err).split())[:600] or type(err).__name__
        log = " ".join(cap.text.split())[-400:]
        raise ConversionError(
            f"{origin}: onnxruntime quantization ({precision.value}) failed: {detail}"
            + (f" (onnxruntime said: {log})" if log else "")
            + ". Try --calibration-method minmax, --precision dynamic, or --precision fp32"
        )
    return result
