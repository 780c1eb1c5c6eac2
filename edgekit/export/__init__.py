"""Artifact emitters. One registry: format name -> "module:function". An emitter takes the loaded model,
the target profile, the precision and the calibration samples, and returns an :class:`Artifact` in memory;
the caller validates it and only then writes it (atomically)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

EMITTERS: dict[str, str] = {
    "tflite": "edgekit.export.tflite:emit",
    "onnx": "edgekit.export.onnx:emit",
}


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


def get_emitter(fmt: str):
    if fmt not in EMITTERS:
        from edgekit.errors import ConfigError

        raise ConfigError(f"unknown artifact format {fmt!r}; choose from {', '.join(EMITTERS)}")
    mod, fn = EMITTERS[fmt].split(":")
    return getattr(importlib.import_module(mod), fn)
