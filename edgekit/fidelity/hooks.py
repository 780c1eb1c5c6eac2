"""Concrete ``build(keep, mode)`` hooks for the mixed-precision search, one per artifact format, and the
measurement they share. Each hook quantizes for real, runs the artifact with the runtime that will run it
(LiteRT / onnxruntime) on the validation inputs and compares with the source model's outputs."""

from __future__ import annotations

import time
import warnings

import numpy as np

from edgekit.errors import ConfigError, ConversionError
from edgekit.fidelity.mixed import Candidate, Measured, Mode
from edgekit.models.base import SourceModel
from edgekit.targets import OnnxOptions, Precision
from edgekit.fidelity.metrics import accuracy, fidelity, predict_runner

LATENCY_RUNS = 20
PER_CHANNEL_OPS = {"Conv", "ConvTranspose", "MatMul", "Gemm"}


def measure(runtime: str, data: bytes, x: np.ndarray, reference: list[np.ndarray], y: np.ndarray | None = None) -> Candidate:
    """Run ``data`` on ``x`` with ``runtime``; fidelity against ``reference``, accuracy drop when ``y``, and the
    median single-inference latency on this host (1 thread)."""
    from edgekit.runtimes import open_runner

    with open_runner(runtime, data) as r:
        out = predict_runner(r, x)
        one = [x[:1]]
        for _ in range(3):
            r.infer(one)
        times = []
        for _ in range(LATENCY_RUNS):
            t0 = time.perf_counter()
            r.infer(one)
            times.append(time.perf_counter() - t0)
    fid = fidelity(reference, out)
    drop = None
    if y is not None:
        src, art = accuracy(reference, y), accuracy(out, y)
        drop = None if src is None or art is None else src - art
    m = Measured(cosine=fid.cosine, top1_agreement=fid.top1_agreement, accuracy_drop=drop, bytes=len(data),
                 latency_ms=round(float(np.median(times)) * 1000, 4))
    return Candidate(measured=m, data=data)


class TfliteHook:
    """TFLite. Nothing kept: TF's converter, calibrated once (its QuantizationDebugger, which also gives the
    layer report), full int8 as the engine emits it. Kept at "int16": ai-edge-quantizer on the float model,
    every op int8 but the kept ones, at 16-bit activations with int8 weights (float where AEQ has no 16x8
    config for the op); calibrated once too. Kept at "float": the calibrated model re-quantized with the kept
    layers and their readers in ``denylisted_nodes`` (float ops, float weights). Artifacts have float IO."""

    format = "tflite"

    def __init__(self, model: SourceModel, calibration: np.ndarray, x: np.ndarray, reference: list[np.ndarray],
                 y: np.ndarray | None = None):
        from edgekit.fidelity.layers_tflite import calibrated_debugger

        self.model, self.x, self.reference, self.y = model, x, reference, y
        self.calibration = np.asarray(calibration, np.float32)
        self.debugger = calibrated_debugger(model, calibration)
        self._readers: dict[str, tuple[str, ...]] = {}
        self._aeq: tuple[bytes, dict] | None = None  # (prepared float flatbuffer, AEQ ranges), on first use

    def layer_report(self, x: np.ndarray | None = None):
        from edgekit.fidelity.layers_tflite import layer_report

        rep = layer_report(self.model, None, self.x if x is None else x, debugger=self.debugger)
        self._readers = {e.name: e.consumers for e in rep.layers}
        return rep

    def quantize(self, keep: frozenset[str]) -> bytes:
        from tensorflow.lite.python import convert

        from edgekit._lazy import capture_native_stderr

        with capture_native_stderr() as cap, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
            try:
                return bytes(convert.mlir_quantize(self.debugger.calibrated_model, denylisted_nodes=sorted(keep) or None))
            except Exception as exc:  # ConverterError
                detail = " ".join(f"{exc} {cap.text}".split())[:600]
        raise ConversionError(f"{self.model.path}: the TFLite quantizer failed with {len(keep)} layer(s) kept float: {detail}")

    def quantize_int16(self, keep: frozenset[str]) -> bytes:
        """Full int8 (ai-edge-quantizer) with the ops whose outputs are named in ``keep`` at 16-bit activations."""
        from edgekit.quantize import aeq

        if self._aeq is None:
            from edgekit.models.tflite import prepare, read_object
            from edgekit.quantize import tflite as qt

            origin = str(self.model.path)
            data, key, _ = prepare(qt.convert(self.model, Precision.FP32), None, origin)
            names = [_text(m.name) for m in read_object(data, origin).signatureDefs[0].inputs]
            qsvs = aeq.calibrate_mixed(data, signature=key, input_names=names, calibration=self.calibration, origin=origin)
            self._aeq = (data, qsvs)
        return aeq.quantize_mixed(self._aeq[0], keep, self._aeq[1], origin=str(self.model.path))

    def __call__(self, keep: frozenset[str], mode: Mode) -> Candidate:
        if keep and mode == "int16":
            return measure("litert", self.quantize_int16(keep), self.x, self.reference, self.y)
        if keep and mode != "float":
            raise ConfigError(f"TFLite mixed precision keeps layers at int16 or float, not {mode}")
        nodes = set(keep) | {c for k in keep for c in self._readers.get(k, ())}  # the activation stays float
        return measure("litert", self.quantize(frozenset(nodes)), self.x, self.reference, self.y)

    def fp16(self) -> Candidate:
        from edgekit.quantize import tflite as qt

        return measure("litert", qt.convert(self.model, Precision.FP16), self.x, self.reference, self.y)

    def int16x8(self) -> Candidate:
        """16-bit activations and 8-bit weights for every op with a 16x8 kernel, float for the others (the
        TFLite converter's 16x8 mode with builtin float fallback): for targets that allow int16x8."""
        from edgekit._lazy import capture_native_stderr
        from edgekit._lazy import tf as _tf

        tf = _tf()
        fn = self.model.tf_function(1)
        conv = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
        samples = self.calibration
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([s[None, ...]] for s in samples)
        conv.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS,
        ]
        with capture_native_stderr() as cap:
            try:
                data = bytes(conv.convert())
            except Exception as exc:  # ConverterError
                raise ConversionError(f"{self.model.path}: 16x8 conversion failed: {' '.join(f'{exc} {cap.text}'.split())[:600]}") from None
        return measure("litert", data, self.x, self.reference, self.y)


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class OnnxHook:
    """ONNX: quantize the float graph with ORT, kept activations in 16 bits (``TensorQuantOverrides``) or
    their producer and consumers left float (``nodes_to_exclude``)."""

    format = "onnx"

    def __init__(self, float_model, opts: OnnxOptions, calibration: np.ndarray, x: np.ndarray,
                 reference: list[np.ndarray], y: np.ndarray | None = None, origin: str = "model"):
        self.proto, self.opts, self.calibration = float_model, opts, calibration
        self.x, self.reference, self.y, self.origin = x, reference, y, origin
        self._int8: bytes | None = None

    def quantize(self, keep: frozenset[str], mode: Mode) -> bytes:
        from edgekit.quantize import onnx as q

        if not keep:
            mix = q.Mix()
        elif mode == "int16":
            mix = q.Mix(int16_tensors=keep | self._constants_of(keep))
        else:
            touch = {n.name for n in self.proto.graph.node if keep & (set(n.input) | set(n.output))}
            mix = q.Mix(float_nodes=frozenset(touch))
        data = q.quantize(self.proto, Precision.INT8, self.opts, self.calibration, origin=self.origin, mix=mix).SerializeToString()
        if not keep:
            self._int8 = data
        return data

    def _constants_of(self, keep: frozenset[str]) -> frozenset[str]:
        """Constant inputs of the ops producing ``keep`` that are quantized per tensor like activations (e.g. a
        LayerNorm gain in a Mul, not a Conv/MatMul/Gemm weight, which has its own per-channel scales): a kept
        layer gets 16 bits for them too."""
        inits = {i.name for i in self.proto.graph.initializer}
        return frozenset(
            i for n in self.proto.graph.node if keep & set(n.output) and n.op_type not in PER_CHANNEL_OPS
            for i in n.input if i in inits
        )

    def layer_report(self, x: np.ndarray | None = None):
        from edgekit.fidelity.layers_onnx import layer_report

        int8 = self._int8 or self.quantize(frozenset(), "float")
        return layer_report(self.proto.SerializeToString(), int8, self.x if x is None else x)

    def __call__(self, keep: frozenset[str], mode: Mode) -> Candidate:
        return measure("onnxruntime", self.quantize(keep, mode), self.x, self.reference, self.y)

    def fp16(self) -> Candidate:
        from edgekit.quantize import onnx as q

        return measure("onnxruntime", q.quantize(self.proto, Precision.FP16, self.opts, None).SerializeToString(),
                       self.x, self.reference, self.y)
