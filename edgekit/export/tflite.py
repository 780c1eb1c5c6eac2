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


def emit(model: SourceModel, profile: TargetProfile, precision: Precision, calibration, **_) -> Artifact:
    io_dtype = profile.io_dtype_for(precision)
    data = q.convert(model, precision, io_dtype=io_dtype, calibration=calibration)
    extra = {}
    notes = []
    if model.loader is not None:  # which loader read the source (e.g. the legacy SavedModel fallback)
        extra["source_loader"] = model.loader
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
