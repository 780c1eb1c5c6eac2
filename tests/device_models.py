"""Real models for the device-runtime tests: trained briefly on Fashion-MNIST rows read as a sequence
(28 steps x 28 features), converted to int8 with the TFLite converter edgekit uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def sequences(fashion, n_train: int, n_test: int):
    (xtr, ytr), (xte, yte) = fashion
    return (xtr[:n_train].astype(np.float32) / 255.0, ytr[:n_train].astype(np.int64),
            xte[:n_test].astype(np.float32) / 255.0, yte[:n_test].astype(np.int64))


def _int8(model, calibration: np.ndarray) -> bytes:
    """Full-int8 conversion with int8 IO, as edgekit's rpi path does (edgekit.quantize.tflite.convert)."""
    import tensorflow as tf

    fn = tf.function(lambda x: model(x, training=False), input_signature=[tf.TensorSpec((1, 28, 28), tf.float32)])
    conv = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([s[None]] for s in calibration)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return bytes(conv.convert())


def bias_free_dense_tflite(fashion, use_bias: bool = False, seed: int = 0) -> bytes:
    """Dense(16, use_bias) over the 28-step sequence -> average -> Dense(10): int8 .tflite."""
    import keras

    xtr, ytr, _, _ = sequences(fashion, 2000, 0)
    keras.utils.set_random_seed(seed)
    inp = keras.Input((28, 28))
    h = keras.layers.Dense(16, use_bias=use_bias, activation="relu")(inp)
    out = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling1D()(h))
    model = keras.Model(inp, out)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(xtr, ytr, epochs=1, batch_size=64, verbose=0)
    return _int8(model, xtr[:100])


def attention_keras(fashion, path: Path, seed: int = 0, epochs: int = 3) -> tuple[Path, float]:
    """LayerNormalization -> MultiHeadAttention -> Dense(gelu, use_bias=False) -> pool -> Dense(10),
    trained on Fashion-MNIST rows; saved as .keras. Returns (path, Keras test accuracy on 500 samples)."""
    import keras

    xtr, ytr, xte, yte = sequences(fashion, 6000, 500)
    keras.utils.set_random_seed(seed)
    inp = keras.Input((28, 28))
    x = keras.layers.LayerNormalization()(inp)
    x = keras.layers.MultiHeadAttention(num_heads=2, key_dim=16)(x, x)
    x = keras.layers.Dense(32, activation="gelu", use_bias=False)(x)
    out = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling1D()(x))
    model = keras.Model(inp, out)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(xtr, ytr, epochs=epochs, batch_size=64, verbose=0)
    model.save(path)
    return path, float(model.evaluate(xte, yte, verbose=0)[1])
