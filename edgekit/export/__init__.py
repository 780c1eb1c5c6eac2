"""Artifact emitters. One registry: :data:`edgekit.registry.EMITTERS`. An emitter takes the loaded model,
the target profile, the precision and the calibration samples, and returns an :class:`Artifact` in memory;
the caller validates it and only then writes it (atomically)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgekit.registry import EMITTERS


@dataclass
class Artifact:
    data: bytes
    format: str  # "tflite" | "onnx"
    precision: str
    io_dtype: str
    runtime: str  # the runtime it is validated with
    suffix: str
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # format-specific manifest fields
    float_graph: Any = None  # ONNX: the float graph that was quantized (for per-layer error, mixed precision)


def get_emitter(fmt: str):
    """The emitter registered for ``fmt`` in :data:`edgekit.registry.EMITTERS` (ConfigError if unknown)."""
    return EMITTERS.get(fmt)
