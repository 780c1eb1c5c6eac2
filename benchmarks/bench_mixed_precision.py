"""Mixed-precision search on the quantization-sensitive encoder (tests/sensitive_nets.py: transformer blocks
on real Fashion-MNIST rows): cosine of full int8 vs the chosen mix, layers kept, bytes, search time against a
plain int8 quantization, for an ONNX target and a TFLite target (kept layers at 16-bit activations: ORT QDQ
overrides, ai-edge-quantizer recipes), and for the TFLite target with the kept layers in float instead.

    .venv/bin/python benchmarks/bench_mixed_precision.py [--out DIR]

Writes benchmarks/results/mixed_precision.json (and, with --out, the per-layer reports and curves: JSON, CSV,
PNG). Times are wall seconds on THIS HOST (2 shared cores); latencies are host medians, not a device's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
RESULTS = ROOT / "benchmarks" / "results" / "mixed_precision.json"


def run(name, hook, target, fmt, fp32_bytes, out: Path | None, mode: str | None = None) -> dict:
    from edgekit.fidelity.mixed import Budget, choose_mode, search
    from edgekit.fidelity.write import write_layer_report, write_search
    from edgekit.targets import load_target

    t = time.perf_counter()
    plain = hook(frozenset(), "float")  # a plain full-int8 quantization + validation
    plain_s = time.perf_counter() - t
    t = time.perf_counter()
    report = hook.layer_report(hook.x[:20])
    report_s = time.perf_counter() - t
    ranked = [e.name for e in report.ranked() if e.rel_error > 0]
    mode = mode or choose_mode(load_target(target), fmt)
    result, _ = search(ranked, hook, Budget(min_cosine=0.99), mode=mode, fallbacks={"fp16": hook.fp16})
    if out is not None:
        write_layer_report(report, out, f"{name}-layers")
        write_search(result, out, f"{name}-mixed")
    return {
        "name": name, "target": target, "format": fmt, "fp32_bytes": fp32_bytes,
        "int8": plain.measured.model_dump(), "chosen": result.chosen and result.chosen.model_dump(),
        "met": result.met, "variant": result.variant, "mode": result.mode, "layers_ranked": len(ranked),
        "layers_kept": len(result.kept), "kept": list(result.kept), "builds": result.builds,
        "bytes_vs_fp32": result.chosen and round(result.chosen.bytes / fp32_bytes, 3),
        "plain_int8_s": round(plain_s, 2), "layer_report_s": round(report_s, 2), "search_s": result.seconds,
        "reason": result.reason,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    from sensitive_nets import Encoder

    from edgekit.quantize import tflite as qt
    from edgekit.targets import Precision

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        enc = Encoder(Path(tmp))
        train_s = time.perf_counter() - t
        onnx = enc.onnx_hook("x86-ort")
        rows = [run("onnx-x86-ort", onnx, "x86-ort", "onnx", len(onnx.proto.SerializeToString()), args.out)]
        tfl = enc.tflite_hook()
        tfl_fp32 = len(qt.convert(enc.model, Precision.FP32))
        rows.append(run("tflite-cpu-fp32", tfl, "cpu-fp32", "tflite", tfl_fp32, args.out))
        rows.append(run("tflite-cpu-fp32-float", tfl, "cpu-fp32", "tflite", tfl_fp32, args.out, mode="float"))
    result = {"command": "python benchmarks/bench_mixed_precision.py", "model": "tests/sensitive_nets.py encoder",
              "keras_test_accuracy": round(enc.keras_accuracy, 4), "train_s": round(train_s, 1), "runs": rows}
    from edgekit.hashing import atomic_write_json

    atomic_write_json(RESULTS, result)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
