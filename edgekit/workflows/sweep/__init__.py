"""The accuracy-vs-latency sweep: build every variant a target allows, validate and benchmark each (here or
on a device), and recommend the fastest one within ``max_accuracy_drop`` points of the source model.

Variants are data (:data:`edgekit.workflows.sweep.plan.VARIANTS`): a name plus a partial
:class:`~edgekit.options.ConvertOptions` update, applied on top of the sweep's own options.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, replace
from pathlib import Path

from edgekit.bench import SCHEMA as BENCH_SCHEMA
from edgekit.bench import BenchOptions, bench
from edgekit.errors import ConfigError, EdgekitError
from edgekit.options import ConvertOptions
from edgekit.progress import Progress, quiet
from edgekit.targets import TargetProfile, load_target
from edgekit.workflows.sweep.plan import VARIANTS, Variant, pareto, plan, recommend, variant

SWEEP_SCHEMA = "edgekit.sweep/1"
__all__ = ["VARIANTS", "SweepResult", "Variant", "pareto", "plan", "recommend", "sweep", "variant"]


def _source_accuracy(model, options: ConvertOptions) -> dict:
    """The axis of the sweep: the source model's top-1 accuracy on labelled eval data, else top-1 agreement
    with the source model (which is 1.0 for the source itself)."""
    if options.eval_data is not None:
        from edgekit.engine.modelio import eval_dataset
        from edgekit.fidelity.metrics import accuracy, classifier_outputs, predict_source

        ds = eval_dataset(model, options)
        if ds.y is not None:
            out = predict_source(model, ds.x)
            k = (classifier_outputs(out) or [0])[0]
            acc = accuracy(out, ds.y, k)
            if acc is not None:
                return {"metric": "accuracy", "accuracy": acc, "eval_data": ds.source, "samples": len(ds)}
    return {"metric": "top1_agreement", "accuracy": 1.0 if model.is_classifier else None}


def _transform(spec: str):
    mod, _, fn = spec.partition(":")
    try:
        return getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"variant transform {spec!r} cannot be imported: {exc}") from None


@dataclass
class SweepResult:
    data: dict  # what sweep.json holds
    interrupted: bool = False
    paths: dict[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class _Plan:
    profile: TargetProfile
    options: ConvertOptions
    bench: BenchOptions
    out: Path
    device: str | None
    ssh: object
    source: dict


def sweep(model_path: str | Path, *, target: str | Path | TargetProfile = "rpi", output_dir: str | Path = "sweep",
          options: ConvertOptions | None = None, variants: list[str] | None = None, max_accuracy_drop: float = 1.0,
          bench_options: BenchOptions | None = None, device: str | None = None, ssh=None,
          catalog: tuple[Variant, ...] | None = None, progress: Progress = quiet) -> SweepResult:
    """Build, validate and benchmark each variant; write sweep.json, sweep.md and pareto.png to output_dir.
    ``options`` are the conversion options every variant starts from (calibration, eval data, image, ...).

    Ctrl-C (KeyboardInterrupt) stops the sweep: the finished rows are still written, marked interrupted."""
    from edgekit.models import load_model

    if max_accuracy_drop < 0:
        raise ConfigError("--max-accuracy-drop must be >= 0 (percentage points)")
    opts = options or ConvertOptions()
    profile = target if isinstance(target, TargetProfile) else load_target(target)
    chosen, skipped = plan(profile, catalog, variants, opts.calibration is not None)
    from edgekit.engine.steps import loader_options

    model = load_model(model_path, unsafe=opts.unsafe_deserialization, **loader_options(Path(model_path), opts))
    source = {"path": str(model_path), "sha256": model.sha256, **_source_accuracy(model, opts)}
    p = _Plan(profile, opts, bench_options or BenchOptions(), Path(output_dir), device, ssh, source)
    rows: list[dict] = []
    interrupted = False
    for v in chosen:
        if _nothing_to_improve(v, rows):
            skipped.append({"variant": v.name, "reason": f"{v.format} int8 met its fidelity budget: nothing for "
                                                          "mixed precision to improve"})
            continue
        try:
            rows.append(_one(v, model, p, lambda stage, d, t, _v=v.name: progress(f"{_v}: {stage}", d, t)))
        except KeyboardInterrupt:
            interrupted = True
        if interrupted or rows[-1].get("interrupted"):
            interrupted = True
            break
    from edgekit.workflows.sweep.report import write_outputs

    data = _data(p, chosen, skipped, rows, max_accuracy_drop, interrupted)
    return SweepResult(data=data, interrupted=interrupted, paths=write_outputs(data, p.out))


def _data(p: _Plan, chosen, skipped, rows: list[dict], max_accuracy_drop: float, interrupted: bool) -> dict:
    metric = p.source["metric"]
    front = pareto(rows)
    for r in rows:
        r["pareto"] = r["variant"] in front
    return {
        "schema": SWEEP_SCHEMA,
        "bench_schema": BENCH_SCHEMA,
        "source": p.source,
        "target": {"name": p.profile.name, "device": p.profile.device, "runtime": p.profile.runtime},
        "where": next((r["where"] for r in rows if r.get("where")), None),
        "metric": metric,
        "max_accuracy_drop_points": max_accuracy_drop,
        "threads": p.bench.threads,
        "runs": p.bench.runs,
        "recommended": recommend(rows, p.source["accuracy"], max_accuracy_drop,
                                 accelerator=p.profile.delegate in ("gpu", "edgetpu")),
        "recommendation_rule": (
            f"fastest p50 latency among variants whose {metric} is within {max_accuracy_drop:g} points of the "
            "source's, that passed their fidelity gate"
            + ("; variants the accelerator takes whole first" if p.profile.delegate in ("gpu", "edgetpu") else "")
        ),
        "interrupted": interrupted,
        "planned": [v.name for v in chosen],
        "rows": rows,
        "skipped": skipped,
    }


def _build(v: Variant, model, p: _Plan, progress) -> tuple[dict, object]:
    from edgekit.engine import convert

    row: dict = {"variant": v.name, "format": v.format, "precision": v.precision, "status": "ok"}
    progress("convert", 0, 1)
    opts = p.options.updated(v.update)
    m = model if v.transform is None else _transform(v.transform)(model, calibration=opts.calibration, seed=opts.seed)
    res = convert(model.path, p.profile, opts, p.out / "artifacts" / v.name, source=m, overwrite=True)
    art = res.manifest.artifacts[0]
    val = art.validation
    row.update(
        path=str(res.artifact_paths[0].relative_to(p.out)), io_dtype=art.io_dtype, bytes=art.bytes, sha256=art.sha256,
        validation={"runtime": val.runtime.model_dump(), "max_abs_error": val.max_abs_error, "cosine": val.cosine,
                    "top1_agreement": val.top1_agreement,
                    "accuracy": None if val.accuracy is None else val.accuracy.model_dump()},
        gate=art.gate.model_dump(), warnings=res.warnings, **_target_columns(art),
    )
    return row, res


def _nothing_to_improve(v: Variant, rows: list[dict]) -> bool:
    """An ``auto`` variant after the plain int8 variant of its format passed its gate: the same artifact."""
    if v.update.get("mixed_precision") != "auto":
        return False
    plain = [r for r in rows if r["format"] == v.format and r["precision"] == "int8" and r.get("gate")]
    return bool(plain) and all(r["gate"]["passed"] for r in plain)


def _target_columns(art) -> dict:
    """Placement (a variant that splits the accelerator's graph is marked) and the device-runtime check."""
    cols: dict = {}
    if art.placement is not None:
        pl = art.placement
        cols.update(accelerated_fraction=pl.accelerated_fraction, accelerator_partitions=pl.accelerator_partitions,
                    splits_accelerator=pl.accelerated_fraction < 1 or pl.accelerator_partitions > 1,
                    placement=pl.summary_line)
    if art.device is not None:
        cols["device_runtimes"] = {"passed": art.device.passed, "failures": list(art.device.failures),
                                   "runtimes": [f"{r.runtime} {r.version}: {r.status}" for r in art.device.results]}
    return cols


def _one(v: Variant, model, p: _Plan, progress) -> dict:
    try:
        row, res = _build(v, model, p, progress)
    except EdgekitError as exc:
        return {"variant": v.name, "format": v.format, "precision": v.precision, "status": "failed",
                "error": f"conversion: {exc}", "accuracy": None}
    bopts = p.bench
    if p.device is not None and p.options.eval_data is not None:  # accuracy with the device's own runtime too
        bopts = replace(bopts, eval_data=Path(p.options.eval_data))
    try:
        b = bench(res.artifact_paths[0], bopts, device=p.device, ssh=p.ssh, progress=progress)
    except EdgekitError as exc:
        return {**row, "status": "failed", "error": f"benchmark: {exc}", "accuracy": None}
    row.update(
        latency_ms=b["latency_ms"], runs=b["runs"], interrupted=b["interrupted"], where=b["where"],
        runtime=b["runtime"], peak_rss_bytes=b["peak_rss_bytes"], device_accuracy=b["accuracy"],
    )
    _rank(row, b, res.manifest.artifacts[0].validation, p.source["metric"], v)
    if not res.passed:  # shown with its numbers, never recommended
        row["status"] = "failed-gate"
    if b["interrupted"]:  # partial numbers are shown, never recommended
        row["status"] = "interrupted"
    return row


def _rank(row: dict, b: dict, val, metric: str, v: Variant) -> None:
    """The number the variant is ranked by, and what measured it."""
    rt = f"{val.runtime.name} {val.runtime.version} (validation)"
    if metric == "accuracy":
        row["accuracy"] = b["accuracy"]["top1"] if b["accuracy"] else val.accuracy.artifact
        row["accuracy_measured_with"] = (f"{b['runtime']['name']} {b['runtime']['version']} on the device"
                                         if b["accuracy"] else rt)
    elif v.transform is None:  # no labels: top-1 agreement with the source model
        row["accuracy"] = val.top1_agreement
        row["accuracy_measured_with"] = rt
    else:  # its validation compared it with the transformed model, not the source: no number to rank by
        row["accuracy"] = None
        row["error"] = "transformed variant: pass --eval-data (with labels) to rank it"
