"""``--layer-report`` and ``--mixed-precision auto`` for one emitted, fully quantized artifact.

The per-layer error ranks the layers; when the artifact misses its fidelity budget, the search keeps the fewest
of the most sensitive layers in higher precision (16-bit activations, or float, as the target allows; nothing
on a full-integer target) until a built, validated artifact meets the budget. Files are returned as bytes:
the engine writes them with everything else, atomically, at the end.
"""

from __future__ import annotations

import dataclasses

from edgekit.engine.state import Run
from edgekit.manifest.fidelity import LayerReport, LayerReportFiles, MixedResult
from edgekit.targets import Precision

REPORT_SAMPLES = 20  # validation samples the ranking runs on (the search validates on all of them)


def applicable(run: Run, art) -> str | None:
    """Why the artifact cannot be analysed layer by layer (None when it can)."""
    if run.stream is not None or len(run.model.inputs) != 1:
        return "per-layer analysis takes single-input, stateless models"
    if art.precision != Precision.INT8.value or run.calibration_used is None:
        return "only full-integer int8 artifacts calibrated on data are analysed layer by layer"
    if art.format == "tflite" and run.model.tf_function is None:
        return f"a {run.model.format} source has no TensorFlow graph for TF's quantization debugger"
    if art.format == "onnx" and art.float_graph is None:
        return "the emitter kept no float graph"
    return None


def hook(run: Run, art):
    from edgekit.fidelity.hooks import OnnxHook, TfliteHook

    calib, val = run.calibration_used.x, run.validation
    if art.format == "tflite":
        return TfliteHook(run.model, calib, val.x, run.source_outputs, val.y)
    from edgekit.quantize import onnx as q

    opts = q.options(run.profile, **run.options.onnx.overrides()).model_copy(update={"opset": art.extra["opset"]})
    return OnnxHook(art.float_graph, opts, calib, val.x, run.source_outputs, val.y, origin=str(run.model.path))


def layer_files(report: LayerReport, stem: str) -> tuple[LayerReportFiles, dict[str, bytes]]:
    from edgekit.fidelity.write import layer_report_files

    files = dict(layer_report_files(report, f"{stem}.layers").values())
    top = [e.name for e in report.ranked()[:5]]
    return LayerReportFiles(files=sorted(files), compare=report.compare, samples=report.samples,
                            most_sensitive=top), files


def search(run: Run, art, h, report: LayerReport):
    """The mixed-precision search on ``art``; returns (result, new Artifact or None, files)."""
    from edgekit.fidelity.mixed import Budget, choose_mode, search as run_search
    from edgekit.fidelity.write import search_files

    p, b = run.profile, run.options.budget
    budget = Budget(min_cosine=b.min_cosine if b.min_cosine is not None else (p.min_cosine or 0.99),
                    max_accuracy_drop=b.max_accuracy_drop, min_top1_agreement=b.min_top1_agreement)
    ranked = [e.name for e in report.ranked() if e.rel_error > 0]
    fallbacks = {"fp16": h.fp16} if Precision.FP16 in p.allowed_precisions else {}
    run.stage(f"mixed precision: searching {len(ranked)} ranked layers")
    result, data = run_search(ranked, h, budget, mode=choose_mode(p, art.format), fallbacks=fallbacks)
    stem = f"{run.model.name}-{p.name}"
    files = dict(search_files(result, f"{stem}.mixed_precision").values())
    if data is None or result.variant == "int8":
        return result, None, files
    return result, _artifact(art, result, data), files


def _artifact(art, result: MixedResult, data: bytes):
    """The chosen build as an Artifact: ``int8-mixed`` (kept layers in 16 bits or float) or a fallback."""
    precision = "int8-mixed" if result.variant == "mixed" else result.variant
    note = (f"mixed precision: {len(result.kept)} of the most sensitive layers kept at {result.mode} "
            f"({result.reason})" if result.variant == "mixed" else f"mixed precision: {result.reason}")
    extra = {k: v for k, v in art.extra.items() if k != "float_ops"}
    extra["float_ops"] = _float_ops(art.format, data)
    return dataclasses.replace(art, data=data, precision=precision, notes=[*art.notes, note], extra=extra)


def _float_ops(fmt: str, data: bytes) -> list[str]:
    if fmt == "tflite":
        from edgekit.export.tflite import float_tensor_ops

        return float_tensor_ops(data)
    import onnx

    from edgekit.quantize import onnx as q

    return q.float_ops(onnx.load_from_string(data))
