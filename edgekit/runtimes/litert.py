"""LiteRT (``ai_edge_litert``) runner: the runtime the TFLite artifacts are validated with. It is the device
harness's own interpreter backend (:class:`edgekit.runtimes.harness.TFLiteBackend`): one implementation of
tensor (de)quantization, output order and batching for validation and benchmarking alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.errors import ModelLoadError, RuntimeUnavailableError
from edgekit.runtimes import HarnessRunner, harness


# What LiteRT's Python API raises reading the tensors of a corrupt model: names that are not UTF-8
# (UnicodeDecodeError, a ValueError), indices it rejects (TypeError), outputs missing from the details (KeyError).
MALFORMED = (KeyError, IndexError, TypeError, ValueError)


class LiteRTRunner(HarnessRunner):
    name = "litert"

    def __init__(self, model: bytes | str | Path, *, threads: int = 1, default_delegates: bool = True):
        """``default_delegates=False`` keeps XNNPACK from rewriting the graph (to inspect the ops as stored)."""
        try:
            from ai_edge_litert.interpreter import OpResolverType
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise RuntimeUnavailableError("ai-edge-litert is not installed: pip install ai-edge-litert") from exc
        kw = {} if default_delegates else {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
        from edgekit._lazy import capture_native_stderr

        self.origin = "artifact" if isinstance(model, (bytes, bytearray)) else str(model)
        with capture_native_stderr():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
            try:
                self._b = harness.TFLiteBackend(model if isinstance(model, (bytes, bytearray)) else str(model),
                                                threads, "ai_edge_litert", **kw)
            except harness.HarnessError as exc:
                raise ModelLoadError(str(exc)) from None
            except MALFORMED as exc:  # reading a corrupt file's tensor details (names, indices) once it allocated
                raise ModelLoadError(f"{self.origin}: ai_edge_litert cannot load this model "
                                     f"({type(exc).__name__}: {' '.join(str(exc).split())[:300]})") from None
        self._it = self._b._it
        self.inputs, self.outputs = self._b.inputs, self._b.outputs

    def run_errors(self) -> tuple[type[Exception], ...]:
        return (RuntimeError,)  # "Node number N (RESHAPE) failed to invoke/prepare"

    def tensor_details(self) -> list[dict]:
        return self._it.get_tensor_details()

    def tensor(self, index: int) -> np.ndarray:
        """A copy of one tensor's stored data (e.g. a weight buffer, as the artifact holds it)."""
        return np.array(self._it.get_tensor(index))

    def ops(self) -> list[dict]:
        return self._it._get_ops_details()

    def close(self) -> None:
        self._it = None
        super().close()
