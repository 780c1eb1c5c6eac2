"""The manifest's fidelity sections beyond the outputs: the per-layer quantization error
(:class:`LayerReport`) and the mixed-precision search (:class:`MixedResult`). Filled by :mod:`edgekit.fidelity`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

class LayerError(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str  # TFLite: the op's output tensor name (what denylisted_nodes takes); ONNX: the activation name
    op: str
    scale: float | None
    rmse_over_scale: float | None
    cosine: float
    max_abs_error: float
    rel_error: float
    elements: int
    consumers: tuple[str, ...] = ()  # ops reading this activation (TFLite: their output names), for keeping it float


class LayerReport(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["tflite", "onnx"]
    compare: Literal["local", "model"]
    samples: int
    layers: tuple[LayerError, ...]  # in graph order

    def ranked(self) -> list[LayerError]:
        """Most sensitive first (highest ``rel_error``, ties by lowest cosine, then name)."""
        return sorted(self.layers, key=lambda e: (-e.rel_error, e.cosine, e.name))


Mode = Literal["int16", "float"]


class Budget(BaseModel):
    """What an artifact must meet (the fidelity gate's thresholds)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_cosine: float = Field(0.99, ge=-1, le=1)
    max_accuracy_drop: float | None = Field(None, description="points (1.0 = one percentage point)")
    min_top1_agreement: float | None = Field(None, ge=0, le=1)

    def failures(self, m: Measured) -> list[str]:
        out = []
        if m.cosine < self.min_cosine:
            out.append(f"cosine {m.cosine:.4f} < {self.min_cosine}")
        if self.min_top1_agreement is not None and m.top1_agreement is not None and m.top1_agreement < self.min_top1_agreement:
            out.append(f"top-1 agreement {m.top1_agreement:.3f} < {self.min_top1_agreement}")
        if self.max_accuracy_drop is not None and m.accuracy_drop is not None and m.accuracy_drop * 100 > self.max_accuracy_drop:
            out.append(f"accuracy drop {m.accuracy_drop * 100:.2f} points > {self.max_accuracy_drop}")
        return out


class Measured(BaseModel):
    """One built artifact, measured on the validation inputs against the source model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cosine: float
    top1_agreement: float | None = None
    accuracy_drop: float | None = None  # fraction (source accuracy - artifact accuracy)
    bytes: int
    latency_ms: float | None = None  # host median, where="this host"; never a target's latency


class CurvePoint(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    variant: str  # "mixed" or a fallback's name (e.g. "fp16")
    layers_kept: int
    mode: Mode | None
    measured: Measured
    passed: bool
    seconds: float


class MixedResult(BaseModel):
    """The search's answer, for the manifest as-is (``model_dump(mode="json")``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    met: bool
    variant: str  # "int8" (nothing kept), "mixed", a fallback's name, or "none"
    mode: Mode | None
    kept: tuple[str, ...]  # the layers held at ``mode``, most sensitive first
    reason: str
    budget: Budget
    baseline: Measured  # the fully quantized artifact
    chosen: Measured | None
    most_sensitive: tuple[str, ...]
    curve: tuple[CurvePoint, ...]  # every build, in the order made
    builds: int
    seconds: float
    suggestion: str | None = None


class LayerReportFiles(BaseModel):
    """Where ``--layer-report`` wrote an artifact's per-layer error, and its most sensitive layers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    files: list[str]
    compare: Literal["local", "model"]
    samples: int
    most_sensitive: list[str]
