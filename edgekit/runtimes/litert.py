"""LiteRT (``ai_edge_litert``) interpreter runner: the runtime the TFLite artifacts are validated with."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.errors import RuntimeUnavailableError
from edgekit.runtimes import Runner, TensorInfo


def _info(d: dict) -> TensorInfo:
    scale, zp = d.get("quantization", (0.0, 0))
    return TensorInfo(
        name=d["name"],
        shape=tuple(int(s) for s in d["shape"]),
        dtype=np.dtype(d["dtype"]).name,
        scale=float(scale),
        zero_point=int(zp),
    )


class LiteRTRunner(Runner):
    name = "litert"

    def __init__(self, model: bytes | str | Path, *, threads: int = 1, default_delegates: bool = True):
        """``default_delegates=False`` keeps XNNPACK from rewriting the graph (to inspect the ops as stored)."""
        try:
            from ai_edge_litert.interpreter import Interpreter, OpResolverType
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise RuntimeUnavailableError("ai-edge-litert is not installed: pip install ai-edge-litert") from exc
        kw = {"model_content": bytes(model)} if isinstance(model, (bytes, bytearray)) else {"model_path": str(model)}
        if not default_delegates:
            kw["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        from edgekit._lazy import capture_native_stderr

        with capture_native_stderr():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
            self._it = Interpreter(num_threads=threads, **kw)
            self._it.allocate_tensors()
        sig = self._it.get_signature_list()
        self._order = None
        if len(sig) == 1:  # order outputs by signature name (output_0, output_1, ...), not by tensor index
            key = next(iter(sig))
            full = self._it._get_full_signature_list()[key]
            self._order = [full["outputs"][n] for n in sorted(full["outputs"], key=_natural)]
        details = {d["index"]: d for d in self._it.get_output_details()}
        out_idx = self._order or [d["index"] for d in self._it.get_output_details()]
        self.inputs = [_info(d) for d in self._it.get_input_details()]
        self._in_idx = [d["index"] for d in self._it.get_input_details()]
        self.outputs = [_info(details[i]) for i in out_idx]
        self._out_idx = out_idx

    @property
    def version(self) -> str:
        import ai_edge_litert

        return getattr(ai_edge_litert, "__version__", "unknown")

    def infer(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        """Run one batch (shaped like the model's input) of float inputs; returns float outputs."""
        for info, idx, x in zip(self.inputs, self._in_idx, xs):
            self._it.set_tensor(idx, info.quantize(x).reshape(info.shape))
        self._it.invoke()
        return [info.dequantize(self._it.get_tensor(i)) for info, i in zip(self.outputs, self._out_idx)]

    def infer_raw(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        """Run with inputs already in the model's IO dtype; returns the raw outputs."""
        for idx, x in zip(self._in_idx, xs):
            self._it.set_tensor(idx, x)
        self._it.invoke()
        return [self._it.get_tensor(i).copy() for i in self._out_idx]

    def tensor_details(self) -> list[dict]:
        return self._it.get_tensor_details()

    def tensor(self, index: int) -> np.ndarray:
        """A copy of one tensor's stored data (e.g. a weight buffer, as the artifact holds it)."""
        return np.array(self._it.get_tensor(index))

    def ops(self) -> list[dict]:
        return self._it._get_ops_details()

    def close(self) -> None:
        self._it = None


def _natural(name: str):
    head, _, tail = name.rpartition("_")
    return (head, int(tail)) if tail.isdigit() else (name, -1)
