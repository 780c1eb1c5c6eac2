"""Runtimes that execute artifacts. One registry: :data:`edgekit.registry.RUNTIMES`. A runner is a context
manager with ``inputs``, ``outputs`` (lists of :class:`edgekit.runtimes.harness.Tensor`), ``infer(list of float arrays)`` and
``close()``; it quantizes float inputs and dequantizes outputs for integer-IO models."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np

from edgekit.errors import ModelLoadError
from edgekit.registry import RUNTIMES


class Runner:
    """What every runner shares: use it as a context manager; ``close()`` releases the runtime."""

    def close(self) -> None:  # pragma: no cover - overridden
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class HarnessRunner(Runner):
    """A runner over one of the device harness's backends (``self._b``: feed/invoke/fetch, inputs, outputs,
    version): the harness's tensor (de)quantization and batching serve validation and benchmarks alike."""

    _b = None
    origin = "artifact"  # the model's path, or "artifact" for bytes: names it in errors

    @property
    def version(self) -> str:
        return self._b.version

    def run_errors(self) -> tuple[type[Exception], ...]:
        """What the runtime raises when a model that loaded fails to run (a corrupt graph, prepared lazily)."""
        return ()

    @contextmanager
    def _running(self):
        from edgekit.runtimes.harness import HarnessError

        try:
            yield
        except HarnessError as exc:  # the harness's own "cannot run this model"
            raise ModelLoadError(f"{self.origin}: {exc}") from None
        except self.run_errors() as exc:
            raise ModelLoadError(f"{self.origin}: {getattr(self._b, 'name', self.name)} cannot run this model ({' '.join(str(exc).split())[:300]})") from None

    def infer(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        """Run a batch of float inputs (quantized/cast to each input's dtype); returns float outputs."""
        from edgekit.runtimes import harness

        with self._running():
            return harness.predict(self._b, list(xs))

    def infer_raw(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        """Run with inputs already in the model's IO dtypes; returns copies of the raw outputs."""
        with self._running():
            self._b.feed(xs)
            self._b.invoke()
            return [np.array(o) for o in self._b.fetch()]

    def close(self) -> None:
        self._b = None


def open_runner(runtime: str, model: bytes | str | Path, *, threads: int = 1):
    """Open ``model`` (bytes or a path) with the runner registered as ``runtime``."""
    return RUNTIMES.get(runtime)(model, threads=threads)
