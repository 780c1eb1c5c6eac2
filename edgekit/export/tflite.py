"""Emit a ``.tflite`` artifact through the TFLite converter."""

from __future__ import annotations

import numpy as np

from edgekit.errors import TargetConstraintError
from edgekit.export import Artifact
from edgekit.models.base import SourceModel
from edgekit.quantize import tflite as q
from edgekit.targets import Precision, TargetProfile


def float_tensor_ops(data: bytes) -> list[str]:
    """Ops of a converted model that still compute in float (reads the artifact with LiteRT)."""
    from edgekit.runtimes.litert import LiteRTRunner

    with LiteRTRunner(data, default_delegates=False) as r:
        tensors = {t["index"]: t for t in r.tensor_details()}
        bad = set()
        for op in r.ops():
            if op["op_name"] in ("QUANTIZE", "DEQUANTIZE"):
                continue
            for i in list(op["inputs"]) + list(op["outputs"]):
                if i >= 0 and i in tensors and np.dtype(tensors[i]["dtype"]).kind == "f":
                    bad.add(op["op_name"])
        return sorted(bad)


def _from_tflite_source(model: SourceModel, profile: TargetProfile, precision: Precision, calibration):
    """A .tflite source: ai-edge-quantizer (float sources), or the file as it is (fp32)."""
    from edgekit.errors import ConfigError
    from edgekit.models.tflite import is_quantized, read_object, signature_key
    from edgekit.quantize.aeq import quantize_tflite

    obj = read_object(model.tflite_bytes, str(model.path))
    if precision != Precision.FP32 and is_quantized(obj):
        raise ConfigError(
            f"{model.path}: the .tflite model is already quantized; edgekit does not quantize it again. Validate "
            "it as it is with --precision fp32, benchmark it with `edgekit bench MODEL`, or convert the float "
            "model it came from"
        )
    res = quantize_tflite(model.tflite_bytes, precision, signature=signature_key(obj),
                          input_names=[s.name for s in model.inputs], calibration=calibration, origin=str(model.path))
    notes = []
    if precision.full_integer and profile.io_dtype_for(precision) != res.io_dtype:
        notes.append(f"ai-edge-quantizer keeps {res.io_dtype} model inputs/outputs (target {profile.name!r} "
                     f"prefers {profile.io_dtype_for(precision)} IO)")
    return res.data, res.io_dtype, {"quantizer": res.model_dump(mode="json")}, notes


def emit(model: SourceModel, profile: TargetProfile, precision: Precision, calibration, **_) -> Artifact:
    if model.tflite_bytes is not None:
        data, io_dtype, extra, notes = _from_tflite_source(model, profile, precision, calibration)
    else:
        io_dtype = profile.io_dtype_for(precision)
        data = q.convert(model, precision, io_dtype=io_dtype, calibration=calibration)
        extra, notes = {}, []
    if precision.full_integer:
        float_ops = float_tensor_ops(data)
        extra["float_ops"] = float_ops
        if float_ops and profile.full_integer_required:
            raise TargetConstraintError(
                f"{model.path}: target {profile.name!r} requires a full-integer model, but these ops still "
                f"compute in float after conversion: {', '.join(float_ops)}. Replace them in the model, "
                "or choose a target that allows float ops"
            )
        if float_ops:
            notes.append(f"ops left in float (not integer kernels): {', '.join(float_ops)}")
    return Artifact(data=data, format="tflite", precision=precision.value, io_dtype=io_dtype, runtime="litert",
                    suffix=".tflite", notes=notes, extra=extra)
