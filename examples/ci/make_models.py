#!/usr/bin/env python3
"""Regenerate the CI example's models and data under examples/ci/ (they are committed, so a fresh checkout
builds without training):

    .venv/bin/python examples/ci/make_models.py            # models/ and data/ next to this file

- models/digits_cnn.keras: the built-in example CNN (edgekit.example.build_cnn), 12 epochs
- models/digits_mlp.keras: a small MLP (64 -> 32 -> 10), 40 epochs
- data/calibration.npz:    300 training samples (x, y), the calibration set of both models
- data/test.npz:           the held-out split (x, y), never seen in training or calibration
- data/labels.txt:         class names

Both models train on the real scikit-learn digits shipped with edgekit, seeded. The models are saved without
optimizer state (a clean clone) to keep them small.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CALIBRATION_SAMPLES = 300


def build_mlp(input_shape=(8, 8, 1), classes: int = 10):
    from edgekit._lazy import keras

    k = keras()
    inputs = k.Input(shape=input_shape, name="image")
    x = k.layers.Flatten(name="flatten")(inputs)
    x = k.layers.Dense(32, activation="relu", name="fc1")(x)
    outputs = k.layers.Dense(classes, activation="softmax", name="probs")(x)
    return k.Model(inputs, outputs, name="digits_mlp")


def _savez(path: Path, **arrays) -> None:
    from edgekit.hashing import atomic_write_bytes

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def train(builder, x, y, *, seed: int, epochs: int):
    from edgekit._lazy import seed_everything

    seed_everything(seed)
    model = builder()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, shuffle=True)
    return model


def save_clean(model, builder, path: Path) -> None:
    """Save the architecture and weights only (a fresh, uncompiled copy: no optimizer state), via a temp file."""
    clean = builder()
    clean.set_weights(model.get_weights())
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    clean.save(tmp)
    tmp.replace(path)


def make(out: Path = HERE, *, seed: int = 0, cnn_epochs: int = 12, mlp_epochs: int = 40) -> dict[str, float]:
    """Train both models and write models/ and data/ under ``out``; returns the Keras test accuracies."""
    from edgekit.example import build_cnn, digits

    (xtr, ytr), (xte, yte) = digits(seed)
    (out / "models").mkdir(parents=True, exist_ok=True)
    accuracies = {}
    for name, builder, epochs in (("digits_cnn", build_cnn, cnn_epochs), ("digits_mlp", build_mlp, mlp_epochs)):
        model = train(builder, xtr, ytr, seed=seed, epochs=epochs)
        accuracies[name] = float(model.evaluate(xte, yte, verbose=0)[1])
        save_clean(model, builder, out / "models" / f"{name}.keras")
    pick = np.sort(np.random.default_rng(seed).permutation(len(xtr))[:CALIBRATION_SAMPLES])
    _savez(out / "data" / "calibration.npz", x=xtr[pick], y=ytr[pick])
    _savez(out / "data" / "test.npz", x=xte, y=yte)
    (out / "data" / "labels.txt").write_text("".join(f"digit {i}\n" for i in range(10)), encoding="utf-8")
    return accuracies


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=HERE, help="folder that gets models/ and data/ (default: examples/ci)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cnn-epochs", type=int, default=12)
    p.add_argument("--mlp-epochs", type=int, default=40)
    a = p.parse_args()
    acc = make(a.out, seed=a.seed, cnn_epochs=a.cnn_epochs, mlp_epochs=a.mlp_epochs)
    for name, v in acc.items():
        print(f"{name}: Keras test accuracy {v:.4f}")


if __name__ == "__main__":
    main()
