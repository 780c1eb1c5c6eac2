"""Float-equivalent rewrites that put a model in the shape the TFLite int8 kernels compute, before QAT:

* SeparableConv → DepthwiseConv + 1x1 Conv (TFLite runs them as two ops, with an int8 tensor between);
* an activation inside a Conv/Dense that TFLite cannot fuse (sigmoid, tanh, swish, softmax ...) moves to its
  own Activation layer, so its input and output are quantized where the int8 kernels quantize them;
* BatchNormalization folds into the Conv/Dense/DepthwiseConv before it: W' = W·γ/√(σ²+ε),
  b' = (b − μ)·γ/√(σ²+ε) + β (moving statistics);
* a BatchNormalization that cannot fold (after a Concatenate/Add, pre-activation style) on an image tensor
  becomes a 1x1 DepthwiseConv with those per-channel scales and offsets: one int8 kernel with per-channel
  weights and an int32 bias, instead of TFLite's MUL then ADD with an int8 tensor between them.

Each step returns a new functional model computing the same function (tests check it numerically).
"""

from __future__ import annotations

import numpy as np

from edgekit._lazy import keras as _keras
from edgekit.optimize.graph import consumers, flat_layers, inputs_of, rewrite

FUSED_ACTIVATIONS = {"linear", "relu", "relu6"}  # TFLite Conv/FC/DepthwiseConv fuse these


def kind_of(layer) -> str | None:
    """"conv" | "depthwise" | "dense" for the layers whose kernels QAT quantizes; None otherwise."""
    L = _keras().layers
    if isinstance(layer, L.DepthwiseConv1D | L.DepthwiseConv2D):
        return "depthwise"
    if isinstance(layer, L.Conv1D | L.Conv2D) and not type(layer).__name__.endswith("Transpose"):
        return "conv" if getattr(layer, "data_format", "channels_last") == "channels_last" else None
    if isinstance(layer, L.Dense):
        return "dense"
    return None


def activation_name(layer) -> str:
    act = getattr(layer, "activation", None)
    return getattr(act, "__name__", "linear") if act is not None else "linear"


def _clone(layer, **overrides):
    cfg = layer.get_config()
    cfg.update(overrides)
    return type(layer).from_config(cfg)


def split_separable(model):
    """SeparableConv1D/2D → DepthwiseConv + pointwise Conv with the same weights."""
    keras = _keras()
    L = keras.layers
    done: list[str] = []

    def call(layer, *args, **kwargs):
        if not isinstance(layer, L.SeparableConv1D | L.SeparableConv2D):
            return layer(*args, **kwargs)
        two_d = isinstance(layer, L.SeparableConv2D)
        c = layer.get_config()
        dw_cls, pw_cls = (L.DepthwiseConv2D, L.Conv2D) if two_d else (L.DepthwiseConv1D, L.Conv1D)
        dw = dw_cls(c["kernel_size"], strides=c["strides"], padding=c["padding"],
                    depth_multiplier=c["depth_multiplier"], dilation_rate=c["dilation_rate"],
                    data_format=c["data_format"], use_bias=False, name=f"{layer.name}_dw")
        pw = pw_cls(c["filters"], 1, data_format=c["data_format"], activation=c["activation"], use_bias=c["use_bias"],
                    name=f"{layer.name}_pw")
        y = pw(dw(*args, **kwargs))
        dw.kernel.assign(layer.depthwise_kernel)
        pw.kernel.assign(layer.pointwise_kernel)
        if c["use_bias"]:
            pw.bias.assign(layer.bias)
        done.append(layer.name)
        return y

    return rewrite(model, call), done


def split_activations(model):
    """Conv/Dense(activation=X) with X not fusable by TFLite → Conv/Dense(linear) + Activation(X)."""
    keras = _keras()
    done: list[str] = []

    def call(layer, *args, **kwargs):
        act = activation_name(layer)
        if kind_of(layer) is None or act in FUSED_ACTIVATIONS:
            return layer(*args, **kwargs)
        lin = _clone(layer, activation="linear")
        y = lin(*args, **kwargs)
        lin.set_weights(layer.get_weights())
        done.append(layer.name)
        return keras.layers.Activation(layer.get_config()["activation"], name=f"{layer.name}_{act}")(y)

    return rewrite(model, call), done


def _bn_scale_shift(bn) -> tuple[np.ndarray, np.ndarray]:
    mean = np.asarray(bn.moving_mean, dtype=np.float64)
    var = np.asarray(bn.moving_variance, dtype=np.float64)
    gamma = np.asarray(bn.gamma, dtype=np.float64) if bn.scale else np.ones_like(mean)
    beta = np.asarray(bn.beta, dtype=np.float64) if bn.center else np.zeros_like(mean)
    s = gamma / np.sqrt(var + bn.epsilon)
    return s, beta - mean * s


def fold_pairs(model) -> dict[int, tuple[object, object]]:
    """id(layer) -> (conv, bn) for every BatchNormalization that can fold into the layer before it: a
    Conv/Dense/DepthwiseConv with a linear activation whose only consumer is that BN (channels last)."""
    keras = _keras()
    cons = consumers(model)
    pairs = {}
    for bn in flat_layers(model):
        if not isinstance(bn, keras.layers.BatchNormalization):
            continue
        axis = bn.axis[0] if isinstance(bn.axis, (list, tuple)) else bn.axis
        src = inputs_of(model, bn)
        if len(src) != 1:
            continue
        conv = src[0]
        if kind_of(conv) is None or activation_name(conv) != "linear" or cons.get(id(conv)) != [bn]:
            continue
        if axis not in (-1, len(conv.output.shape) - 1):  # BN over channels (last axis) only
            continue
        pairs[id(conv)] = (conv, bn)
        pairs[id(bn)] = (conv, bn)
    return pairs


def fold_batchnorm(model):
    """Fold each BatchNormalization into the Conv/Dense/DepthwiseConv before it. Returns (model, [(conv, bn)])."""
    pairs = fold_pairs(model)
    folded: list[tuple[str, str]] = []

    def call(layer, *args, **kwargs):
        if id(layer) not in pairs:
            return layer(*args, **kwargs)
        conv, bn = pairs[id(layer)]
        if layer is bn:
            return args[0]  # the folded conv already computes conv→BN
        new = _clone(conv, use_bias=True)
        y = new(*args, **kwargs)
        s, t = _bn_scale_shift(bn)
        w = np.asarray(conv.kernel, dtype=np.float64)
        b = np.asarray(conv.bias, dtype=np.float64) if conv.use_bias else np.zeros_like(s)
        if kind_of(conv) == "depthwise":  # kernel (..., in, multiplier): output channel = in * multiplier + j
            w = w * s.reshape(w.shape[-2], w.shape[-1])
        else:
            w = w * s
        new.kernel.assign(w.astype(np.float32))
        new.bias.assign((b * s + t).astype(np.float32))
        folded.append((conv.name, bn.name))
        return y

    return rewrite(model, call), folded


def batchnorm_to_depthwise(model):
    """Every remaining BatchNormalization over the channels of an NHWC / NWC tensor → 1x1 DepthwiseConv."""
    keras = _keras()
    L = keras.layers
    done: list[str] = []

    def call(layer, *args, **kwargs):
        if not isinstance(layer, L.BatchNormalization):
            return layer(*args, **kwargs)
        rank = len(args[0].shape)
        axis = layer.axis[0] if isinstance(layer.axis, (list, tuple)) else layer.axis
        if rank not in (3, 4) or axis not in (-1, rank - 1):
            return layer(*args, **kwargs)
        cls = L.DepthwiseConv2D if rank == 4 else L.DepthwiseConv1D
        dw = cls(1, use_bias=True, name=f"{layer.name}_dw")
        y = dw(args[0])
        s, t = _bn_scale_shift(layer)
        dw.kernel.assign(s.reshape(dw.kernel.shape).astype(np.float32))
        dw.bias.assign(t.astype(np.float32))
        done.append(layer.name)
        return y

    return rewrite(model, call), done


def prepare(model) -> tuple[object, dict]:
    """All four rewrites, in order. Returns the new model and what was done."""
    m, separable = split_separable(model)
    m, activations = split_activations(m)
    m, folded = fold_batchnorm(m)
    m, standalone = batchnorm_to_depthwise(m)
    return m, {
        "separable_split": separable,
        "activations_split": activations,
        "batchnorm_folded": [{"into": c, "batchnorm": b} for c, b in folded],
        "batchnorm_as_depthwise": standalone,
    }
