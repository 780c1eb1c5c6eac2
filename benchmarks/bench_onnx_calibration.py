"""ONNX Runtime int8 calibration methods (minmax / percentile / entropy) on the built-in example CNN:
accuracy on the held-out digits, fidelity to the fp32 model, artifact size, and time, per target profile.

    .venv/bin/python benchmarks/bench_onnx_calibration.py [--rounds 3] [--epochs 12] [--seed 0]

Writes benchmarks/results/onnx_calibration.json and prints a Markdown table. ``convert_s`` is the median
wall time of a whole ``edgekit.api.convert`` (tf2onnx export, onnxsim, ORT pre-processing + calibration +
quantization, validation in onnxruntime) and ``quantize_s`` the median of the ORT quantization step alone,
both on THIS HOST's CPU (x86). Every round must give the same bytes (sha256), or the script fails.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "onnx_calibration.json"
METHODS = ("minmax", "percentile", "entropy")
TARGETS = ("x86-ort", "arm64-ort")


def _median_time(fn, rounds: int):
    times, out = [], None
    for _ in range(rounds):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--output", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    from edgekit import api
    from edgekit.example import make_example
    from edgekit.export.onnx import export_tf, simplify
    from edgekit.manifest import tool_versions
    from edgekit.models import load_model
    from edgekit.quantize import onnx as q
    from edgekit.options import ConvertOptions
    from edgekit.targets import Precision, load_target

    work = Path(tempfile.mkdtemp(prefix="edgekit-bench-onnx-"))
    ex = make_example(work / "example", seed=args.seed, epochs=args.epochs)
    with np.load(ex.train) as z:
        calib = z["x"][np.random.default_rng(args.seed).permutation(len(z["x"]))[:200]]
    fp32_graph, _ = simplify(export_tf(load_model(ex.model), 17))
    common = ConvertOptions(calibration=str(ex.train), eval_data=str(ex.test), seed=args.seed, device_check="off")
    fp32 = api.convert(ex.model, "x86-ort", common.updated({"precision": "fp32"}), work / "fp32", overwrite=True)
    fp32_acc = fp32.manifest.validation.accuracy.artifact
    # warm-up (imports, first-session set-up), so that no method pays for them in its timings
    q.quantize(fp32_graph, Precision.INT8, q.options(load_target("x86-ort")), calib)
    api.convert(ex.model, "x86-ort", common, work / "warm-up", overwrite=True)
    rows = []
    for target in TARGETS:
        profile = load_target(target)
        for method in METHODS:
            opts = q.options(profile, calibration_method=method)
            quantize_s, _ = _median_time(lambda: q.quantize(fp32_graph, Precision.INT8, opts, calib), args.rounds)
            shas, results = set(), []

            def convert_once():
                out = work / target / method / str(len(results))
                res = api.convert(ex.model, target, common.updated({"onnx": {"calibration_method": method}}), out,
                                  overwrite=True)
                results.append(res)
                shas.add(res.manifest.artifacts[0].sha256)
                return res

            convert_s, res = _median_time(convert_once, args.rounds)
            if len(shas) != 1:
                print(f"{target}/{method}: rounds gave different bytes: {shas}", file=sys.stderr)
                return 1
            a = res.manifest.artifacts[0].model_dump(mode="json")
            v = a["validation"]
            rows.append({
                "target": target, "method": method, "activations": a["quantization"]["activations"],
                "reduce_range": a["quantization"]["reduce_range"],
                "accuracy": v["accuracy"]["artifact"], "fp32_accuracy": fp32_acc,
                "drop_points": round(100 * (fp32_acc - v["accuracy"]["artifact"]), 3),
                "top1_agreement": v["top1_agreement"], "max_abs_error": v["max_abs_error"], "cosine": v["cosine"],
                "bytes": a["bytes"], "fp32_bytes": fp32.manifest.artifacts[0].bytes,
                "quantize_s": round(quantize_s, 3), "convert_s": round(convert_s, 3),
                "sha256": a["sha256"], "same_bytes_every_round": True,
            })
    doc = {
        "what": "ONNX Runtime static QDQ int8 of the example digits CNN (Keras 3 -> tf2onnx -> onnxsim -> ORT), "
                "200 calibration samples, validated on 359 held-out digits with onnxruntime",
        "where": f"host {platform.machine()} ({platform.processor() or 'cpu'}), {os.cpu_count()} cores — "
                 "times are host times, not a Raspberry Pi's",
        "command": "python benchmarks/bench_onnx_calibration.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "rounds": args.rounds, "seed": args.seed, "epochs": args.epochs,
        "tool_versions": tool_versions(), "rows": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2) + "\n")
    print("| target | method | activations | accuracy (fp32) | drop (points) | top-1 agree | max abs err | bytes | "
          "quantize s | convert s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['target']} | {r['method']} | {r['activations']} | {r['accuracy']:.2%} ({r['fp32_accuracy']:.2%}) "
              f"| {r['drop_points']:.2f} | {r['top1_agreement']:.2%} | {r['max_abs_error']:.4f} | {r['bytes']:,} "
              f"| {r['quantize_s']:.2f} | {r['convert_s']:.2f} |")
    print(f"\nwrote {args.output} ({doc['where']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
