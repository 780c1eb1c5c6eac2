"""The Python API. ``convert`` walks load -> quantize/emit -> validate -> write for one model and target.

Nothing is written until every artifact has been converted and validated; then artifacts and the
manifest are written atomically (temp file + rename), so a failure never leaves half an artifact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit.errors import CalibrationError, ConfigError
from edgekit.export import get_emitter
from edgekit.hashing import atomic_write_bytes, atomic_write_json, sha256_bytes
from edgekit.manifest import SCHEMA_VERSION, tool_versions
from edgekit.optimize.options import OptimizeOptions
from edgekit.quantize.calibration import RANDOM, Dataset, ImageOptions, load_data, random_data, split
from edgekit.runtimes import open_runner
from edgekit.targets import Precision, TargetProfile, load_target

DEFAULT_CALIBRATION_SAMPLES = 200
VALIDATION_RANDOM_SAMPLES = 64


@dataclass
class ConvertResult:
    manifest: dict
    manifest_path: Path
    artifact_paths: list[Path]
    warnings: list[str] = field(default_factory=list)


def _noop(_: str) -> None:
    pass


def resolve_precision(profile: TargetProfile, requested: str | None, has_calibration: bool) -> tuple[Precision, str | None]:
    """The precision to build, and the reason when it differs from what the profile/user asked for."""
    if requested is not None:
        try:
            precision = Precision(requested)
        except ValueError:
            raise ConfigError(
                f"--precision {requested!r} is unknown; choose from {', '.join(p.value for p in Precision)}"
            ) from None
        profile.check_precision(precision)
        if precision.needs_calibration and not has_calibration:
            raise CalibrationError(
                f"--precision {precision.value} needs calibration data: pass --calibration FILE.npz|FILE.npy|IMAGES_DIR "
                "with a few hundred representative inputs"
            )
        return precision, None
    precision = profile.precision
    if precision.needs_calibration and not has_calibration:
        if profile.full_integer_required or not profile.weight_only_fallback:
            raise CalibrationError(
                f"target {profile.name!r} needs a full-integer model, and full-integer quantization needs "
                "calibration data: pass --calibration FILE.npz (array 'x' shaped like the model input), "
                "FILE.npy, or a folder of images, with a few hundred representative samples"
            )
        return Precision.DYNAMIC, (
            f"no calibration data: built dynamic-range int8 (int8 weights, float activations) instead of "
            f"{precision.value}; pass --calibration FILE|DIR for full {precision.value}"
        )
    return precision, None


def _resolve_formats(profile: TargetProfile, formats: list[str] | None) -> list[str]:
    fmts = list(formats) if formats else list(profile.formats)
    for f in fmts:
        get_emitter(f)  # unknown format -> ConfigError
    return list(dict.fromkeys(fmts))


def convert(
    model_path: str | Path,
    *,
    target: str | Path | TargetProfile = "rpi",
    output_dir: str | Path = "out",
    precision: str | None = None,
    formats: list[str] | None = None,
    calibration: str | Path | None = None,
    calibration_samples: int = DEFAULT_CALIBRATION_SAMPLES,
    eval_data: str | Path | None = None,
    image_options: ImageOptions | None = None,
    seed: int = 0,
    unsafe: bool = False,
    model=None,
    on_stage: Callable[[str], None] = _noop,
    emit_options: dict | None = None,
    load_options: dict | None = None,
    optimize: OptimizeOptions | None = None,
) -> ConvertResult:
    """Convert one model for one target. ``model`` may pass an already loaded/optimized SourceModel.
    ``load_options`` go to the loader (e.g. ``input_shape`` for ONNX); ``emit_options`` to every emitter.
    ``optimize`` prunes and/or QAT-fine-tunes the loaded Keras model before emission (edgekit.optimize)."""
    from edgekit.models import load_model

    profile = target if isinstance(target, TargetProfile) else load_target(target)
    fmts = _resolve_formats(profile, formats)
    warnings: list[str] = []
    if calibration_samples < 1:
        raise ConfigError("--calibration-samples must be at least 1")

    on_stage("loading model")
    if model is None:
        model = load_model(model_path, unsafe=unsafe, **(load_options or {}))
    if (load_options or {}).get("input_shape") and model.format != "onnx":
        raise ConfigError(f"{model.path}: --input-shape applies to ONNX models only; a {model.format} model has its own")
    if "tflite" in fmts and model.tf_function is None:
        raise ConfigError(
            f"{model.path}: {model.format.upper()} models cannot be converted to TFLite by edgekit (there is no "
            "TensorFlow graph to convert). Use --format onnx, or an onnxruntime target such as x86-ort or arm64-ort"
        )
    if len(model.inputs) != 1:
        raise ConfigError(
            f"{model.path}: the model has {len(model.inputs)} inputs; edgekit convert supports single-input models"
        )
    spec = model.input

    on_stage("loading data")
    calib_ds: Dataset | None = None
    if calibration is not None and str(calibration) == RANDOM:
        calib_ds = random_data(spec, calibration_samples, seed)
        warnings.append(
            "CALIBRATED ON RANDOM NOISE (--calibration random): quantization ranges do not reflect real "
            "inputs; accuracy of this artifact is unknown. Use real data for anything you ship"
        )
    elif calibration is not None:
        calib_ds = load_data(calibration, spec, image_options)
    eval_ds = load_data(eval_data, spec, image_options) if eval_data is not None else None

    qat = optimize is not None and optimize.qat  # QAT learns its ranges: no calibration needed for int8
    prec, fallback = resolve_precision(profile, precision, calib_ds is not None or qat)
    if fallback:
        warnings.append(fallback)
    if optimize is not None and optimize.active:
        from edgekit.optimize.pipeline import check_plan

        check_plan(optimize, model, profile, prec, fmts)

    calib_used: Dataset | None = None
    holdout: Dataset | None = None
    if calib_ds is not None:
        calib_used, holdout = split(
            calib_ds, calibration_samples, seed, holdout=eval_ds is None and calib_ds.kind != RANDOM
        )
    if eval_ds is not None:
        val_ds, val_kind = eval_ds, "eval-data"
    elif holdout is not None:
        val_ds, val_kind = holdout, "calibration hold-out (disjoint from the calibration samples)"
    else:
        val_ds = random_data(spec, VALIDATION_RANDOM_SAMPLES, seed + 1)
        val_kind = "random (no --eval-data or real calibration data: fidelity on noise only, no accuracy)"
        warnings.append("validated on seeded random inputs only; pass --eval-data FILE.npz for meaningful numbers")

    optimized = None
    if optimize is not None and optimize.active:
        from edgekit.optimize.pipeline import optimize as run_optimize

        model, optimized = run_optimize(model, optimize, val=val_ds, seed=seed, image_options=image_options,
                                        on_stage=on_stage)
        warnings.extend(optimized.warnings)

    on_stage("running the source model")
    from edgekit.validate import predict_runner, predict_source, validate

    src_out = predict_source(model, val_ds.x)
    if not all(np.isfinite(o).all() for o in src_out):
        raise CalibrationError(
            f"{model.path}: the source model outputs NaN/Inf on the validation inputs; check the model and data"
        )

    artifacts = []
    name = model.name
    outputs_by_format = {}
    for fmt in fmts:
        on_stage(f"converting to {fmt} ({prec.value})")
        art = get_emitter(fmt)(
            model, profile, prec, None if calib_used is None else calib_used.x, seed=seed, **(emit_options or {})
        )
        on_stage(f"validating {fmt} with {art.runtime}")
        with open_runner(art.runtime, art.data, threads=1) as runner:
            art_out = predict_runner(runner, val_ds.x)
            rt_version = runner.version
        outputs_by_format[fmt] = art_out
        v = validate(src_out, art_out, val_ds.y)
        v["runtime"] = {"name": art.runtime, "version": rt_version}
        fname = f"{name}-{profile.name}-{art.precision}{art.suffix}"
        entry = {
            "path": fname,
            "format": art.format,
            "precision": art.precision,
            "io_dtype": art.io_dtype,
            "sha256": sha256_bytes(art.data),
            "bytes": len(art.data),
            "validation": v,
            **art.extra,
        }
        if profile.memory_budget_mb and len(art.data) > profile.memory_budget_mb * 2**20:
            warnings.append(
                f"{fname}: {len(art.data) / 2**20:.1f} MiB exceeds target {profile.name!r}'s memory budget "
                f"of {profile.memory_budget_mb} MiB"
            )
        warnings.extend(f"{fname}: {n}" for n in art.notes)
        artifacts.append((entry, art))
        if optimized is not None:
            optimized.add_artifact(fname, art)

    cross = None
    if len(outputs_by_format) > 1:
        from edgekit.validate import fidelity

        (fa, a), (fb, b) = list(outputs_by_format.items())[:2]
        cross = {"between": [fa, fb], **fidelity(a, b)}

    manifest = {
        "schema_version": SCHEMA_VERSION,
        "edgekit_version": tool_versions()["edgekit"],
        "source": {
            "path": str(model.path),
            "sha256": model.sha256,
            "format": model.format,
            "inputs": [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype} for t in model.inputs],
            "outputs": [{"name": t.name, "shape": list(t.shape)} for t in model.outputs],
        },
        "target": {
            "name": profile.name,
            "description": profile.description,
            "device": profile.device,
            "runtime": profile.runtime,
            "delegate": profile.delegate,
            "profile": profile.source,
        },
        "precision": {
            "profile_default": profile.precision.value,
            "requested": precision,
            "used": prec.value,
            "fallback": fallback,
        },
        "calibration": None
        if calib_used is None
        else {
            "source": calib_ds.source,
            "kind": calib_ds.kind,
            "random": calib_ds.kind == RANDOM,
            "samples": len(calib_used),
            "available": len(calib_ds),
            "seed": seed,
            "sha256": calib_used.sha256,
        },
        "validation_data": {
            "kind": val_kind,
            "source": val_ds.source,
            "samples": len(val_ds),
            "labels": val_ds.y is not None,
            "sha256": val_ds.sha256,
        },
        "artifacts": [e for e, _ in artifacts],
        "validation": {
            k: artifacts[0][0]["validation"][k] for k in ("max_abs_error", "cosine", "top1_agreement", "accuracy")
        },
        "cross_format_agreement": cross,
        "optimization": None if optimized is None else optimized.manifest(),
        "warnings": warnings,
        "tool_versions": tool_versions(),
    }
    on_stage("writing")
    out = Path(output_dir)
    paths = []
    for entry, art in artifacts:
        p = out / entry["path"]
        atomic_write_bytes(p, art.data)
        paths.append(p)
    mpath = out / "manifest.json"
    atomic_write_json(mpath, manifest)
    return ConvertResult(manifest=manifest, manifest_path=mpath, artifact_paths=paths, warnings=warnings)


def build(
    config: str | Path,
    *,
    output_dir: str | Path = "build",
    shard: tuple[int, int] | None = None,
    cache_dir: str | Path | None = None,
    force: bool = False,
):
    """Build every (model, target, variant) cell of a build config (edgekit.yaml) into ``output_dir``:
    ``cells/<cell-id>/`` + ``index.json``, reusing unchanged cells. Returns a BuildResult (``.index``,
    ``.failed``). See :mod:`edgekit.build`."""
    from edgekit.build.runner import build as run_build

    return run_build(config, output_dir, shard=shard, cache_dir=cache_dir, force=force)


def merge(shard_dirs: list[str | Path], *, output_dir: str | Path = "build") -> dict:
    """Merge the folders of ``build(shard=(k, n))`` runs into one build folder; returns its index."""
    from edgekit.build.merge import merge as run_merge

    return run_merge(shard_dirs, output_dir)


def report(
    build_dir: str | Path,
    *,
    baseline: str | Path | None = None,
    bench: list[str | Path] | None = None,
    formats: list[str] | None = None,
    output_dir: str | Path | None = None,
    save_baseline: str | Path | None = None,
) -> dict:
    """Check a build folder against its thresholds and ``baseline``; with ``output_dir`` write ``formats``
    (default: all of edgekit.report.REPORT_FORMATS). Returns the report dict (``["passed"]``, ``["failures"]``)."""
    from edgekit.report import REPORT_FORMATS, make_report, write_report
    from edgekit.report.checks import save_baseline as write_baseline

    rep = make_report(build_dir, baseline=baseline, bench=bench)
    if output_dir is not None:
        write_report(rep, list(formats or REPORT_FORMATS), output_dir)
    if save_baseline is not None:
        write_baseline(rep["rows"], save_baseline)
    return rep


def bench(model_path: str | Path, *, device: str | None = None, ssh=None, progress=None, **options) -> dict:
    """Benchmark a .tflite/.onnx artifact here, or on ``device`` (``ssh://user@host[:port]``; ``ssh`` is an
    :class:`edgekit.bench.remote.SshOptions`). ``options`` are :class:`edgekit.bench.BenchOptions` fields
    (threads, runs, warmup, seed, inputs, eval_data, runtime, accelerator). Returns the ``edgekit.bench/1``
    dict; ``["where"]`` says where it was measured."""
    from edgekit.bench import BenchOptions
    from edgekit.bench import bench as _bench

    return _bench(model_path, BenchOptions(**options), device=device, ssh=ssh, progress=progress)


def sweep(model_path: str | Path, **kwargs):
    """Build, validate and benchmark every variant a target allows; see :func:`edgekit.bench.sweep.sweep`."""
    from edgekit.bench.sweep import sweep as _sweep

    return _sweep(model_path, **kwargs)
