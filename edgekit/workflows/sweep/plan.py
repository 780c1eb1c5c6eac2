"""What a sweep builds: :data:`VARIANTS` (one registry; a variant is a name plus a partial ConvertOptions
update), the plan for a target, the Pareto front and the recommendation rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgekit.errors import ConfigError
from edgekit.registry import Registry
from edgekit.targets import Precision, TargetProfile


@dataclass(frozen=True)
class Variant:
    """A name plus a partial :class:`~edgekit.options.ConvertOptions` update (``{"precision": "int8",
    "formats": ["onnx"], "onnx": {"calibration_method": "entropy"}}``), and optionally a ``transform``
    ("module:function" taking ``(model, *, calibration, seed)`` and returning a SourceModel)."""

    name: str
    update: dict[str, Any] = field(default_factory=dict)
    transform: str | None = None

    @property
    def format(self) -> str:
        return (self.update.get("formats") or ["tflite"])[0]

    @property
    def precision(self) -> str:
        return self.update.get("precision") or "fp32"

    @property
    def needs_calibration(self) -> bool:
        return Precision(self.precision).needs_calibration


def variant(name: str, fmt: str, precision: str, **update: Any) -> Variant:
    return Variant(name, {"formats": [fmt], "precision": precision, **update})


VARIANTS = Registry("sweep variant")
for _v in (
    variant("tflite-fp32", "tflite", "fp32"),
    variant("tflite-fp16", "tflite", "fp16"),
    variant("tflite-dynamic", "tflite", "dynamic"),
    variant("tflite-int8", "tflite", "int8"),
    variant("tflite-int16x8", "tflite", "int16x8"),
    variant("onnx-fp32", "onnx", "fp32"),
    variant("onnx-fp16", "onnx", "fp16"),
    variant("onnx-dynamic", "onnx", "dynamic"),
    variant("onnx-int8", "onnx", "int8"),  # the profile's calibration method
    variant("onnx-int8-percentile", "onnx", "int8", onnx={"calibration_method": "percentile"}),
    variant("onnx-int8-entropy", "onnx", "int8", onnx={"calibration_method": "entropy"}),
    variant("onnx-int16x8", "onnx", "int16x8"),
    variant("tflite-int8-auto", "tflite", "int8", mixed_precision="auto"),  # int8, sensitive layers kept higher
    variant("onnx-int8-auto", "onnx", "int8", mixed_precision="auto"),
):
    VARIANTS.register(_v.name, _v)


def plan(profile: TargetProfile, variants=None, names: list[str] | None = None,
         has_calibration: bool = True) -> tuple[list[Variant], list[dict]]:
    """The variants to build for ``profile``, and the others with the reason each is left out."""
    variants = tuple(e.load() for e in VARIANTS) if variants is None else tuple(variants)
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


def recommend(rows: list[dict], source_accuracy: float | None, max_drop_points: float,
              accelerator: bool = False) -> str | None:
    """The fastest (p50) measured row whose accuracy is at most ``max_drop_points`` percentage points below
    the source model's; ties go to the smaller artifact, then the name. On an accelerator target, variants
    the accelerator takes whole come first (a split graph runs partly on the CPU, hopping between the two).
    None when no row qualifies."""
    if source_accuracy is None:
        return None
    floor = source_accuracy - max_drop_points / 100.0 - 1e-12
    ok = [r for r in rows if _measured(r) and r["accuracy"] >= floor]
    whole = [r for r in ok if not r.get("splits_accelerator")]
    if accelerator and whole:
        ok = whole
    if not ok:
        return None
    return min(ok, key=lambda r: (r["latency_ms"]["p50"], r.get("bytes") or 0, r["variant"]))["variant"]


def _measured(r: dict) -> bool:
    return r.get("status") == "ok" and r.get("accuracy") is not None and bool(r.get("latency_ms"))
