"""Accuracy-aware mixed precision: keep the fewest, most sensitive layers in higher precision until the
artifact meets the fidelity budget.

The engine supplies ``build(keep, mode) -> Candidate``: quantize with the layers in ``keep`` held at
``mode`` ("int16": 16-bit activations, 8-bit weights; "float": not quantized), run the artifact on the
validation inputs and measure it. The search ranks layers by the per-layer report, builds the fully
quantized artifact first, then keeps the top-k layers for k = 1, 2, 4, ... until the budget is met and
bisects between the last miss and the first hit: about 2·log2(n) builds, each validated for real. It assumes
that keeping more of the ranked layers never hurts, which holds for the error, not always exactly: every
point it built is recorded, and the answer is always a built, measured artifact."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from edgekit.manifest.fidelity import Budget, CurvePoint, Measured, MixedResult, Mode  # noqa: F401  (re-exported)
from edgekit.targets import Precision, TargetProfile

class Candidate(BaseModel):
    """What ``build`` returns: the measurements and the artifact itself (not serialized)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    measured: Measured
    data: bytes = Field(exclude=True, repr=False)


def choose_mode(profile: TargetProfile, fmt: str) -> Mode | None:
    """What the target lets the search keep: 16-bit activations where the profile allows int16x8 (ONNX: ORT
    QDQ overrides; TFLite: ai-edge-quantizer recipes), else float where the target allows float ops, else
    nothing (None)."""
    if fmt in ("onnx", "tflite") and Precision.INT16X8 in profile.allowed_precisions:
        return "int16"
    if profile.full_integer_required:
        return None
    return "float"


def _point(variant: str, k: int, mode: Mode | None, cand: Candidate, budget: Budget, t0: float) -> CurvePoint:
    return CurvePoint(variant=variant, layers_kept=k, mode=mode, measured=cand.measured,
                      passed=not budget.failures(cand.measured), seconds=round(time.perf_counter() - t0, 3))


def search(
    ranked: Sequence[str],
    build: Callable[[frozenset[str], Mode], Candidate],
    budget: Budget,
    *,
    mode: Mode | None,
    fallbacks: Mapping[str, Callable[[], Candidate]] | None = None,
    alternatives: Mapping[str, Callable[[], Candidate]] | None = None,
    report_top: int = 5,
) -> tuple[MixedResult, bytes | None]:
    """Find the fewest layers of ``ranked`` (most sensitive first) to keep at ``mode`` so that the artifact
    meets ``budget``. Returns the result and the chosen artifact's bytes (None when nothing meets it).

    ``alternatives`` (e.g. TFLite's whole-model "int16x8") are built too when full quantization fails; the
    smallest artifact that meets the budget wins. ``fallbacks`` (e.g. "fp16") are built only when nothing
    else meets it."""
    start = time.perf_counter()
    curve: list[CurvePoint] = []
    built: dict[int, Candidate] = {}
    ranked = list(ranked)
    top = tuple(ranked[:report_top])

    def at(k: int) -> bool:
        t0 = time.perf_counter()
        cand = build(frozenset(ranked[:k]), mode or "float")
        built[k] = cand
        curve.append(_point("mixed" if k else "int8", k, mode if k else None, cand, budget, t0))
        return curve[-1].passed

    def result(**kw) -> MixedResult:
        return MixedResult(budget=budget, baseline=built[0].measured, most_sensitive=top, curve=tuple(curve),
                           builds=len(curve), seconds=round(time.perf_counter() - start, 3), **kw)

    if at(0):
        return result(met=True, variant="int8", mode=None, kept=(), chosen=built[0].measured,
                      reason="the fully quantized artifact meets the budget: nothing kept in higher precision"), built[0].data
    why0 = "; ".join(budget.failures(built[0].measured))
    if mode is None:
        return result(met=False, variant="none", mode=None, kept=(), chosen=None,
                      reason=f"full integer fails the budget ({why0}) and the target allows neither float ops nor "
                             f"16-bit activations; most sensitive layers: {', '.join(top)}",
                      suggestion="quantization-aware training (--qat) to make the model robust to int8"), None
    n = len(ranked)
    alts = _alternatives(alternatives or {}, built, curve, budget, n)
    if n == 0 or not at(n):
        if alts:
            return _pick_alternative(result, alts, built, why0), built[alts[0].variant].data
        return _no_mix(result, built, curve, budget, fallbacks or {}, why0, mode, n, start)
    hi = _fewest(n, at, built, budget)
    chosen = built[hi]
    b0 = built[0].measured
    if alts and alts[0].measured.bytes < chosen.measured.bytes:
        return _pick_alternative(result, alts, built, why0, mixed=(hi, n, mode)), built[alts[0].variant].data
    reason = (f"full quantization fails ({why0}); keeping the {hi} most sensitive of {n} ranked layers at {mode} "
              f"gives cosine {chosen.measured.cosine:.4f}, {chosen.measured.bytes:,} bytes "
              f"(int8: {b0.bytes:,}); {hi - 1 if hi > 1 else 0} layer(s) did not meet the budget")
    return result(met=True, variant="mixed", mode=mode, kept=tuple(ranked[:hi]), chosen=chosen.measured,
                  reason=reason), chosen.data


def _fewest(n: int, at: Callable[[int], bool], built: dict[int, Candidate], budget: Budget) -> int:
    """The fewest layers k (1..n) whose build meets the budget, knowing that n does: doubling from 1 (the
    answer is usually a few layers), then bisection between the last miss and the first hit."""
    lo, k = 0, 1
    while k < n and not at(k):
        lo, k = k, 2 * k
    hi = min(k, n)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if mid not in built and at(mid) or mid in built and not budget.failures(built[mid].measured):
            hi = mid
        else:
            lo = mid
    return hi


def _alternatives(alternatives, built, curve, budget, n) -> list[CurvePoint]:
    """Build every alternative; the passing ones, smallest first."""
    for name, make in alternatives.items():
        t0 = time.perf_counter()
        built[name] = make()
        curve.append(_point(name, n, None, built[name], budget, t0))
    return sorted((p for p in curve if p.variant in alternatives and p.passed), key=lambda p: p.measured.bytes)


def _pick_alternative(result, alts, built, why0, mixed=None) -> MixedResult:
    best = alts[0]
    than = (f"smaller than keeping the {mixed[0]} most sensitive of {mixed[1]} ranked layers at {mixed[2]} "
            f"({built[mixed[0]].measured.bytes:,} bytes)") if mixed else "no per-layer mix meets the budget"
    return result(met=True, variant=best.variant, mode=None, kept=(), chosen=best.measured,
                  reason=f"full quantization fails ({why0}); {best.variant} meets the budget with cosine "
                         f"{best.measured.cosine:.4f} and {best.measured.bytes:,} bytes, {than}")


def _no_mix(result, built, curve, budget, fallbacks, why0, mode, n, start):
    """No mix meets the budget: try the fallbacks (e.g. fp16), name the best variant found."""
    for name, make in fallbacks.items():
        t0 = time.perf_counter()
        cand = make()
        built[name] = cand
        curve.append(_point(name, n, None, cand, budget, t0))
    passing = [p for p in curve if p.passed]
    best = min(passing, key=lambda p: p.measured.bytes) if passing else max(curve, key=lambda p: p.measured.cosine)
    key = best.layers_kept if best.variant in ("int8", "mixed") else best.variant
    what = f"keeping all {n} ranked layers at {mode}" if n else "no layer could be ranked"
    if passing:
        return result(met=True, variant=best.variant, mode=None, kept=(), chosen=best.measured,
                      reason=f"full quantization fails ({why0}) and so does {what}; {best.variant} meets the budget "
                             f"(cosine {best.measured.cosine:.4f}, {best.measured.bytes:,} bytes)"), built[key].data
    return result(met=False, variant="none", mode=mode, kept=(), chosen=None,
                  reason=f"no variant meets the budget: full quantization fails ({why0}), so does {what}; the best "
                         f"found is {best.variant} with {best.layers_kept} kept (cosine {best.measured.cosine:.4f})",
                  suggestion="quantization-aware training (--qat), or relax --min-cosine"), None
