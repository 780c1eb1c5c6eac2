"""Quantize a float ``.tflite`` (fp32, or fp16 weights) with Google's ai-edge-quantizer (AEQ).

Recipes: ``dynamic`` -> weight-only int8 (``weight_only_wi8_afp32``: int8 weights, dequantized to float for
compute), ``int8`` -> ``static_wi8_ai8`` (int8 weights and activations, calibrated), ``int16x8`` ->
``static_wi8_ai16``; activation ranges are min/max over all calibration samples. ``fp32`` passes the
source through unchanged. AEQ keeps float32 model inputs/outputs
(it quantizes/dequantizes at the boundary). Calibration runs one sample at a time, in the given order, on
one thread: same data, same bytes.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Collection, Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edgekit._lazy import capture_native_stderr
from edgekit.errors import CalibrationError, ConfigError, ConversionError
from edgekit.targets import Precision

RECIPES = {  # precision -> ai_edge_quantizer.recipe function
    Precision.DYNAMIC: "weight_only_wi8_afp32",
    Precision.INT8: "static_wi8_ai8",
    Precision.INT16X8: "static_wi8_ai16",
}


class AeqResult(BaseModel):
    """What ai-edge-quantizer made: the flatbuffer (``data``, left out of ``model_dump``) and how."""

    model_config = ConfigDict(frozen=True)

    data: bytes = Field(exclude=True, repr=False)
    quantizer: str  # "ai-edge-quantizer X.Y.Z", or "none" for fp32 pass-through
    recipe: str | None
    signature: str
    calibration_samples: int | None
    io_dtype: str = "float32"


def _version() -> str:
    from importlib.metadata import version

    return f"ai-edge-quantizer {version('ai-edge-quantizer')}"


def _samples(calibration, names: list[str], origin: str) -> list[dict[str, np.ndarray]]:
    """Calibration as AEQ wants it: one ``{input_name: array of batch 1}`` per sample."""
    if calibration is None:
        raise CalibrationError(f"{origin}: full-integer quantization needs calibration data: pass --calibration")
    arrays = dict(calibration) if isinstance(calibration, Mapping) else {names[0]: calibration} if len(names) == 1 else None
    if arrays is None or sorted(arrays) != sorted(names):
        got = sorted(arrays) if arrays else "one unnamed array"
        raise CalibrationError(f"{origin}: calibration must hold one array per input {names}; got {got}")
    n = {len(a) for a in arrays.values()}
    if len(n) != 1 or 0 in n:
        raise CalibrationError(f"{origin}: calibration arrays must be non-empty and of equal length; got {sorted(n)}")
    return [{k: np.asarray(arrays[k][i : i + 1]) for k in names} for i in range(n.pop())]


def _calibrate(data: bytes, rp, signature: str, samples: list[dict[str, np.ndarray]]):
    """Ranges = min/max over all samples (like the TFLite converter and ORT's minmax). AEQ's default is a
    moving average (0.95) of per-sample ranges, which forgets early samples and clips the rest: on fer's
    emotion model it cost 10 points of top-1 agreement."""
    from ai_edge_quantizer import calibrator, recipe_manager
    from ai_edge_quantizer.utils import qsv_utils

    rm = recipe_manager.RecipeManager()
    rm.load_quantization_recipe(rp)
    cal = calibrator.Calibrator(bytearray(data), num_threads=1, qsv_update_func=qsv_utils.min_max_update)
    cal.calibrate({signature: samples}, rm)
    return cal.get_model_qsvs()


def _load_check(data: bytes, origin: str, recipe_name: str) -> None:
    """An artifact exists only once LiteRT has loaded it (AEQ can write models LiteRT refuses)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    try:
        with capture_native_stderr() as cap:
            Interpreter(model_content=data, num_threads=1,
                        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES).allocate_tensors()
    except Exception as exc:  # noqa: BLE001 - LiteRT raises RuntimeError/ValueError
        detail = " ".join(f"{exc} {cap.text}".split())[:400]
        raise ConversionError(
            f"{origin}: ai-edge-quantizer ({recipe_name}) wrote a model that LiteRT refuses to load: {detail}. "
            "Try --precision dynamic (weight-only int8) or fp32"
        ) from None


def _has_integer_tensors(data: bytes) -> bool:
    from edgekit.models.tflite import is_quantized, read_object

    return is_quantized(read_object(data, "quantized model"))


def quantize_tflite(
    data: bytes,
    precision: Precision,
    *,
    signature: str,
    input_names: list[str],
    calibration: np.ndarray | Mapping[str, np.ndarray] | None = None,
    origin: str = "model",
) -> AeqResult:
    """Quantize the float flatbuffer ``data`` (one signature, ``signature``) at ``precision``.

    ``calibration``: ``(N, *sample_shape)`` for a one-input model, else ``{input_name: (N, ...)}``; used by
    ``int8``/``int16x8`` only. Raises ConfigError for fp16 (no AEQ recipe: use the source's own fp16 or
    convert the model it came from) and ConversionError when AEQ fails.
    """
    if precision == Precision.FP32:
        return AeqResult(data=bytes(data), quantizer="none", recipe=None, signature=signature, calibration_samples=None)
    if precision not in RECIPES:
        raise ConfigError(
            f"{origin}: --precision {precision.value} is not available for a .tflite source (ai-edge-quantizer "
            f"recipes: {', '.join(p.value for p in RECIPES)}; or fp32 to validate it as it is)"
        )
    samples = _samples(calibration, input_names, origin) if precision.needs_calibration else None
    from ai_edge_quantizer import quantizer, recipe

    err = None
    with capture_native_stderr() as cap, contextlib.redirect_stdout(io.StringIO()):
        try:
            rp = getattr(recipe, RECIPES[precision])()
            qt = quantizer.Quantizer(bytearray(data), rp)
            qsv = _calibrate(data, rp, signature, samples) if samples is not None else None
            out = bytes(qt.quantize(qsv, enable_progress_report=False).quantized_model)
        except Exception as exc:  # noqa: BLE001 - AEQ raises ValueError/RuntimeError/KeyError
            err = exc
    if err is not None:
        detail = " ".join(str(err).split())[:600] or type(err).__name__
        log = " ".join(cap.text.split())[-300:]
        raise ConversionError(
            f"{origin}: ai-edge-quantizer ({RECIPES[precision]}) failed: {detail}"
            + (f" ({log})" if log else "")
            + ". Try --precision dynamic (weight-only int8) or fp32"
        )
    _load_check(out, origin, RECIPES[precision])
    if not _has_integer_tensors(out):
        raise ConversionError(
            f"{origin}: ai-edge-quantizer ({RECIPES[precision]}) quantized no tensor of this model (it did not "
            "recognise its weights as constants): the result would be the float model under a quantized name. "
            "Convert the model it came from, or use --precision fp32"
        )
    return AeqResult(
        data=out, quantizer=_version(), recipe=RECIPES[precision], signature=signature,
        calibration_samples=None if samples is None else len(samples),
    )


# --- per-op mixes (the mixed-precision search): one calibration, many recipes -------------------------------


# How tflite-runtime 2.14 (what Raspberry Pi OS setups run) fails on AEQ's 16x8 ops, measured under emulation
# on the rpi profile's runtimes: FULLY_CONNECTED with per-channel int8 weights and int16 inputs gives garbage
# (cosine ~0 against LiteRT 2.3), so kept FULLY_CONNECTED ops get per-tensor weights (then 0.999); these have
# no int16 kernel there ("Type INT16 is unsupported by op Rsqrt"; GELU: "Only float32, int8 and uint8
# supported currently"), so kept ones stay int8:
INT16_UNPORTABLE_OPS = ("RSQRT", "GELU")


def mixed_recipe(int16_ops: Collection[str] = ()) -> list[dict]:
    """An AEQ recipe: every op static int8 (per-channel int8 weights, int8 activations); the ops whose output
    tensor names are in ``int16_ops`` with 16-bit activations and int8 weights, float where AEQ has no 16x8
    config for the op (e.g. SQUARED_DIFFERENCE: its int8 fallback would undo the point of keeping it);
    FULLY_CONNECTED with per-tensor weights and :data:`INT16_UNPORTABLE_OPS` at int8, so that the rpi
    profile's runtimes (tflite-runtime 2.14, ai-edge-litert 1.4.0) run the artifact as LiteRT 2.3 does.

    AEQ matches a regex against an op's scope (its output tensor names, each followed by ``;``); of the configs
    that match, the last one AEQ can apply to the op wins (NO_QUANTIZE always applies). Configs are keyed by
    their regex string, so the same regex is made distinct with empty groups."""
    from ai_edge_quantizer import qtyping, recipe_manager
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    op = qtyping.TFLOperationName
    rm = recipe_manager.RecipeManager()
    rm.add_static_config(".*", op.ALL_SUPPORTED, activation_num_bits=8, weight_num_bits=8)
    if not int16_ops:
        return rm.get_quantization_recipe()
    kept = f"(?:^|;)(?:{'|'.join(re.escape(n) for n in sorted(int16_ops))});"
    rm.add_quantization_config(kept, op.ALL_SUPPORTED, None, AlgorithmName.NO_QUANTIZE)
    rm.add_static_config(kept + "(?:)", op.ALL_SUPPORTED, activation_num_bits=16, weight_num_bits=8)
    rm.add_static_config(kept + "(?:)(?:)", op.FULLY_CONNECTED, activation_num_bits=16, weight_num_bits=8,
                         weight_granularity=qtyping.QuantGranularity.TENSORWISE)
    for name in INT16_UNPORTABLE_OPS:
        rm.add_static_config(kept + "(?:)(?:)", op(name), activation_num_bits=8, weight_num_bits=8)
    return rm.get_quantization_recipe()


def _failed(what: str, err: Exception, log: str, origin: str) -> ConversionError:
    detail = " ".join(str(err).split())[:600] or type(err).__name__
    tail = " ".join(log.split())[-300:]
    return ConversionError(f"{origin}: ai-edge-quantizer ({what}) failed: {detail}" + (f" ({tail})" if tail else ""))


def calibrate_mixed(data: bytes, *, signature: str, input_names: list[str], calibration, origin: str = "model") -> dict:
    """Activation ranges (min/max over all samples) of every op of the float flatbuffer ``data``, for
    :func:`quantize_mixed`: ranges do not depend on the bit width, so one calibration serves every mix."""
    import warnings

    samples = _samples(calibration, input_names, origin)
    with capture_native_stderr() as cap, contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors")  # AEQ's calibrator's own
        try:
            return _calibrate(data, mixed_recipe(), signature, samples)
        except Exception as exc:  # noqa: BLE001 - AEQ raises ValueError/RuntimeError/KeyError
            err = exc
    raise _failed("calibration", err, cap.text, origin)


def quantize_mixed(data: bytes, int16_ops: Collection[str], qsvs: dict, *, origin: str = "model") -> bytes:
    """``data`` (a float flatbuffer prepared by :func:`edgekit.models.tflite.prepare`) quantized with
    :func:`mixed_recipe` on the ranges from :func:`calibrate_mixed`, int8->int16 requantizations split for
    older runtimes (:func:`split_widening_requantize`); loaded by LiteRT before it is returned. Float32 model
    inputs and outputs."""
    import warnings

    from ai_edge_quantizer import quantizer

    what = f"int8 with {len(int16_ops)} op(s) at 16-bit activations"
    with capture_native_stderr() as cap, contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors")  # AEQ's own interpreter
        try:
            qt = quantizer.Quantizer(bytearray(data), mixed_recipe(int16_ops))
            out = bytes(qt.quantize(qsvs, enable_progress_report=False).quantized_model)
            err = None
        except Exception as exc:  # noqa: BLE001
            err = exc
    if err is not None:
        raise _failed(what, err, cap.text, origin)
    out, _ = split_widening_requantize(out)
    _load_check(out, origin, what)
    return out


def split_widening_requantize(data: bytes) -> tuple[bytes, int]:
    """Replace every QUANTIZE from an 8-bit to a 16-bit tensor (a requantize that LiteRT < 2.x and
    tflite-runtime 2.14 refuse: "output->type == kTfLiteUInt8 || output->type == kTfLiteInt8") by DEQUANTIZE
    to a new float32 tensor and QUANTIZE from it: the same values up to rounding, and a model older runtimes
    load. Returns (flatbuffer, number of ops split)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    from edgekit.models.tflite import read_object

    obj = read_object(data, "quantized model")
    B, T = schema.BuiltinOperator, schema.TensorType
    codes = obj.operatorCodes
    quant = {i for i, c in enumerate(codes) if max(c.builtinCode, c.deprecatedBuiltinCode) == B.QUANTIZE}
    split = 0
    for sg in obj.subgraphs:
        ops = []
        for op in sg.operators:
            src, dst = (sg.tensors[op.inputs[0]], sg.tensors[op.outputs[0]]) if op.opcodeIndex in quant else (None, None)
            if src is None or src.type not in (T.INT8, T.UINT8) or dst.type != T.INT16:
                ops.append(op)
                continue
            mid = schema.TensorT()
            mid.name, mid.type, mid.buffer = f"{_str(src.name)}_dequantized", T.FLOAT32, 0
            mid.shape, mid.shapeSignature = src.shape, src.shapeSignature
            sg.tensors.append(mid)
            deq = schema.OperatorT()
            deq.opcodeIndex, deq.inputs, deq.outputs = _opcode(codes, B.DEQUANTIZE), [op.inputs[0]], [len(sg.tensors) - 1]
            op.inputs = [len(sg.tensors) - 1]
            ops += [deq, op]
            split += 1
        sg.operators = ops
    if not split:
        return data, 0
    return bytes(flatbuffer_utils.convert_object_to_bytearray(obj)), split


def _str(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _opcode(codes: list, builtin: int) -> int:
    """The index of ``builtin`` (version 1) in the model's operator codes, added when missing."""
    from ai_edge_litert import schema_py_generated as schema

    for i, c in enumerate(codes):
        if max(c.builtinCode, c.deprecatedBuiltinCode) == builtin:
            return i
    code = schema.OperatorCodeT()
    code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), 1
    codes.append(code)
    return len(codes) - 1
