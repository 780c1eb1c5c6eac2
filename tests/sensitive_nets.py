"""A quantization-sensitive model trained on real data: a small transformer encoder over Fashion-MNIST, each
image read as a 28-step sequence of 28-pixel rows (attention, LayerNorm, GELU).

Real transformers carry a few "outlier" feature channels whose LayerNorm gain is tens of times larger than
the rest (Dettmers et al. 2022, LLM.int8(); Bondarenko et al. 2021): one per-tensor int8 scale then has to
cover them and the other channels keep only a few quantization steps. The model is built that way — the
LayerNorm gains of ``OUTLIER_CHANNELS`` channels start at ``OUTLIER_GAIN`` and are trained, not forced —
so full int8 loses fidelity the way real transformer encoders do, while fp32/fp16 stay exact.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from conftest import _idx  # the one IDX reader of the tests

FASHION = Path("/usr/share/datasets/fashion-mnist")
D_MODEL, HEADS, FF, BLOCKS = 96, 2, 192, 2
OUTLIER_CHANNELS, OUTLIER_GAIN = 2, 40.0


def fashion_sequences(n_train: int = 6000, n_test: int = 600, seed: int = 0):
    """((x_train, y_train), (x_test, y_test)): float32 (N, 28, 28) rows in 0..1 from real Fashion-MNIST."""
    rng = np.random.default_rng(seed)
    xtr, ytr = _idx(FASHION / "train-images-idx3-ubyte.gz"), _idx(FASHION / "train-labels-idx1-ubyte.gz")
    xte, yte = _idx(FASHION / "t10k-images-idx3-ubyte.gz"), _idx(FASHION / "t10k-labels-idx1-ubyte.gz")
    tr = np.sort(rng.choice(len(xtr), n_train, replace=False))
    te = np.sort(rng.choice(len(xte), n_test, replace=False))
    f = lambda a: (a.astype(np.float32) / 255.0)  # noqa: E731
    return (f(xtr[tr]), ytr[tr].astype(np.int64)), (f(xte[te]), yte[te].astype(np.int64))


def build_encoder(outliers: int = OUTLIER_CHANNELS, gain: float = OUTLIER_GAIN):
    from edgekit._lazy import keras

    k = keras()
    L = k.layers
    inp = k.Input(shape=(28, 28), name="rows")
    x = L.Dense(D_MODEL, name="embed")(inp)
    for b in range(BLOCKS):
        h = L.LayerNormalization(epsilon=1e-5, name=f"ln{b}a")(x)
        h = L.MultiHeadAttention(HEADS, D_MODEL // HEADS, name=f"attn{b}")(h, h)
        x = x + h
        h = L.LayerNormalization(epsilon=1e-5, name=f"ln{b}b")(x)
        h = k.ops.gelu(L.Dense(FF, name=f"ff{b}a")(h), approximate=True)  # tanh GELU (erf has no ONNX export)
        x = x + L.Dense(D_MODEL, name=f"ff{b}b")(h)
    x = L.LayerNormalization(epsilon=1e-5, name="ln_out")(x)
    x = L.Flatten(name="flatten")(x)  # keeps each row's position (attention alone is order-blind)
    out = L.Dense(10, name="logits")(x)
    model = k.Model(inp, out, name="fashion_encoder")
    for layer in model.layers:  # outlier channels: large initial LayerNorm gains, then trained like the rest
        if layer.name.startswith("ln") and layer.name != "ln_out":
            gamma, beta = layer.get_weights()
            gamma[:outliers] = gain
            layer.set_weights([gamma, beta])
    return model


def train_encoder(workdir, *, seed: int = 0, epochs: int = 1, n_train: int = 4000, n_test: int = 600, **kw):
    """Train the encoder (seconds on 2 cores) and write ``encoder.keras``, ``calib.npz`` (train subset) and
    ``eval.npz`` (held-out test images); returns (model path, calib path, eval path, keras test accuracy)."""
    from edgekit._lazy import seed_everything
    from edgekit.hashing import atomic_write_bytes

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (xtr, ytr), (xte, yte) = fashion_sequences(n_train, n_test, seed)
    seed_everything(seed)
    model = build_encoder(**kw)
    model.compile(optimizer="adam", loss=_loss(), metrics=["accuracy"], jit_compile=False)
    model.fit(xtr, ytr, batch_size=64, epochs=epochs, verbose=0, shuffle=True)
    acc = float(model.evaluate(xte, yte, verbose=0)[1])
    for name, x, y in (("calib.npz", xtr[:200], ytr[:200]), ("eval.npz", xte, yte)):
        buf = io.BytesIO()
        np.savez(buf, x=x, y=y)
        atomic_write_bytes(workdir / name, buf.getvalue())
    path = workdir / "encoder.keras"
    model.save(path)
    return path, workdir / "calib.npz", workdir / "eval.npz", acc


def _loss():
    from edgekit._lazy import keras

    return keras().losses.SparseCategoricalCrossentropy(from_logits=True)


class Encoder:
    """The trained encoder, its data and the source model's reference outputs on the evaluation inputs."""

    def __init__(self, folder: Path, n_calib: int = 100, n_eval: int = 200):
        from edgekit.models import load_model
        from edgekit.fidelity.metrics import predict_source

        self.path, calib, evalf, self.keras_accuracy = train_encoder(folder)
        self.model = load_model(self.path)
        with np.load(calib) as z:
            self.calibration = z["x"][:n_calib]
        with np.load(evalf) as z:
            self.x, self.y = z["x"][:n_eval], z["y"][:n_eval]
        self.reference = predict_source(self.model, self.x)

    def onnx_hook(self, target: str = "x86-ort"):
        from edgekit.export import onnx as eo
        from edgekit.fidelity.hooks import OnnxHook
        from edgekit.quantize import onnx as q
        from edgekit.targets import load_target

        opts = q.options(load_target(target))
        proto, _ = eo.simplify(eo.export_tf(self.model, opts.opset))
        return OnnxHook(proto, opts, self.calibration, self.x, self.reference, self.y, origin=str(self.path))

    def tflite_hook(self):
        from edgekit.fidelity.hooks import TfliteHook

        return TfliteHook(self.model, self.calibration, self.x, self.reference, self.y)
