"""Runtimes that execute artifacts. One registry: :data:`edgekit.registry.RUNTIMES`. A runner is a context
manager with ``inputs``, ``outputs`` (lists of :class:`edgekit.runtimes.harness.Tensor`), ``infer(list of float arrays)`` and
``close()``; it quantizes float inputs and dequantizes outputs for integer-IO models."""

from __future__ import annotations

from pathlib import Path

from edgekit.registry import RUNTIMES


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
    return RUNTIMES.get(runtime)(model, threads=threads)
