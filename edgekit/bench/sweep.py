"""The accuracy-vs-latency sweep: build every variant a target allows, validate and benchmark each (here or
on a device), and recommend the fastest one within ``max_accuracy_drop`` points of the source model.

Variants are data: one :class:`Variant` entry each in :data:`VARIANTS`. A new calibration method is an
entry with ``emit_options``; a pruned/QAT variant is an entry with a ``transform`` ("module:function"
taking ``(model, *, calibration, seed)`` and returning a SourceModel); a format whose emitter may be
missing names its module in ``requires``.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.bench import SCHEMA as BENCH_SCHEMA
from edgekit.bench import BenchOptions, bench
from edgekit.errors import ConfigError, EdgekitError
from edgekit.targets import Precision, TargetProfile, load_target

SWEEP_SCHEMA = "edgekit.sweep/1"


@dataclass(frozen=True)
class Variant:
    name: str
    format: str = "tflite"
    precision: str = "fp32"
    emit_options: dict[str, Any] = field(default_factory=dict)
    transform: str | None = None  # "module:function"(model, *, calibration, seed) -> SourceModel
    requires: str | None = None  # a module that must be importable (an emitter being written elsewhere)

    @property
    def needs_calibration(self) -> bool:
        return Precision(self.precision).needs_calibration


VARIANTS: tuple[Variant, ...] = (
    Variant("tflite-fp32", "tflite", "fp32"),
    Variant("tflite-fp16", "tflite", "fp16"),
    Variant("tflite-dynamic", "tflite", "dynamic"),
    Variant("tflite-int8", "tflite", "int8"),
    Variant("tflite-int16x8", "tflite", "int16x8"),
    Variant("onnx-fp32", "onnx", "fp32", requires="edgekit.export.onnx"),
    Variant("onnx-fp16", "onnx", "fp16", requires="edgekit.export.onnx"),
    Variant("onnx-dynamic", "onnx", "dynamic", requires="edgekit.export.onnx"),
    Variant("onnx-int8", "onnx", "int8", requires="edgekit.export.onnx"),  # the profile's calibration method
    Variant("onnx-int8-percentile", "onnx", "int8", {"calibration_method": "percentile"}, requires="edgekit.export.onnx"),
    Variant("onnx-int8-entropy", "onnx", "int8", {"calibration_method": "entropy"}, requires="edgekit.export.onnx"),
    Variant("onnx-int16x8", "onnx", "int16x8", requires="edgekit.export.onnx"),
)


def plan(profile: TargetProfile, variants: tuple[Variant, ...] = VARIANTS, names: list[str] | None = None,
         has_calibration: bool = True) -> tuple[list[Variant], list[dict]]:
    """The variants to build for ``profile``, and the others with the reason each is left out."""
    by_name = {v.name: v for v in variants}
    if names:
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise ConfigError(f"--variants: unknown {', '.join(unknown)}; choose from {', '.join(by_name)}")
        variants = tuple(by_name[n] for n in dict.fromkeys(names))
    chosen, skipped = [], []
    for v in variants:
        if v.format not in profile.formats:
            reason = f"target {profile.name!r} does not emit {v.format}"
        elif Precision(v.precision) not in profile.allowed_precisions:
            reason = f"target {profile.name!r} does not allow {v.precision}"
        elif v.needs_calibration and not has_calibration:
            reason = f"{v.precision} needs calibration data: pass --calibration"
        elif v.requires and importlib.util.find_spec(v.requires) is None:
            reason = f"{v.requires} is not available in this edgekit"
        else:
            chosen.append(v)
            continue
        skipped.append({"variant": v.name, "reason": reason})
    if not chosen:
        raise ConfigError(
            f"no variant to sweep for target {profile.name!r}: "
            + "; ".join(f"{s['variant']}: {s['reason']}" for s in skipped)
        )
    return chosen, skipped


def pareto(rows: list[dict]) -> set[str]:
    """Names of the measured rows no other row beats on both accuracy (higher) and p50 latency (lower)."""
    pts = [(r["variant"], r["accuracy"], r["latency_ms"]["p50"]) for r in rows if _measured(r)]
    front = set()
    for name, acc, lat in pts:
        if not any(a >= acc and t <= lat and (a > acc or t < lat) for _, a, t in pts):
            front.add(name)
    return front


def recommend(rows: list[dict], source_accuracy: float | None, max_drop_points: float) -> str | None:
    """The fastest (p50) measured row whose accuracy is at most ``max_drop_points`` percentage points below
    the source model's; ties go to the smaller artifact, then the name. None when no row qualifies."""
    if source_accuracy is None:
        return None
    floor = source_accuracy - max_drop_points / 100.0 - 1e-12
    ok = [r for r in rows if _measured(r) and r["accuracy"] >= floor]
    if not ok:
        return None
    return min(ok, key=lambda r: (r["latency_ms"]["p50"], r.get("bytes") or 0, r["variant"]))["variant"]


def _measured(r: dict) -> bool:
    return r.get("status") == "ok" and r.get("accuracy") is not None and bool(r.get("latency_ms"))


def _source_accuracy(model, eval_data) -> dict:
    """The axis of the sweep: the source model's top-1 accuracy on labelled --eval-data, else top-1 agreement
    with the source model (which is 1.0 for the source itself)."""
    if eval_data is not None:
        from edgekit.quantize.calibration import load_data
        from edgekit.validate import accuracy, predict_source

        ds = load_data(eval_data, model.input, None)
        if ds.y is not None:
            acc = accuracy(predict_source(model, ds.x), ds.y)
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


Event = Callable[[str, str, int, int], None]  # (variant, stage, done, total)


def sweep(model_path: str | Path, *, target: str | Path | TargetProfile = "rpi", output_dir: str | Path = "sweep",
          calibration: str | Path | None = None, calibration_samples: int = 200, eval_data: str | Path | None = None,
          variants: list[str] | None = None, max_accuracy_drop: float = 1.0, options: BenchOptions | None = None,
          device: str | None = None, ssh=None, seed: int = 0, catalog: tuple[Variant, ...] = VARIANTS,
          on_event: Event | None = None) -> SweepResult:
    """Build, validate and benchmark each variant; write sweep.json, sweep.md and pareto.png to output_dir.

    Ctrl-C (KeyboardInterrupt) stops the sweep: the finished rows are still written, marked interrupted."""
    from edgekit import api
    from edgekit.models import load_model

    if max_accuracy_drop < 0:
        raise ConfigError("--max-accuracy-drop must be >= 0 (percentage points)")
    profile = target if isinstance(target, TargetProfile) else load_target(target)
    chosen, skipped = plan(profile, catalog, variants, calibration is not None)
    out = Path(output_dir)
    opts = options or BenchOptions()
    emit = on_event or (lambda *_: None)
    model = load_model(model_path)
    rows: list[dict] = []
    source = {"path": str(model_path), "sha256": model.sha256, **_source_accuracy(model, eval_data)}
    interrupted = False
    for v in chosen:
        try:
            rows.append(_one(v, api, model, profile, out, calibration, calibration_samples, eval_data, seed, opts,
                             device, ssh, source, lambda stage, d, t, _v=v.name: emit(_v, stage, d, t)))
        except KeyboardInterrupt:
            interrupted = True
        if interrupted or rows[-1].get("interrupted"):
            interrupted = True
            break
    metric = source["metric"]
    src_acc = source["accuracy"]
    front = pareto(rows)
    for r in rows:
        r["pareto"] = r["variant"] in front
    best = recommend(rows, src_acc, max_accuracy_drop)
    measured_where = next((r["where"] for r in rows if r.get("where")), None)
    data = {
        "schema": SWEEP_SCHEMA,
        "bench_schema": BENCH_SCHEMA,
        "source": source,
        "target": {"name": profile.name, "device": profile.device, "runtime": profile.runtime},
        "where": measured_where,
        "metric": metric,
        "max_accuracy_drop_points": max_accuracy_drop,
        "threads": opts.threads,
        "runs": opts.runs,
        "recommended": best,
        "recommendation_rule": (
            f"fastest p50 latency among variants whose {metric} is within {max_accuracy_drop:g} points of the source's"
        ),
        "interrupted": interrupted,
        "planned": [v.name for v in chosen],
        "rows": rows,
        "skipped": skipped,
    }
    from edgekit.bench.sweep_report import write_outputs

    paths = write_outputs(data, out)
    return SweepResult(data=data, interrupted=interrupted, paths=paths)


def _one(v: Variant, api, model, profile, out: Path, calibration, calibration_samples, eval_data, seed,
         opts: BenchOptions, device, ssh, source: dict, progress) -> dict:
    row: dict = {"variant": v.name, "format": v.format, "precision": v.precision, "status": "ok"}
    try:
        progress("convert", 0, 1)
        m = model if v.transform is None else _transform(v.transform)(model, calibration=calibration, seed=seed)
        res = api.convert(
            model.path, target=profile, output_dir=out / "artifacts" / v.name, precision=v.precision,
            formats=[v.format], calibration=calibration, calibration_samples=calibration_samples,
            eval_data=eval_data, seed=seed, model=m, emit_options=dict(v.emit_options) or None,
        )
    except EdgekitError as exc:
        return {**row, "status": "failed", "error": f"conversion: {exc}", "accuracy": None}
    art = res.manifest["artifacts"][0]
    val = art["validation"]
    acc = val.get("accuracy")
    path = res.artifact_paths[0]
    row.update(
        path=str(path.relative_to(out)), io_dtype=art["io_dtype"], bytes=art["bytes"], sha256=art["sha256"],
        validation={"runtime": val["runtime"], "max_abs_error": val["max_abs_error"], "cosine": val["cosine"],
                    "top1_agreement": val["top1_agreement"], "accuracy": acc},
        warnings=res.warnings,
    )
    bopts = opts
    if device is not None and eval_data is not None:  # accuracy with the device's own runtime too
        from dataclasses import replace

        bopts = replace(opts, eval_data=Path(eval_data))
    try:
        b = bench(path, bopts, device=device, ssh=ssh, progress=progress)
    except EdgekitError as exc:
        return {**row, "status": "failed", "error": f"benchmark: {exc}", "accuracy": None}
    row.update(
        latency_ms=b["latency_ms"], runs=b["runs"], interrupted=b["interrupted"], where=b["where"],
        runtime=b["runtime"], peak_rss_bytes=b["peak_rss_bytes"], device_accuracy=b["accuracy"],
    )
    if source["metric"] == "accuracy":
        row["accuracy"] = b["accuracy"]["top1"] if b["accuracy"] else acc["artifact"]
        row["accuracy_measured_with"] = f"{b['runtime']['name']} {b['runtime']['version']} on the device" if b["accuracy"] \
            else f"{val['runtime']['name']} {val['runtime']['version']} (validation)"
    elif v.transform is None:  # no labels: top-1 agreement with the source model
        row["accuracy"] = val.get("top1_agreement")
        row["accuracy_measured_with"] = f"{val['runtime']['name']} {val['runtime']['version']} (validation)"
    else:  # its validation compared it with the transformed model, not the source: no number to rank by
        row["accuracy"] = None
        row["error"] = "transformed variant: pass --eval-data (with labels) to rank it"
    if b["interrupted"]:  # partial numbers are shown, never recommended
        row["status"] = "interrupted"
    return row
