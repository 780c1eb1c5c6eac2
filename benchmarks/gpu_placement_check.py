"""GPU placement, predicted vs measured on a real GPU (LiteRT's GPU accelerator, WebGPU over Vulkan).

Three steps, because the GPU machine has neither TensorFlow nor edgekit's dependencies:

1. here:   .venv/bin/python benchmarks/gpu_placement_check.py prepare DIR
           builds a MobileNetV2 (fp16) and small fp16 nets with an op the GPU delegate's rules refuse
           (CUMSUM, ROUND), writes DIR/*.tflite and DIR/predicted.json (edgekit's android-gpu placement)
2. on the GPU machine, with ai-edge-litert 2.x and numpy only: ``gpu_placement_check.py measure DIR OUT``
           (GPU vs CPU outputs through the harness's backends) and the one-file device harness itself:
           python3 edgekit/runtimes/harness.py DIR/NAME.tflite --accelerator gpu --runs 50 --json OUT/NAME-gpu.json
           (and --accelerator cpu) for every model: fully_accelerated comes from the runtime
3. here:   .venv/bin/python benchmarks/gpu_placement_check.py compare DIR OUT --json benchmarks/results/gpu_placement.json
           predicted (edgekit's rules) vs measured (the runtime), per model
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def _fp16(model, name: str) -> bytes:
    """edgekit's own fp16 conversion (android-gpu's default precision) of an in-memory Keras model."""
    from edgekit.models.keras import wrap
    from edgekit.quantize.tflite import convert
    from edgekit.targets import Precision

    return convert(wrap(model, path=Path(f"{name}.keras"), sha256=""), Precision.FP16)


def _net_with(op: str):
    from edgekit._lazy import keras, seed_everything

    seed_everything(0)
    k = keras()
    inp = k.Input((32, 32, 3))
    x = k.layers.Conv2D(16, 3, padding="same", activation="relu")(inp)
    x = k.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    if op == "cumsum":
        x = k.layers.Lambda(lambda t: k.ops.cumsum(t, axis=1))(x)
    elif op == "round":
        x = k.layers.Lambda(lambda t: k.ops.round(t))(x)
    elif op == "topk":  # TOPK_V2 over the channels, then back to a feature map
        x = k.layers.Lambda(lambda t: k.ops.top_k(t, 8)[0])(x)
    elif op == "gather":  # GATHER of channels with constant indices
        x = k.layers.Lambda(lambda t: k.ops.take(t, np.array([3, 1, 4, 1, 5, 9, 2, 6]), axis=-1))(x)
    x = k.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = k.layers.GlobalAveragePooling2D()(x)
    return k.Model(inp, k.layers.Dense(10)(x))


def prepare(out: Path) -> None:
    from edgekit._lazy import keras, seed_everything
    from edgekit.placement import analyze
    from edgekit.targets import load_target

    out.mkdir(parents=True, exist_ok=True)
    seed_everything(0)
    models = {"mobilenetv2_fp16": keras().applications.MobileNetV2(weights=None, alpha=0.5,
                                                                     input_shape=(160, 160, 3))}
    models.update({f"conv_{op}_fp16": _net_with(op) for op in ("cumsum", "round", "topk", "gather")})
    profile = load_target("android-gpu")
    predicted = {}
    for name, m in models.items():
        data = _fp16(m, name)
        (out / f"{name}.tflite").write_bytes(data)
        p = analyze(data, profile)
        predicted[name] = {"fully_accelerated": p.accelerated_fraction == 1.0,
                           "accelerated_fraction": p.accelerated_fraction, "partitions": len(p.partitions),
                           "summary_line": p.summary_line,
                           "cpu_ops": sorted({o.op for o in p.ops if o.placement == "cpu"})}
    (out / "predicted.json").write_text(json.dumps(predicted, indent=2) + "\n")
    print(json.dumps(predicted, indent=2))


def measure(models: Path, out: Path) -> None:
    """On the GPU machine (numpy + ai-edge-litert 2.x only): GPU vs CPU outputs of every model, through the
    device harness's own backends (imported from its file), and whether the runtime fully accelerated it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("harness", Path(__file__).parents[1] / "edgekit/runtimes/harness.py")
    h = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(h)
    res = {}
    for path in sorted(models.glob("*.tflite")):
        gpu = h.open_backend(str(path), 1, accelerator="gpu")
        cpu = h.open_backend(str(path), 1, accelerator="cpu")
        xs = [np.stack([t.to_float(a)[0] for a in [h.random_inputs([t], s)[0] for s in range(16)]]) for t in cpu.inputs]
        g, c = h.predict(gpu, xs)[0].reshape(16, -1), h.predict(cpu, xs)[0].reshape(16, -1)
        cos = float(np.mean((g * c).sum(1) / np.maximum(np.linalg.norm(g, axis=1) * np.linalg.norm(c, axis=1), 1e-30)))
        res[path.stem] = {"fully_accelerated": gpu.accelerator["fully_accelerated"], "gpu_vs_cpu_cosine": cos,
                          "gpu_vs_cpu_max_abs": float(np.abs(g - c).max())}
    (out / "measured.json").write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


def compare(models: Path, measured: Path, json_out: Path | None) -> int:
    predicted = json.loads((models / "predicted.json").read_text())
    rows, agree = {}, 0
    for name, p in predicted.items():
        gpu = json.loads((measured / f"{name}-gpu.json").read_text())
        cpu = json.loads((measured / f"{name}-cpu.json").read_text())
        acc = gpu["runtime"]["accelerator"]
        extra = json.loads((measured / "measured.json").read_text()).get(name, {}) if (measured / "measured.json").is_file() else {}
        rows[name] = {
            "predicted": p,
            "outputs_gpu_vs_cpu": {k: v for k, v in extra.items() if k != "fully_accelerated"},
            "measured": {"fully_accelerated": acc["fully_accelerated"], "runtime": gpu["runtime"],
                         "gpu_p50_ms": gpu["latency_ms"]["p50"], "cpu_p50_ms": cpu["latency_ms"]["p50"],
                         "where": gpu["where"]},
            "agree": p["fully_accelerated"] == acc["fully_accelerated"],
        }
        agree += rows[name]["agree"]
    result = {"what": "edgekit android-gpu placement (rules) vs LiteRT GPU accelerator (is_fully_accelerated)",
              "models": rows, "agreements": f"{agree} of {len(rows)}",
              "command": "benchmarks/gpu_placement_check.py prepare|harness on the GPU|compare"}
    text = json.dumps(result, indent=2) + "\n"
    if json_out:
        json_out.write_text(text)
    print(text)
    return 0 if agree == len(rows) else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("prepare").add_argument("dir", type=Path)
    m = sub.add_parser("measure")
    m.add_argument("dir", type=Path)
    m.add_argument("out", type=Path)
    c = sub.add_parser("compare")
    c.add_argument("dir", type=Path)
    c.add_argument("measured", type=Path)
    c.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    if a.cmd == "prepare":
        prepare(a.dir)
        return 0
    if a.cmd == "measure":
        measure(a.dir, a.out)
        return 0
    return compare(a.dir, a.measured, a.json)


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    sys.exit(main())
