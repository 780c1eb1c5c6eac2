"""ONNX Runtime (CPU) runner: the runtime the ``.onnx`` artifacts are validated with.

Same contract as :class:`~edgekit.runtimes.litert.LiteRTRunner`: ``inputs``/``outputs`` (harness Tensors),
``infer(list of float arrays)`` -> float outputs, ``version``, ``close()``, context manager."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from edgekit.errors import ModelLoadError, RuntimeUnavailableError
from edgekit.runtimes import HarnessRunner, harness

_IR_RE = re.compile(r"Unsupported model IR version: (\d+), max supported IR version: (\d+)")
_OPSET_RE = re.compile(r"Opset (\d+) is under development.*?till opset (\d+)", re.S)


def _ort():
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise RuntimeUnavailableError("onnxruntime is not installed: pip install onnxruntime") from exc
    return onnxruntime


def explain_load_error(exc: Exception, origin: str) -> str:
    """A user-facing message for an InferenceSession that refused a model (IR version, opset, corrupt)."""
    text = str(exc)
    version = _ort().__version__
    if m := _IR_RE.search(text):
        return (
            f"{origin}: the model's IR version {m[1]} is newer than onnxruntime {version} reads (up to {m[2]}). "
            f"Re-save it with ir_version={m[2]} (onnx.helper.make_model(..., ir_version={m[2]})) "
            "or upgrade onnxruntime"
        )
    if m := _OPSET_RE.search(text):
        return (
            f"{origin}: unsupported opset {m[1]}: onnxruntime {version} supports ai.onnx up to opset {m[2]}. "
            f"Re-export the model with opset <= {m[2]} (or onnx.version_converter.convert_version(model, {m[2]}))"
        )
    first = " ".join(text.split())
    first = first.split(") ", 1)[-1] if "onnxruntime::" in first else first  # drop the C++ signature
    return f"{origin}: onnxruntime {version} cannot load this model: {first[:600]}"


def run_errors() -> tuple[type[Exception], ...]:
    """What onnxruntime raises when a loaded model fails to run (its own classes, not RuntimeError)."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    return tuple(getattr(state, n) for n in ("Fail", "InvalidArgument", "RuntimeException", "NotImplemented", "EPFail")
                 if hasattr(state, n))


def session(model: bytes | str | Path, *, threads: int = 1, origin: str = "model"):
    """An ``onnxruntime.InferenceSession`` on the CPU (the harness's settings), with edgekit's load errors."""
    _ort()
    try:
        return harness.ort_session(model, threads)
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/InvalidProtobuf classes
        raise ModelLoadError(explain_load_error(exc, origin)) from None


@lru_cache(maxsize=1)
def max_opset() -> int:
    """The newest ai.onnx opset this onnxruntime runs (probed with a one-node model, not hard-coded)."""
    import onnx
    from onnx import TensorProto, helper

    newest = onnx.defs.onnx_opset_version()
    for opset in range(newest, 12, -1):
        vi = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1]) for n in ("x", "y")]
        graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "probe", vi[:1], vi[1:])
        probe = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
        try:
            session(probe.SerializeToString())
            return opset
        except ModelLoadError as exc:
            if m := re.search(r"up to opset (\d+)", str(exc)):
                return int(m[1])
    return 13


class OrtRunner(HarnessRunner):
    """The device harness's onnxruntime backend (:class:`edgekit.runtimes.harness.OrtBackend`) as a Runner."""

    name = "onnxruntime"

    def __init__(self, model: bytes | str | Path, *, threads: int = 1):
        self.origin = origin = "artifact" if isinstance(model, (bytes, bytearray)) else str(model)
        self._b = harness.OrtBackend(origin, threads, session=session(model, threads=threads, origin=origin))
        self.inputs, self.outputs = self._b.inputs, self._b.outputs

    def run_errors(self) -> tuple[type[Exception], ...]:
        return run_errors()
