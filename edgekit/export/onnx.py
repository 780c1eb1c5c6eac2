"""Emit a ``.onnx`` artifact: export (tf2onnx from the model's ``tf.function``, or the loaded ONNX graph),
simplify with onnxsim (falling back to the unsimplified graph, with a warning), quantize with ONNX Runtime."""

from __future__ import annotations

import contextlib
import copy
import io

from edgekit._lazy import capture_native_stderr
from edgekit.errors import ConfigError, ConversionError, TargetConstraintError
from edgekit.export import Artifact
from edgekit.models.base import SourceModel
from edgekit.models.onnx import fix_batch, opset_of
from edgekit.quantize import onnx as q
from edgekit.targets import OnnxOptions, Precision, TargetProfile

MIN_OPSET = 13  # per-channel QDQ (axis on QuantizeLinear/DequantizeLinear) needs opset 13
_QUANTIZED_OPS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger"}


def _tf2onnx_max() -> int:
    from tf2onnx.constants import OPSET_TO_IR_VERSION

    return max(OPSET_TO_IR_VERSION)


def choose_opset(model: SourceModel, opts: OnnxOptions, requested: int | None) -> int:
    """The opset to emit: ``--opset``, else the ONNX source's own (when >= 13), else the profile's."""
    from edgekit.runtimes.onnxruntime import max_opset

    if model.onnx_model is None:
        import tf2onnx

        hi = min(_tf2onnx_max(), max_opset())
        why = f"tf2onnx {tf2onnx.__version__} exports up to opset {_tf2onnx_max()}, onnxruntime runs up to {max_opset()}"
    else:
        import onnxruntime

        hi = max_opset()
        why = f"onnxruntime {onnxruntime.__version__} runs up to opset {hi}"
    opset = requested
    if opset is None:
        own = 0 if model.onnx_model is None else opset_of(model.onnx_model)
        opset = own if own >= MIN_OPSET else opts.opset
    if not MIN_OPSET <= opset <= hi:
        flag = "--opset" if requested is not None else "the profile's onnx.opset"
        raise ConfigError(
            f"{flag} {opset} is not supported: edgekit emits ONNX opsets {MIN_OPSET}..{hi} ({why}). "
            f"Pass --opset {min(max(opset, MIN_OPSET), hi)}"
        )
    return opset


def export_tf(model: SourceModel, opset: int):
    """tf2onnx on the model's ``tf.function`` traced at batch 1 (``from_keras`` does not work on Keras 3)."""
    if model.tf_function is None:
        how = f" (read by {model.loader})" if model.loader else ""
        raise ConfigError(
            f"{model.path}: a {model.format} model{how} has no TensorFlow graph to export to ONNX; use a TFLite "
            "target (--format tflite), or convert the model it came from"
        )
    import tf2onnx
    import tf2onnx.rewriter.loop_rewriter_base  # noqa: F401  (takes a name from the counter when imported)
    import tf2onnx.tfonnx  # noqa: F401
    import tf2onnx.utils

    fn = model.tf_function(1)
    # tf2onnx numbers the nodes it makes from a global counter: restart it so that the same model gives the
    # same names (and bytes) whether it is the first export in this process or not
    tf2onnx.utils.INTERNAL_NAME = 1
    with capture_native_stderr() as cap, contextlib.redirect_stdout(io.StringIO()):
        try:
            proto, _ = tf2onnx.convert.from_function(fn, input_signature=fn.input_signature, opset=opset)
            err = None
        except Exception as exc:  # tf2onnx raises ValueError/KeyError/RuntimeError for unsupported TF ops
            proto, err = None, exc
    if err is not None:
        detail = " ".join(str(err).split())[:600] or type(err).__name__
        raise ConversionError(
            f"{model.path}: tf2onnx could not export the model to ONNX opset {opset}: {detail}"
            + (f" ({' '.join(cap.text.split())[-300:]})" if cap.text.strip() else "")
            + ". Try another --opset, or --format tflite"
        ) from None
    proto.graph.doc_string = ""  # names the traced function, whose number changes with each trace
    return proto


def source_onnx(model: SourceModel, opset: int, static: bool):
    """A copy of the loaded ONNX graph at ``opset``, with a batch of 1 when the target wants static shapes."""
    from onnx import version_converter

    proto = copy.deepcopy(model.onnx_model)
    if opset_of(proto) != opset:
        try:
            proto = version_converter.convert_version(proto, opset)
        except Exception as exc:
            raise ConfigError(
                f"{model.path}: cannot convert the model from opset {opset_of(proto)} to {opset} "
                f"({' '.join(str(exc).split())[:300]}). Re-export it at opset {opset}, or pass --opset "
                f"{max(opset_of(model.onnx_model), MIN_OPSET)}"
            ) from None
    if static:
        fix_batch(proto, 1)
    return proto


def simplify(proto) -> tuple[object, dict]:
    """onnxsim, or the input unchanged (with the reason) when onnxsim fails or its check does not pass."""
    try:
        import onnxsim
    except ImportError:  # pragma: no cover - a core dependency
        return proto, {"applied": False, "reason": "onnxsim is not installed"}
    with capture_native_stderr(), contextlib.redirect_stdout(io.StringIO()):
        try:
            simplified, ok = onnxsim.simplify(proto, check_n=1)  # check on one random input
            reason = None if ok else "onnxsim's check (simplified vs original outputs) did not pass"
        except Exception as exc:  # onnxsim raises RuntimeError/ValueError/onnx errors
            simplified, reason = None, f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    if reason is not None:
        return proto, {"applied": False, "reason": reason}
    # onnxsim records its settings and edits as metadata_props: provenance goes to the manifest instead
    keep = [p for p in simplified.metadata_props if not p.key.startswith("onnxsim.")]
    del simplified.metadata_props[:]
    simplified.metadata_props.extend(keep)
    return simplified, {"applied": True, "version": getattr(onnxsim, "__version__", "unknown")}


def quantization_info(opts: OnnxOptions, precision: Precision, samples: int | None) -> dict:
    """How the artifact was quantized, for the manifest."""
    info = {
        "mode": "dynamic" if precision == Precision.DYNAMIC else f"static {opts.quant_format.upper()}",
        "weights": "int8 per-channel" if opts.per_channel else "int8 per-tensor",
        "reduce_range": opts.reduce_range,
    }
    if precision.needs_calibration:
        bits = "int16" if precision == Precision.INT16X8 else "int8"
        info["calibration_method"] = opts.calibration_method
        info["activations"] = f"{bits} symmetric" if opts.activation_symmetric else f"u{bits} asymmetric"
        info["samples"] = samples
    return info


def emit(
    model: SourceModel,
    profile: TargetProfile,
    precision: Precision,
    calibration,
    *,
    opset: int | None = None,
    calibration_method: str | None = None,
    per_channel: bool | None = None,
    activation_symmetric: bool | None = None,
    reduce_range: bool | None = None,
    **_,
) -> Artifact:
    opts = q.options(profile, calibration_method=calibration_method, per_channel=per_channel,
                     activation_symmetric=activation_symmetric, reduce_range=reduce_range)
    used = choose_opset(model, opts, opset)
    opts = opts.model_copy(update={"opset": used})
    if model.onnx_model is not None:
        already = sorted({n.op_type for n in model.onnx_model.graph.node} & _QUANTIZED_OPS)
        if already and precision != Precision.FP32:
            raise ConfigError(
                f"{model.path}: the ONNX model is already quantized (it has {', '.join(already)}); "
                "pass --precision fp32 to validate it as it is, or convert the float model it came from"
            )
        proto, exporter = source_onnx(model, used, profile.static_shapes), "source ONNX graph"
    else:
        import tf2onnx

        proto, exporter = export_tf(model, used), f"tf2onnx {tf2onnx.__version__}"
    proto, sim = simplify(proto)
    notes = [] if sim["applied"] else [f"onnxsim could not simplify the graph, kept it unsimplified: {sim['reason']}"]
    from edgekit.quantize.onnx_check import quantize_checked

    if calibration is not None:
        calibration = q.by_input_name(proto, calibration, str(model.path))  # tf2onnx may decorate input names
    out, check = quantize_checked(proto, precision, opts, calibration, origin=str(model.path))
    extra: dict = {"opset": used, "exporter": exporter, "onnxsim": sim}
    if precision not in (Precision.FP32, Precision.FP16):
        extra["quantization_check"] = check.model_dump(mode="json")
    notes.extend(f"left in float (quantized, onnxruntime failed its check: {e.reason}): node {e.node!r} ({e.op_type})"
                 for e in check.excluded_nodes)
    if model.notes:
        extra["source_preparation"] = list(model.notes)  # e.g. Constant nodes moved, --input-shape applied
    if precision not in (Precision.FP32, Precision.FP16):
        extra["quantization"] = quantization_info(opts, precision, None if calibration is None else q.count(calibration))
    if precision.full_integer:
        fops = q.float_ops(out)
        extra["float_ops"] = fops
        if fops and profile.full_integer_required:
            raise TargetConstraintError(
                f"{model.path}: target {profile.name!r} requires a full-integer model, but onnxruntime cannot "
                f"quantize these ops, which stay float: {', '.join(fops)}. Replace them in the model, or choose "
                "a target that allows float ops"
            )
        if fops:
            notes.append(f"ops onnxruntime cannot quantize stay float: {', '.join(fops)}")
    return Artifact(float_graph=proto, data=out.SerializeToString(), format="onnx", precision=precision.value, io_dtype="float32", runtime="onnxruntime",
                    suffix=".onnx", notes=notes, extra=extra)

