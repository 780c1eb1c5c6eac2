"""Small real models for the placement tests, converted with the real TFLite converter."""

from __future__ import annotations

import numpy as np


def _conv_net(mid=None):
    from edgekit._lazy import keras, tf

    k, t = keras(), tf()
    k.utils.set_random_seed(0)
    i = k.Input((16, 16, 3), batch_size=1)
    x = k.layers.Conv2D(8, 3, padding="same", activation="relu")(i)
    x = k.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    if mid == "leaky":
        x = k.layers.LeakyReLU(negative_slope=0.1)(x)
    elif mid == "cumsum":
        x = k.layers.Lambda(lambda v: t.math.cumsum(v, axis=3))(x)
    elif mid is not None:
        x = k.layers.Lambda(getattr(t.math, mid))(x)
    x = k.layers.Conv2D(8, 1, activation="relu")(x)
    x = k.layers.GlobalAveragePooling2D()(x)
    return k.Model(i, k.layers.Dense(4)(x))


def int8_bytes(model, shape, n=8) -> bytes:
    from edgekit._lazy import tf

    t = tf()
    rng = np.random.default_rng(0)
    c = t.lite.TFLiteConverter.from_keras_model(model)
    c.optimizations = [t.lite.Optimize.DEFAULT]
    c.representative_dataset = lambda: ([rng.random((1, *shape), dtype=np.float32)] for _ in range(n))
    c.target_spec.supported_ops = [t.lite.OpsSet.TFLITE_BUILTINS_INT8]
    c.inference_input_type = t.int8
    c.inference_output_type = t.int8
    return c.convert()


def fp16_bytes(model) -> bytes:
    from edgekit._lazy import tf

    t = tf()
    c = t.lite.TFLiteConverter.from_keras_model(model)
    c.optimizations = [t.lite.Optimize.DEFAULT]
    c.target_spec.supported_types = [t.float16]
    return c.convert()


def conv_int8(mid=None) -> bytes:
    return int8_bytes(_conv_net(mid), (16, 16, 3))


def conv_fp16(mid=None) -> bytes:
    return fp16_bytes(_conv_net(mid))
