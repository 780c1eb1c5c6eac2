"""The manifest's parts: one :class:`ArtifactRecord` per validated artifact (with its gate), and the
:class:`Manifest` of the whole run."""

from __future__ import annotations

import numpy as np

from edgekit.engine import targeting
from edgekit.engine.state import Run
from edgekit.fidelity.gate import gate
from edgekit.fidelity.metrics import fidelity, predict_runner, validate
from edgekit.hashing import sha256_bytes
from edgekit.manifest import (
    ArtifactRecord, Calibration, CrossFormat, Manifest, Optimization, PrecisionRecord, RuntimeRecord, Source,
    Target, Tensor, ValidationData, ValidationSummary, tool_versions,
)
from edgekit.runtimes import open_runner

_ARTIFACT_EXTRAS = ("float_ops", "opset", "exporter", "onnxsim", "source_preparation", "quantization",
                    "quantization_check", "quantizer")


def artifact_record(run: Run, art) -> tuple[ArtifactRecord, list[np.ndarray], dict[str, bytes]]:
    """Run ``art`` on the validation inputs (on the host, on the device's runtimes, in TFLite Micro), compare
    with the source, place its ops, hold it to the budget."""
    device = targeting.device_check(run, art)  # first: it may rewrite the artifact so the device runs it
    with open_runner(art.runtime, art.data, threads=1) as runner:
        outputs = predict_runner(runner, run.validation.x)
        runtime = RuntimeRecord(name=art.runtime, version=runner.version)
        io_dtype = np.dtype(runner.inputs[0].dtype).name  # what the file really takes, not what was asked for
        io = (runner.inputs, runner.outputs)
    mcu_run = targeting.mcu_run(run, art, *io)
    mcu = None
    if mcu_run is not None:  # a microcontroller runs TFLite Micro: that is what is validated
        mcu, outputs = mcu_run
        runtime = RuntimeRecord(name="tflite-micro", version=mcu.tflm_version)
    fid = validate(run.source_outputs, outputs, run.validation.y, runtime, names=[t.name for t in run.model.outputs])
    g = _gate(run, fid, targeting.extra_checks(device, mcu))
    name = f"{run.model.name}-{run.profile.name}-{art.precision}{art.suffix}"
    extras = {k: v for k, v in art.extra.items() if k in _ARTIFACT_EXTRAS}
    placement = targeting.placement(run, art)
    etpu, files = targeting.edgetpu(run, art, name, placement)
    record = ArtifactRecord(path=name, format=art.format, precision=art.precision, io_dtype=io_dtype,
                            sha256=sha256_bytes(art.data), bytes=len(art.data), validation=fid, gate=g,
                            placement=placement, edgetpu=etpu, mcu=mcu, device=device,
                            c_array=_c_array_names(run, art, name), **extras)
    _warn(run, record, art)
    return record, outputs, files


def _gate(run: Run, fid, extra):
    budget = run.options.budget
    return gate(fid, min_cosine=budget.min_cosine if budget.min_cosine is not None else run.profile.min_cosine,
                max_accuracy_drop_points=budget.max_accuracy_drop, min_top1_agreement=budget.min_top1_agreement,
                extra=extra)


def _c_array_names(run: Run, art, name: str) -> list[str] | None:
    if not run.options.emit_c_array or art.format != "tflite":
        return None
    return ["model_data.cc", "model_data.h"]  # the names TFLite Micro examples use


def _warn(run: Run, record: ArtifactRecord, art) -> None:
    name, budget_mb = record.path, run.profile.memory_budget_mb
    if budget_mb and record.bytes > budget_mb * 2**20:
        run.warnings.append(f"{name}: {record.bytes / 2**20:.1f} MiB exceeds target {run.profile.name!r}'s "
                            f"memory budget of {budget_mb} MiB")
    run.warnings.extend(f"{name}: {n}" for n in art.notes)
    accelerator = run.profile.delegate in ("gpu", "edgetpu")  # on XNNPACK a CPU op is no detour
    if accelerator and record.placement is not None and record.placement.accelerated_fraction < 1:
        run.warnings.append(f"{name}: {record.placement.summary_line}")


def _cross(run: Run) -> CrossFormat | None:
    if len(run.built) < 2:
        return None
    a, b = run.built[:2]
    f = fidelity(a.outputs, b.outputs, [t.name for t in run.model.outputs])
    return CrossFormat(between=[a.record.format, b.record.format], max_abs_error=f.max_abs_error, cosine=f.cosine,
                       outputs=f.outputs, top1_agreement=f.top1_agreement)


def _source(run: Run) -> Source:
    m = run.model
    return Source(
        path=str(m.path), sha256=m.sha256, format=m.format, loader=getattr(m, "loader", None),
        inputs=[Tensor(name=t.name, shape=list(t.shape), dtype=t.dtype) for t in m.inputs],
        outputs=[Tensor(name=t.name, shape=list(t.shape), dtype=t.dtype) for t in m.outputs],
    )


def _calibration(run: Run) -> Calibration | None:
    ds, used = run.calibration, run.calibration_used
    if used is None:
        return None
    return Calibration(source=ds.source, kind=ds.kind, random=ds.kind == "random", samples=len(used),
                       available=len(ds), seed=run.options.seed, sha256=used.sha256)


def build_manifest(run: Run) -> Manifest:
    p, val = run.profile, run.validation
    first = run.built[0].record.validation
    versions = tool_versions()
    return Manifest(
        edgekit_version=versions["edgekit"],
        passed=all(b.record.gate.passed for b in run.built),
        source=_source(run),
        target=Target(name=p.name, description=p.description, device=p.device, runtime=p.runtime,
                      delegate=p.delegate, profile=p.source),
        precision=PrecisionRecord(profile_default=p.precision.value,
                                  requested=None if run.options.precision is None else run.options.precision.value,
                                  used=run.precision.value, fallback=run.fallback),
        options=run.options.model_dump(mode="json"),
        unsafe_deserialization=run.options.unsafe_deserialization,
        calibration=_calibration(run),
        validation_data=ValidationData(kind=run.validation_kind, source=val.source, samples=len(val),
                                       labels=val.y is not None, sha256=val.sha256),
        artifacts=[b.record for b in run.built],
        validation=ValidationSummary(max_abs_error=first.max_abs_error, cosine=first.cosine,
                                     top1_agreement=first.top1_agreement, accuracy=first.accuracy),
        cross_format_agreement=_cross(run),
        optimization=None if run.optimized is None else Optimization(**run.optimized.manifest()),
        warnings=list(run.warnings),
        tool_versions=versions,
    )
