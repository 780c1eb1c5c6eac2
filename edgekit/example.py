"""The built-in example: a small CNN trained on the real scikit-learn digits (shipped in ``calibration/``),
so that ``edgekit example`` runs the whole job with no user files."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from edgekit._lazy import seed_everything
from edgekit.hashing import atomic_write_bytes

TEST_FRACTION = 0.2


@dataclass(frozen=True)
class ExampleFiles:
    model: Path
    train: Path  # x, y: training split (also the calibration source)
    test: Path  # x, y: held-out split, never seen in training or calibration
    keras_accuracy: float


def digits(seed: int = 0) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(x_train, y_train), (x_test, y_test): float32 (N, 8, 8, 1) in 0..1, seeded split."""
    with resources.files("edgekit._samples").joinpath("digits.npz").open("rb") as f, np.load(f) as z:
        x = (z["images"].astype(np.float32) / 16.0)[..., None]
        y = z["labels"].astype(np.int64)
    perm = np.random.default_rng(seed).permutation(len(x))
    n_test = int(len(x) * TEST_FRACTION)
    te, tr = perm[:n_test], perm[n_test:]
    return (x[tr], y[tr]), (x[te], y[te])


def build_cnn(input_shape=(8, 8, 1), classes: int = 10):
    from edgekit._lazy import keras

    k = keras()
    inputs = k.Input(shape=input_shape, name="image")
    x = k.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = k.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
    x = k.layers.MaxPooling2D(2, name="pool")(x)
    x = k.layers.Flatten(name="flatten")(x)
    x = k.layers.Dense(64, activation="relu", name="fc1")(x)
    outputs = k.layers.Dense(classes, activation="softmax", name="probs")(x)
    return k.Model(inputs, outputs, name="digits_cnn")


def make_example(workdir: str | Path, *, seed: int = 0, epochs: int = 12, verbose: int = 0) -> ExampleFiles:
    """Train the example CNN and write ``digits_cnn.keras``, ``train.npz`` and ``test.npz`` into workdir."""
    import io

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (xtr, ytr), (xte, yte) = digits(seed)
    seed_everything(seed)
    model = build_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(xtr, ytr, batch_size=32, epochs=epochs, verbose=verbose, shuffle=True)
    acc = float(model.evaluate(xte, yte, verbose=0)[1])
    for name, x, y in (("train.npz", xtr, ytr), ("test.npz", xte, yte)):
        buf = io.BytesIO()
        np.savez(buf, x=x, y=y)
        atomic_write_bytes(workdir / name, buf.getvalue())
    path = workdir / "digits_cnn.keras"
    tmp = workdir / ".digits_cnn.tmp.keras"
    model.save(tmp)
    tmp.replace(path)
    return ExampleFiles(model=path, train=workdir / "train.npz", test=workdir / "test.npz", keras_accuracy=acc)
