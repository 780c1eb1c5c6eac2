"""The manifest every conversion writes next to its artifacts (no timestamps: same inputs, same bytes)."""

from __future__ import annotations

import platform
from importlib import metadata

import edgekit

SCHEMA_VERSION = 1
_TOOLS = ("numpy", "tensorflow", "keras", "ai-edge-litert", "onnx", "onnxruntime", "tf2onnx", "onnxsim")


def tool_versions(names=_TOOLS) -> dict[str, str]:
    out = {"edgekit": edgekit.__version__, "python": platform.python_version()}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = None
    return out
