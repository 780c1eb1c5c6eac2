"""Real multi-input and streaming models for the multi-IO tests, trained here in seconds on real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def digits_two_inputs(folder: Path, seed: int = 0):
    """sklearn digits as two inputs: the 8x8 image and an engineered 16-vector (row and column ink sums).
    Returns (model path, train npz, test npz, Keras test accuracy)."""
    import keras
    from sklearn.datasets import load_digits

    keras.utils.set_random_seed(seed)
    d = load_digits()
    img = (d.images / 16.0).astype(np.float32)[..., None]
    feats = np.concatenate([img[..., 0].sum(1), img[..., 0].sum(2)], axis=1).astype(np.float32) / 8.0
    y = d.target.astype(np.int64)
    perm = np.random.default_rng(seed).permutation(len(y))
    tr, te = perm[:1400], perm[1400:]
    a = keras.Input((8, 8, 1), name="image")
    b = keras.Input((16,), name="features")
    h = keras.layers.Conv2D(8, 3, activation="relu", padding="same")(a)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Flatten()(h)
    g = keras.layers.Dense(16, activation="relu")(b)
    z = keras.layers.Concatenate()([h, g])
    out = keras.layers.Dense(10, activation="softmax")(keras.layers.Dense(32, activation="relu")(z))
    m = keras.Model([a, b], out)
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit([img[tr], feats[tr]], y[tr], epochs=15, batch_size=32, verbose=0)
    acc = float(m.evaluate([img[te], feats[te]], y[te], verbose=0)[1])
    path = folder / "digits2.keras"
    m.save(path)
    np.savez(folder / "train.npz", image=img[tr], features=feats[tr], y=y[tr])
    np.savez(folder / "test.npz", image=img[te], features=feats[te], y=y[te])
    return path, folder / "train.npz", folder / "test.npz", acc
