"""QAT accuracy recovery, measured end to end on real data with real training (no mocks).

    .venv/bin/python benchmarks/bench_qat.py            # -> benchmarks/results/qat.json

The model is a small DenseNet-style CNN (dense blocks of BatchNorm → ReLU → Conv whose outputs are
concatenated; a transition; global average pooling) trained on Fashion-MNIST (Debian's dataset-fashion-mnist).
Post-training int8 loses accuracy on it for a structural reason, not a contrived one: each pre-activation
BatchNorm sits after a Concatenate, so it cannot fold into a conv; TFLite runs it as MUL then ADD on a
per-tensor int8 tensor whose channels span very different ranges.

Recorded: fp32 Keras accuracy, post-training int8 (edgekit's PTQ, ``rpi`` target, 200 calibration samples),
QAT int8 (``--qat``, same target), and recovery = (QAT − PTQ) / (fp32 − PTQ). Two controls say where the
gain comes from: the fp32 model fine-tuned for the same epochs at the same learning rate without fake
quantization, and PTQ of the model after edgekit's float-equivalent rewrites alone (BN folding, BN → 1x1
depthwise), without QAT training. Accuracies are on the 10,000 test images, int8 ones run with LiteRT.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FASHION = Path("/usr/share/datasets/fashion-mnist")


def idx_file(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(data[3])]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * data[3]).reshape(dims)


def fashion() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    def part(images, labels):
        x = (idx_file(FASHION / images)[..., None] / 255.0).astype(np.float32)
        return x, idx_file(FASHION / labels).astype(np.int64)

    return part("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"), part("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def build_densenet(growth: int = 12, layers_per_block: int = 4):
    from edgekit._lazy import keras

    K = keras()
    L = K.layers
    i = K.Input((28, 28, 1), name="image")
    x = L.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="stem")(i)
    for b in range(2):
        for j in range(layers_per_block):
            y = L.BatchNormalization(name=f"b{b}_{j}_bn")(x)
            y = L.ReLU(name=f"b{b}_{j}_relu")(y)
            y = L.Conv2D(growth, 3, padding="same", use_bias=False, name=f"b{b}_{j}_conv")(y)
            x = L.Concatenate(name=f"b{b}_{j}_cat")([x, y])
        x = L.ReLU(name=f"b{b}_out_relu")(L.BatchNormalization(name=f"b{b}_out_bn")(x))
        if b == 0:
            x = L.Conv2D(x.shape[-1] // 2, 1, use_bias=False, name="transition")(x)
            x = L.AveragePooling2D(2, name="transition_pool")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    return K.Model(i, L.Dense(10, activation="softmax", name="probs")(x), name="densenet_fashion")


def _npz(path: Path, x, y) -> Path:
    buf = io.BytesIO()
    np.savez(buf, x=x, y=y)
    path.write_bytes(buf.getvalue())
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=6, help="fp32 training epochs (cosine learning-rate decay)")
    ap.add_argument("--qat-epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=64, help="QAT / control fine-tuning batch size")
    ap.add_argument("--learning-rate", type=float, default=None, help="QAT learning rate (default: edgekit's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fp32-model", type=Path, default=None,
                    help="use this already trained .keras instead of training one (to try QAT settings)")
    ap.add_argument("--save-fp32-model", type=Path, default=None, help="keep the trained fp32 .keras here")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "qat.json")
    args = ap.parse_args()

    from edgekit._lazy import keras
    from edgekit import api
    from edgekit.options import ConvertOptions

    def convert(model_path, *, target, output_dir, model=None, **fields):
        opts = ConvertOptions.make(device_check="off", **{k: str(v) if k in ("calibration", "eval_data") else v
                                                          for k, v in fields.items()})
        return api.convert(model_path, target, opts, output_dir, source=model, overwrite=True)
    from edgekit._lazy import seed_everything
    from edgekit.hashing import atomic_write_json
    from edgekit.manifest import tool_versions
    from edgekit.models import load_model
    from edgekit.models.keras import wrap
    from edgekit.optimize import fold
    from edgekit.options.optimize import OptimizeOptions
    from edgekit.fidelity.metrics import accuracy

    K = keras()
    (xtr, ytr), (xte, yte) = fashion()
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        train, test = _npz(work / "train.npz", xtr, ytr), _npz(work / "test.npz", xte, yte)

        path = work / "densenet_fashion.keras"
        if args.fp32_model is not None:
            model = K.models.load_model(args.fp32_model)
        else:
            t = time.perf_counter()
            seed_everything(args.seed)
            model = build_densenet()
            steps = args.epochs * -(-len(xtr) // 128)  # cosine-decayed: trained to a settled optimum, so that
            lr = K.optimizers.schedules.CosineDecay(2e-3, steps)  # the QAT epoch is not simply "more training"
            model.compile(optimizer=K.optimizers.Adam(lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            model.fit(xtr, ytr, batch_size=128, epochs=args.epochs, verbose=2)
            times["fp32_train_s"] = time.perf_counter() - t
        model.save(path)
        if args.save_fp32_model is not None:
            model.save(args.save_fp32_model)
        fp32 = accuracy([model.predict(xte, batch_size=500, verbose=0)], yte)

        t = time.perf_counter()
        ptq = convert(path, target="rpi", output_dir=work / "ptq", calibration=train, eval_data=test, seed=args.seed)
        times["ptq_convert_s"] = time.perf_counter() - t

        t = time.perf_counter()
        opts = OptimizeOptions(qat=True, train_data=train, epochs=args.qat_epochs, batch_size=args.batch_size,
                               learning_rate=args.learning_rate)
        qat = convert(path, target="rpi", output_dir=work / "qat", eval_data=test, optimize=opts.model_dump(), seed=args.seed)
        times["qat_s"] = time.perf_counter() - t

        # control 1: the same fine-tuning without fake quantization
        t = time.perf_counter()
        seed_everything(args.seed)
        ctrl = K.models.load_model(path)
        ctrl.compile(optimizer=K.optimizers.Adam(opts.lr_for("qat")), loss="sparse_categorical_crossentropy")
        ctrl.fit(xtr, ytr, batch_size=args.batch_size, epochs=args.qat_epochs, verbose=0)
        fp32_ft = accuracy([ctrl.predict(xte, batch_size=500, verbose=0)], yte)
        times["control_finetune_s"] = time.perf_counter() - t

        # control 2: PTQ after the float-equivalent rewrites only (no QAT training)
        src = load_model(path)
        prepared, _ = fold.prepare(src.keras_model)
        rewired = wrap(prepared, path=path, sha256=src.sha256)
        ptq_rw = convert(path, model=rewired, target="rpi", output_dir=work / "ptq_rw", calibration=train,
                         eval_data=test, seed=args.seed)

    ptq_acc = ptq.manifest.to_json()["validation"]["accuracy"]["artifact"]
    qat_acc = qat.manifest.to_json()["validation"]["accuracy"]["artifact"]
    loss = fp32 - ptq_acc
    result = {
        "what": "QAT accuracy recovery: (QAT int8 - PTQ int8) / (fp32 - PTQ int8), Fashion-MNIST test set (10,000)",
        "command": " ".join([".venv/bin/python benchmarks/bench_qat.py", *sys.argv[1:]]),
        "where": f"host {platform.machine()} ({platform.processor() or 'cpu'}), LiteRT CPU; accuracy does not depend on it",
        "model": {"name": "densenet_fashion", "params": int(model.count_params()),
                  "why_ptq_loses": "pre-activation BatchNorm after Concatenate cannot fold; TFLite runs it as int8 MUL+ADD"},
        "data": {"train": len(xtr), "test": len(xte), "calibration_samples": ptq.manifest.to_json()["calibration"]["samples"]},
        "settings": {"fp32_epochs": args.epochs, "fp32_model": str(args.fp32_model or "trained by this run"), "qat_epochs": args.qat_epochs, "batch_size": args.batch_size,
                     "qat_learning_rate": opts.lr_for("qat"), "seed": args.seed, "target": "rpi"},
        "accuracy": {"fp32": fp32, "ptq_int8": ptq_acc, "qat_int8": qat_acc},
        "ptq_loss_points": 100 * loss,
        "recovery": None if loss <= 0 else (qat_acc - ptq_acc) / loss,
        "controls": {
            "fp32_finetuned_same_epochs_no_fake_quant": fp32_ft,
            "ptq_int8_after_rewrites_only": ptq_rw.manifest.to_json()["validation"]["accuracy"]["artifact"],
            "qat_keras_float_simulation": qat.manifest.to_json()["optimization"]["accuracy"]["optimized"],
            "qat_artifact_vs_qat_keras_top1_agreement": qat.manifest.to_json()["validation"]["top1_agreement"],
        },
        "artifacts": {"ptq_bytes": ptq.manifest.to_json()["artifacts"][0]["bytes"], "qat_bytes": qat.manifest.to_json()["artifacts"][0]["bytes"],
                      "qat_float_ops": qat.manifest.to_json()["artifacts"][0]["float_ops"]},
        "times_s": {k: round(v, 1) for k, v in times.items()},
        "tool_versions": tool_versions(),
    }
    atomic_write_json(args.out, result)
    print(json.dumps({k: result[k] for k in ("accuracy", "ptq_loss_points", "recovery", "controls")}, indent=2))


if __name__ == "__main__":
    main()
