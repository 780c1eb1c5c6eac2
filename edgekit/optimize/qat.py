"""Quantization-aware training for Keras 3 models, native (no tfmot, no tf_keras).

On a model that :mod:`edgekit.optimize.fold` has put in TFLite's shape (BatchNorm folded, separable convs
split, non-fusable activations on their own), fake quantization goes where the TFLite int8 kernels quantize:

* weights: per-channel symmetric int8 (narrow range, [-127, 127]). Conv and DepthwiseConv kernels go through
  ``tf.quantization.fake_quant_with_min_max_vars_per_channel`` (depthwise: over its in·multiplier output
  channels), which the converter turns into int8 weights with those very scales. A Dense kernel is rounded
  to the same per-output-channel grid with a straight-through estimator instead: TF's per-channel fake-quant
  op only quantizes the last axis, which the converter cannot carry through FULLY_CONNECTED's transposed
  weights; it then finds the weights on the grid and quantizes them per channel to the same values.
* activations: asymmetric int8 with moving-average ranges (``fake_quant_with_min_max_vars``) on the model
  input and on every tensor an int8 op writes. A Conv/Dense/Add followed only by ReLU/ReLU6 is quantized
  after the activation (TFLite fuses it). Ops that keep their input's scale (reshape, max-pool, average-pool,
  padding, dropout) get none. Softmax/sigmoid/tanh outputs get TFLite's fixed int8 ranges.

The converter reads the learned ranges (:func:`edgekit.quantize.tflite.convert` takes its QAT path when the
graph holds fake-quant nodes). Layers with no rule here are quantized at their output only and listed.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from edgekit._lazy import keras as _keras
from edgekit._lazy import tf as _tf
from edgekit.optimize.fold import activation_name, kind_of
from edgekit.optimize.graph import consumers, flat_layers, producer, rewrite

EMA_DECAY = 0.99
MIN_RANGE = 1e-4
# TFLite's fixed int8 output quantization: scale 1/256, zero point -128 (softmax, logistic); 1/128, 0 (tanh)
FIXED_RANGES = {"softmax": (0.0, 255.0 / 256.0), "sigmoid": (0.0, 255.0 / 256.0), "tanh": (-1.0, 127.0 / 128.0)}


def _layer_classes():
    L = _keras().layers
    same_scale = (
        L.Reshape, L.Flatten, L.MaxPooling1D, L.MaxPooling2D, L.MaxPooling3D, L.GlobalMaxPooling1D,
        L.GlobalMaxPooling2D, L.AveragePooling1D, L.AveragePooling2D, L.Dropout, L.SpatialDropout1D,
        L.SpatialDropout2D, L.GaussianNoise, L.GaussianDropout, L.AlphaDropout, L.ZeroPadding1D, L.ZeroPadding2D,
        L.Cropping1D, L.Cropping2D, L.Permute, L.ActivityRegularization, L.Identity, L.RepeatVector,
    )  # TFLite int8 kernels that keep the input's scale: no new range
    quantized_out = (
        L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum, L.Minimum, L.Concatenate, L.GlobalAveragePooling1D,
        L.GlobalAveragePooling2D, L.BatchNormalization, L.Rescaling, L.UpSampling2D, L.ReLU, L.LeakyReLU,
        L.PReLU, L.ELU, L.Softmax, L.Activation,
    )  # int8 kernels with their own output range
    return same_scale, quantized_out


def _fusable_activation(layer) -> bool:
    L = _keras().layers
    if isinstance(layer, L.ReLU):
        return layer.max_value in (None, 6.0) and not layer.negative_slope and not layer.threshold
    if isinstance(layer, L.Activation):
        return activation_name(layer) in ("relu", "relu6")
    return False


def _fixed_range(layer) -> tuple[float, float] | None:
    L = _keras().layers
    if isinstance(layer, L.Softmax):
        return FIXED_RANGES["softmax"]
    if isinstance(layer, L.Activation):
        return FIXED_RANGES.get(activation_name(layer))
    return None


class _Registry:
    """Layer classes built on first use (Keras is imported lazily)."""

    classes: dict = {}


def _fake_quant_kernel(tf, k, kind: str):
    """``k`` on its per-output-channel symmetric int8 grid (narrow range): a Dense kernel by straight-through
    rounding, a Conv/DepthwiseConv kernel through TF's per-channel fake-quant op (depthwise: over in·mult)."""
    if kind == "dense":
        scale = tf.maximum(tf.reduce_max(tf.abs(k), axis=0), 1e-12) / 127.0
        q = tf.clip_by_value(tf.round(k / scale), -127.0, 127.0) * scale
        return k + tf.stop_gradient(q - k)
    shape = tuple(k.shape)
    flat = tf.reshape(k, shape[:-2] + (1, shape[-2] * shape[-1])) if kind == "depthwise" else k
    m = tf.maximum(tf.reduce_max(tf.abs(flat), axis=list(range(len(flat.shape) - 1))), 1e-8)
    q = tf.quantization.fake_quant_with_min_max_vars_per_channel(flat, -m, m, num_bits=8, narrow_range=True)
    return tf.reshape(q, shape) if kind == "depthwise" else q


def _fake_quant_class(keras, tf):
    class FakeQuant(keras.layers.Layer):
        """Asymmetric int8 fake quantization of an activation; the range is an EMA of batch min/max
        (updated in training, or while :func:`observe` is on), or fixed."""

        def __init__(self, fixed_range=None, decay=EMA_DECAY, **kw):
            super().__init__(**kw)
            self.fixed_range = fixed_range
            self.decay = decay
            self.observing = False

        def build(self, input_shape):
            lo, hi = self.fixed_range or (0.0, 0.0)
            const = keras.initializers.Constant
            self.range_min = self.add_weight(shape=(), initializer=const(lo), trainable=False, name="range_min")
            self.range_max = self.add_weight(shape=(), initializer=const(hi), trainable=False, name="range_max")
            self.seen = self.add_weight(shape=(), initializer=const(0.0), trainable=False, name="seen")

        def call(self, x, training=None):
            if (training or self.observing) and self.fixed_range is None:
                bmin = tf.minimum(tf.reduce_min(x), 0.0)
                bmax = tf.maximum(tf.reduce_max(x), 0.0)
                first = tf.cast(self.seen < 0.5, x.dtype)
                d = self.decay * (1.0 - first)
                self.range_min.assign(d * self.range_min + (1.0 - d) * bmin)
                self.range_max.assign(d * self.range_max + (1.0 - d) * bmax)
                self.seen.assign(1.0)
            lo = tf.convert_to_tensor(self.range_min)
            hi = tf.maximum(tf.convert_to_tensor(self.range_max), lo + MIN_RANGE)
            return tf.quantization.fake_quant_with_min_max_vars(x, lo, hi, num_bits=8, narrow_range=False)

        def get_config(self):
            return {**super().get_config(), "fixed_range": self.fixed_range, "decay": self.decay}

    return FakeQuant


def _quant_weights_class(keras, tf):
    class QuantWeights(keras.layers.Layer):
        """Runs a Conv/DepthwiseConv/Dense with its kernel fake-quantized per output channel (int8, symmetric)."""

        def __init__(self, layer, kind, **kw):
            super().__init__(name=f"{layer.name}_qat", **kw)
            self.inner = layer
            self.kind = kind

        def build(self, input_shape):
            self.built = True

        def quantized_kernel(self):
            k = self.inner.kernel.value if hasattr(self.inner.kernel, "value") else self.inner.kernel
            return _fake_quant_kernel(tf, k, self.kind)

        def call(self, x):
            layer, k = self.inner, self.quantized_kernel()
            ops = keras.ops
            if self.kind == "dense":
                y = ops.matmul(x, k)
            elif self.kind == "depthwise":
                y = ops.depthwise_conv(x, k, strides=layer.strides, padding=layer.padding,
                                       dilation_rate=layer.dilation_rate, data_format=layer.data_format)
            else:
                y = layer.convolution_op(x, k)
            if getattr(layer, "bias", None) is not None:
                y = ops.add(y, layer.bias)
            return layer.activation(y) if layer.activation is not None else y

        def compute_output_shape(self, input_shape):
            return self.inner.compute_output_shape(input_shape)

    return QuantWeights


def _classes():
    """The QAT layer classes, built on first use (Keras is imported lazily)."""
    if not _Registry.classes:
        keras, tf = _keras(), _tf()
        _Registry.classes = {"FakeQuant": _fake_quant_class(keras, tf), "QuantWeights": _quant_weights_class(keras, tf)}
    return _Registry.classes


def quantize_model(model) -> tuple[object, dict]:
    """Insert fake quantization into a prepared (BN-folded) functional model. Returns (qat_model, report)."""
    keras = _keras()
    C = _classes()
    same_scale, quantized_out = _layer_classes()
    cons = consumers(model)
    report = {"weights_quantized": [], "activations_quantized": 0, "fixed_ranges": [], "unsupported": []}
    fq_inputs: dict[int, object] = {}

    def fq(tensor, name, fixed=None):
        report["activations_quantized"] += 1
        if fixed:
            report["fixed_ranges"].append(name)
        return C["FakeQuant"](fixed_range=fixed, name=f"{name}_fq")(tensor)

    def quantize_inputs(args):
        out = []
        for a in args:
            if isinstance(a, keras.KerasTensor) and isinstance(producer(a), keras.layers.InputLayer):
                if id(a) not in fq_inputs:
                    fq_inputs[id(a)] = fq(a, producer(a).name)
                a = fq_inputs[id(a)]
            out.append(a)
        return out

    def call(layer, *args, **kwargs):
        args = tuple(quantize_inputs(args)) if not isinstance(args[0], list) else (quantize_inputs(args[0]),)
        kind = kind_of(layer)
        if kind is not None:
            y = C["QuantWeights"](layer, kind)(*args, **kwargs)
            report["weights_quantized"].append({"layer": layer.name, "kind": kind})
        else:
            y = layer(*args, **kwargs)
        if isinstance(layer, same_scale):
            return y
        fixed = _fixed_range(layer)
        if fixed is not None:
            return fq(y, layer.name, fixed)
        nexts = cons.get(id(layer), [])
        fusable_here = kind is not None or isinstance(layer, (keras.layers.Add, keras.layers.Subtract))
        if fusable_here and activation_name(layer) == "linear" and len(nexts) == 1 and nexts[0] is not None \
                and _fusable_activation(nexts[0]):
            return y  # TFLite fuses the ReLU/ReLU6 that follows: quantize after it
        if kind is None and not isinstance(layer, quantized_out):
            report["unsupported"].append({"layer": layer.name, "class": type(layer).__name__})
        return fq(y, layer.name)

    qmodel = rewrite(model, call)
    return qmodel, report


def fake_quant_layers(model) -> list:
    C = _classes()
    return [layer for layer in flat_layers(model) if isinstance(layer, C["FakeQuant"])]


def quant_weight_layers(model) -> list:
    C = _classes()
    return [layer for layer in flat_layers(model) if isinstance(layer, C["QuantWeights"])]


@contextmanager
def observe(model):
    """While on, calling the model (training=False) updates the activation ranges and nothing else."""
    layers = fake_quant_layers(model)
    for layer in layers:
        layer.observing = True
    try:
        yield
    finally:
        for layer in layers:
            layer.observing = False


def calibrate(model, x: np.ndarray, batch_size: int = 64, batches: int = 16) -> None:
    """Initial activation ranges from a few batches of training inputs (then fine-tuning moves them)."""
    with observe(model):
        for i in range(min(batches, -(-len(x) // batch_size))):
            model(x[i * batch_size : (i + 1) * batch_size], training=False)


def ranges(model) -> dict[str, tuple[float, float]]:
    """The learned activation ranges, by fake-quant layer name."""
    out = {}
    for layer in fake_quant_layers(model):
        lo = float(np.asarray(layer.range_min))
        out[layer.name] = (lo, max(float(np.asarray(layer.range_max)), lo + MIN_RANGE))
    return out
