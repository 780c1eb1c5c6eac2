"""Runtimes that execute artifacts. One registry: runtime name -> "module:Class". A runner is a context
manager with ``inputs``, ``outputs`` (lists of :class:`TensorInfo`), ``infer(list of float arrays)`` and
``close()``; it quantizes float inputs and dequantizes outputs for integer-IO models."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RUNTIMES: dict[str, str] = {
    "litert": "edgekit.runtimes.litert:LiteRTRunner",
    "onnxruntime": "edgekit.runtimes.onnxruntime:OrtRunner",
}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float = 0.0  # 0.0: not quantized
    zero_point: int = 0

    def quantize(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if self.dtype.startswith(("int", "uint")) and self.scale:
            info = np.iinfo(self.dtype)
            q = np.round(x / self.scale) + self.zero_point
            return np.clip(q, info.min, info.max).astype(self.dtype)
        return x.astype(self.dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        if self.dtype.startswith(("int", "uint")) and self.scale:
            return ((q.astype(np.float32) - self.zero_point) * self.scale).astype(np.float32)
        return np.asarray(q, dtype=np.float32)


class Runner:
    """What every runner shares: use it as a context manager; ``close()`` releases the runtime."""

    def close(self) -> None:  # pragma: no cover - overridden
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_runner(runtime: str, model: bytes | str | Path, *, threads: int = 1):
    """Open ``model`` (bytes or a path) with the runner registered as ``runtime``."""
    mod, cls = RUNTIMES[runtime].split(":")
    return getattr(importlib.import_module(mod), cls)(model, threads=threads)
