"""The conversion as small named steps: load -> data -> precision -> optimize -> emit -> validate.

(manifest and write are in :mod:`edgekit.engine.record` and :mod:`edgekit.engine.output`.) Each step reads
and fills its part of a :class:`~edgekit.engine.state.Run`; only the first failure stops the run.
"""

from __future__ import annotations

import numpy as np

from edgekit.engine.modelio import calibration_arrays, check_finite, data_specs, make_stream
from edgekit.engine.precision import resolve_precision
from edgekit.engine.state import Built, Run
from edgekit.errors import CalibrationError, ConfigError
from edgekit.models.base import SourceModel, TensorSpec
from edgekit.quantize.calibration import RANDOM, load_data, random_data, split
from edgekit.registry import EMITTERS

VALIDATION_RANDOM_SAMPLES = 64


def load(run: Run, source: SourceModel | None) -> None:
    """Load the model (or take an already loaded/optimized one) and check that it fits the formats."""
    from edgekit.models import load_model

    opts = run.options
    run.stage("loading model")
    run.formats = list(opts.formats or run.profile.formats)
    if source is None:
        source = load_model(run.path, unsafe=opts.unsafe_deserialization, **loader_options(run.path, opts))
    if opts.unsafe_deserialization:
        run.warnings.append(
            "loaded with --unsafe-deserialization: code inside the model file was allowed to run; only do this "
            "for models you trust"
        )
    if "tflite" in run.formats and not source.emits_tflite:
        raise ConfigError(
            f"{source.path}: {source.format.upper()} models cannot be converted to TFLite by edgekit (there is no "
            "TensorFlow graph to convert). Use --format onnx, or an onnxruntime target such as x86-ort or arm64-ort"
        )
    if opts.input_shape and source.format != "onnx":
        source = _fix_shapes(source, ";".join(opts.input_shape), "--input-shape")
    if opts.input_value and source.format != "onnx":
        source = source.with_constants(dict(opts.input_value))
    run.model = source
    run.stream = make_stream(source, opts.state, opts.state_init)


def loader_options(path, opts) -> dict:
    """``load_model`` options for ``path`` from ConvertOptions ``opts``: ONNX takes shapes and frozen inputs
    (Keras/SavedModel get them in :func:`load`, after loading); SavedModel and .tflite take the signature.
    Whoever loads a source to pass it as ``source=`` (sweep, build) loads it with these."""
    from edgekit.models import detect_format

    fmt = detect_format(path)
    out: dict = {}
    if fmt == "onnx":
        if opts.input_shape:
            out["input_shape"] = ";".join(opts.input_shape)
        if opts.input_value:
            out["input_value"] = dict(opts.input_value)
    if opts.signature is not None:
        if fmt not in ("savedmodel", "tflite"):
            raise ConfigError(f"--signature {opts.signature!r}: only SavedModel and .tflite sources have signatures; "
                              f"{path} is {fmt}")
        out["signature"] = opts.signature
    return out


def _fix_shapes(model: SourceModel, spec: str | dict, origin: str) -> SourceModel:
    from edgekit.models.onnx import parse_input_shape

    shapes = parse_input_shape(spec)
    names = {t.name for t in model.inputs}
    unknown = [k for k in shapes if k is not None and k not in names]
    if unknown or (None in shapes and len(model.inputs) > 1):
        what = f"no input {', '.join(map(repr, unknown))}" if unknown else "several inputs: name one, NAME:DIMS"
        raise ConfigError(f"{origin}: the model has {what}; {model.io_text()}")
    new = []
    for t in model.inputs:
        shape = shapes.get(t.name, shapes.get(None))
        if shape is None:
            new.append(t)
            continue
        if len(shape) != len(t.shape) or any(d is not None and d != s for d, s in zip(t.shape[1:], shape[1:])):
            raise ConfigError(
                f"{model.path}: {origin} {','.join(map(str, shape))} does not fit input {t.name!r} of shape "
                f"{_dims(t.shape)}; give one dimension per axis, keeping the fixed ones"
            )
        new.append(TensorSpec(t.name, (t.shape[0], *shape[1:]), t.dtype))
    return model.with_inputs(new)


def _dims(shape) -> str:
    return "(" + ",".join("?" if d is None else str(d) for d in shape) + ")"


def data(run: Run) -> None:
    """Load calibration and evaluation data; fix dynamic input sizes from the data, or refuse clearly."""
    opts, model = run.options, run.model
    run.stage("loading data")
    real_calibration = opts.calibration is not None and opts.calibration != RANDOM
    specs, kw = data_specs(model, run.stream), {"stream": run.stream, "describe": model.io_text()}
    if real_calibration:
        run.calibration = load_data(opts.calibration, specs, opts.image, **kw)
    if opts.eval_data is not None:
        run.eval = load_data(opts.eval_data, specs, opts.image, **kw)
    if model.dynamic_inputs:
        _shapes_from_data(run)
    if opts.calibration == RANDOM:
        run.calibration = random_data(data_specs(run.model, run.stream), opts.calibration_samples, opts.seed,
                                      stream=run.stream)
        run.warnings.append(
            "CALIBRATED ON RANDOM NOISE (--calibration random): quantization ranges do not reflect real "
            "inputs; accuracy of this artifact is unknown. Use real data for anything you ship"
        )


def _shapes_from_data(run: Run) -> None:
    model = run.model
    ds = run.calibration or run.eval
    t = model.dynamic_inputs[0]
    if ds is None or any(d.name not in ds.inputs for d in model.dynamic_inputs):
        raise ConfigError(
            f"{model.path}: input {t.name!r} has dynamic dimensions {_dims(t.shape)}, and no data says which size "
            f"to build for: pass --input-shape {t.name}:{','.join(str(d or 1) if i == 0 else str(d or 'N') for i, d in enumerate(t.shape))} "
            "(replacing N with the size your device feeds), or real --calibration data"
        )
    lead = 2 if run.stream is not None else 1
    sizes = {n: a.shape[lead:] for n, a in ds.inputs.items()}
    for other in (run.calibration, run.eval):
        got = None if other is None else {n: a.shape[lead:] for n, a in other.inputs.items()}
        if got is not None and got != sizes:
            raise CalibrationError(
                f"{other.source}: samples of shape {_one(got)} but {ds.source} has {_one(sizes)}; "
                "calibration and evaluation data must have one input size"
            )
    spec = ";".join(f"{d.name}:{','.join(map(str, (1, *sizes[d.name])))}" for d in model.dynamic_inputs)
    run.model = _fix_shapes(model, spec, f"the data's sample shape (from {ds.source})")
    for d in model.dynamic_inputs:
        run.warnings.append(
            f"input {d.name!r} has dynamic dimensions {_dims(d.shape)}: built for {_dims((1, *sizes[d.name]))}, the "
            f"size of the samples in {ds.source} (pass --input-shape to choose another)"
        )


def _one(sizes: dict):
    return next(iter(sizes.values())) if len(sizes) == 1 else sizes


def precision(run: Run) -> None:
    """The precision to build, falling back to dynamic range (and saying so) when allowed."""
    opts = run.options
    qat = opts.optimize is not None and opts.optimize.qat  # QAT learns its ranges: no calibration needed
    run.precision, run.fallback = resolve_precision(run.profile, opts.precision, run.calibration is not None or qat)
    if run.fallback:
        run.warnings.append(run.fallback)
    if opts.optimize is not None:
        from edgekit.optimize.pipeline import check_plan

        check_plan(opts.optimize, run.model, run.profile, run.precision, run.formats)
    _split(run)


def _split(run: Run) -> None:
    """The seeded calibration sample and the validation set (eval data, else a disjoint hold-out, else noise)."""
    opts = run.options
    ds = run.calibration
    if ds is not None:
        holdout = run.eval is None and ds.kind != RANDOM
        run.calibration_used, held = split(ds, opts.calibration_samples, opts.seed, holdout=holdout)
        _sample_warnings(run, ds, len(run.calibration_used), held)
    else:
        held = None
    if run.eval is not None:
        run.validation, run.validation_kind = run.eval, "eval-data"
    elif held is not None:
        run.validation, run.validation_kind = held, "calibration hold-out (disjoint from the calibration samples)"
    else:
        run.validation = random_data(data_specs(run.model, run.stream), VALIDATION_RANDOM_SAMPLES, opts.seed + 1,
                                     stream=run.stream)
        run.validation_kind = "random (no --eval-data or real calibration data: fidelity on noise only, no accuracy)"
        run.warnings.append("validated on seeded random inputs only; pass --eval-data FILE.npz for meaningful numbers")


def _sample_warnings(run: Run, ds, used: int, held) -> None:
    asked = run.options.calibration_samples
    if used < asked and ds.kind != RANDOM:
        why = f", after {len(held)} were held out for validation" if held is not None else ""
        run.warnings.append(
            f"--calibration-samples {asked}: {ds.source} has {len(ds)} samples{why}, so {used} were used"
        )
    if used < 10 and ds.kind != RANDOM and run.precision is not None and run.precision.needs_calibration:
        run.warnings.append(
            f"calibrated on only {used} sample(s): activation ranges from so few inputs rarely cover real data; "
            "pass a few hundred representative samples"
        )


def optimize(run: Run) -> None:
    opts = run.options
    if opts.optimize is None:
        return
    from edgekit.optimize.pipeline import optimize as run_optimize

    run.model, run.optimized = run_optimize(
        run.model, opts.optimize, val=run.validation, seed=opts.seed, image_options=opts.image,
        on_stage=run.stage,
    )
    run.warnings.extend(run.optimized.warnings)


def source_outputs(run: Run) -> None:
    from edgekit.fidelity.metrics import predict_source

    run.stage("running the source model")
    out = predict_source(run.model, run.validation.x)
    if not all(np.isfinite(o).all() for o in out):
        raise CalibrationError(
            f"{run.model.path}: the source model outputs NaN/Inf on the validation inputs; check the model and data"
        )
    run.source_outputs = out


def emit(run: Run) -> None:
    """Emit and validate every format (improving a quantized one that misses its budget, with
    --mixed-precision auto); nothing is written yet."""
    calib = None if run.calibration_used is None else calibration_arrays(run.model, run.calibration_used.x)
    if calib is not None:
        check_finite(calib, str(run.model.path))
    for fmt in run.formats:
        run.stage(f"converting to {fmt} ({run.precision.value})")
        art = EMITTERS.get(fmt)(run.model, run.profile, run.precision, calib, seed=run.options.seed,
                                **run.options.emit_options(fmt))
        built = _validated(run, art)
        for c in built.record.gate.failed:
            run.warnings.append(f"{built.record.path}: FAILED {c.name}: {c.message}")
        run.built.append(built)
        if run.optimized is not None:
            run.optimized.add_artifact(built.record.path, built.artifact)


def _validated(run: Run, art) -> Built:
    """The artifact validated; with --layer-report its per-layer error, with --mixed-precision auto the
    fewest sensitive layers kept in higher precision when it misses its budget."""
    from edgekit.engine import mixed
    from edgekit.engine.record import artifact_record

    opts, mark = run.options, len(run.warnings)
    run.stage(f"validating {art.format} with {art.runtime}")
    record, outputs, files = artifact_record(run, art)  # may rewrite art.data (a device-runtime quirk fixed)
    wanted = opts.layer_report or (opts.mixed_precision == "auto" and not record.gate.passed)
    why_not = mixed.applicable(run, art) if wanted else None
    if not wanted or why_not:
        if why_not:
            run.warnings.append(f"{record.path}: no per-layer analysis: {why_not}")
        return Built(record=record, data=art.data, outputs=outputs, artifact=art, files=files)
    run.stage("per-layer error")
    h = mixed.hook(run, art)
    n = min(mixed.REPORT_SAMPLES, len(run.validation))
    report = h.layer_report(run.validation.take(np.arange(n)).x)
    stem = record.path.rsplit(".", 1)[0]
    layers, reports = mixed.layer_files(report, stem) if opts.layer_report else (None, {})
    result = None
    if opts.mixed_precision == "auto" and not record.gate.passed:
        result, better, more = mixed.search(run, art, h, report)
        reports.update(more)
        if better is not None:
            del run.warnings[mark:]  # the first artifact's notes: the chosen one gets its own
            art = better
            record, outputs, files = artifact_record(run, art)
        else:
            run.warnings.append(f"{record.path}: mixed precision: {result.reason}"
                                + (f"; {result.suggestion}" if result.suggestion else ""))
    record = record.model_copy(update={"layer_report": layers, "mixed_precision": result})
    return Built(record=record, data=art.data, outputs=outputs, artifact=art, files={**files, **reports})
