"""Per-layer quantization error: for every quantized activation of an artifact, how far its values are from
the float model's on the same validation inputs.

Metrics per layer (:class:`LayerError`):

- ``rmse_over_scale``: RMS of (quantized - float) divided by the tensor's quantization scale, as TF's
  QuantizationDebugger defines it (≈0.289 = 1/sqrt(12) is pure rounding noise; much larger means clipping
  or a range problem).
- ``cosine`` and ``max_abs_error``: the layer's dequantized output against the float output.
- ``rel_error``: the error the quantization of this tensor alone adds (its value before vs after its
  quantize/dequantize pair), RMS relative to the RMS of the values, averaged over the channels (last axis). A few outlier channels set one per-tensor scale that leaves the other channels with a handful
  of steps: the tensor-wide error looks small, the per-channel one does not. It is the sensitivity that the
  mixed-precision search ranks layers by.

``compare`` says what "float" means: ``"local"`` (TFLite: the float op run on the dequantized quantized
inputs, TF's NumericVerify — the error this layer adds), ``"model"`` (ONNX: the float model's own tensor,
the error accumulated up to this layer). TFLite goes through ``tf.lite.experimental.QuantizationDebugger``;
ONNX through onnxruntime's ``qdq_loss_debug`` augmentation (every tensor made a graph output), streamed one
sample at a time so memory does not grow with the number of samples.
"""

from __future__ import annotations

import math
import numpy as np
from edgekit.manifest.fidelity import LayerError, LayerReport  # noqa: F401  (re-exported)

FP32_ROUNDING_NOISE = 1 / math.sqrt(12)


class _Acc:
    """Streaming statistics of (reference, candidate) pairs of one tensor."""

    def __init__(self):
        self.n = 0
        self.cos = 0.0
        self.max_abs = 0.0
        self.sq = 0.0
        self.count = 0
        self.ch_err: np.ndarray | None = None
        self.ch_ref: np.ndarray | None = None

    def add(self, ref: np.ndarray, got: np.ndarray) -> None:
        r, g = np.asarray(ref, np.float64), np.asarray(got, np.float64)
        ok = np.isfinite(r) & np.isfinite(g)
        if not ok.all():  # e.g. rsqrt of an all-zero variance: compare the finite values only
            r, g = np.where(ok, r, 0.0), np.where(ok, g, 0.0)
        d = g - r
        nr, ng = np.linalg.norm(r), np.linalg.norm(g)
        self.cos += 1.0 if nr == 0 and ng == 0 else float((r * g).sum() / max(nr * ng, 1e-30))
        self.n += 1
        self.max_abs = max(self.max_abs, float(np.abs(d).max()) if d.size else 0.0)
        self.sq += float((d * d).sum())
        self.count += d.size
        c = r.shape[-1] if r.ndim else 1
        e2 = (d * d).reshape(-1, c).sum(0)
        r2 = (r * r).reshape(-1, c).sum(0)
        self.ch_err = e2 if self.ch_err is None else self.ch_err + e2
        self.ch_ref = r2 if self.ch_ref is None else self.ch_ref + r2

    def result(self, name: str, op: str, scale: float | None, consumers: tuple[str, ...] = ()) -> LayerError:
        rmse = math.sqrt(self.sq / max(self.count, 1))
        live = self.ch_ref > 0
        rel = float(np.mean(np.sqrt(self.ch_err[live] / self.ch_ref[live]))) if live.any() else 0.0
        return LayerError(
            name=name, op=op, scale=scale, rmse_over_scale=(rmse / scale) if scale else None,
            cosine=self.cos / max(self.n, 1), max_abs_error=self.max_abs, rel_error=rel,
            elements=self.count // max(self.n, 1), consumers=consumers,
        )
