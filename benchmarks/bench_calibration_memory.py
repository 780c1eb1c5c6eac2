"""Peak memory of ONNX Runtime calibration (edgekit.quantize.onnx) per method and number of samples, on a
conv net of ~4.6M parameters (≥ 10 MB .onnx) built with onnx.helper (seeded weights: memory does not depend
on what the weights learned).

    .venv/bin/python benchmarks/bench_calibration_memory.py [--samples 50,150,400] [--unbounded]

Each case runs in its own subprocess, which reports its own peak RSS (``resource.getrusage(RUSAGE_SELF)
.ru_maxrss`` at its end: model loading, calibration and quantization included). ``--unbounded`` adds percentile cases with the chunking turned off
(CALIB_CHUNK = 10**9: ORT's calibrator then keeps every intermediate output of every sample), for
comparison. Writes benchmarks/results/calibration_memory.json. Acceptance: percentile at 150 samples ≤ 2x
minmax at 150 samples.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "calibration_memory.json"
INPUT = (1, 3, 96, 96)
CHANNELS = (64, 128, 256, 384, 512, 512)  # 3x3 convs, stride 2 from the second on


def build_model(path: Path, seed: int = 0) -> int:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits, prev, cin = [], [], "x", INPUT[1]
    for i, cout in enumerate(CHANNELS):
        w = (rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2.0 / (cin * 9))).astype(np.float32)
        b = np.zeros(cout, np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        s = 1 if i == 0 else 2
        nodes.append(helper.make_node("Conv", [prev, f"w{i}", f"b{i}"], [f"c{i}"], pads=[1, 1, 1, 1], strides=[s, s]))
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
        prev, cin = f"r{i}", cout
    nodes.append(helper.make_node("GlobalAveragePool", [prev], ["g"]))
    nodes.append(helper.make_node("Flatten", ["g"], ["f"]))
    wf = (rng.standard_normal((cin, 10)) * 0.05).astype(np.float32)
    inits.append(numpy_helper.from_array(wf, "wf"))
    nodes.append(helper.make_node("MatMul", ["f", "wf"], ["y"]))
    graph = helper.make_graph(nodes, "calib_net", [helper.make_tensor_value_info("x", TensorProto.FLOAT, INPUT)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, (1, 10))], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save_model(model, str(path))
    return path.stat().st_size


def child(model_path: str, method: str, n: int, unbounded: bool) -> None:
    """One case: quantize with ``n`` seeded samples; prints JSON (seconds, bytes)."""
    import onnx

    from edgekit.quantize import onnx as q
    from edgekit.targets import Precision, load_target

    if unbounded:
        q.CALIB_CHUNK = 10**9
    x = np.random.default_rng(1).uniform(0, 1, size=(n, *INPUT[1:])).astype(np.float32)
    opts = q.options(load_target("x86-ort"), calibration_method=method)
    t = time.perf_counter()
    out = q.quantize(onnx.load_model(model_path), Precision.INT8, opts, x)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # this process's peak RSS (KiB on Linux)
    print(json.dumps({"seconds": round(time.perf_counter() - t, 2), "bytes": len(out.SerializeToString()),
                      "peak_rss_mib": round(peak_kib / 1024, 1)}))


def run_case(model_path: Path, method: str, n: int, unbounded: bool) -> dict:
    cmd = [sys.executable, __file__, "--child", str(model_path), method, str(n)] + (["--unbounded"] if unbounded else [])
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if res.returncode != 0:
        return {"method": method, "samples": n, "unbounded": unbounded, "error": res.stderr[-600:]}
    out = json.loads(res.stdout.strip().splitlines()[-1])
    return {"method": method, "samples": n, "unbounded": unbounded, **out}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", default="50,150,400")
    ap.add_argument("--unbounded", action="store_true")
    args = ap.parse_args()
    sizes = [int(s) for s in args.samples.split(",")]
    cases = [(m, n, False) for m in ("minmax", "percentile", "entropy") for n in sizes]
    if args.unbounded:
        cases += [("percentile", n, True) for n in sizes if n <= 150]
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "calib_net.onnx"
        size = build_model(model)
        rows = []
        for m, n, unb in cases:
            rows.append(run_case(model, m, n, unb))
            print(json.dumps(rows[-1]), flush=True)
    from edgekit.quantize.onnx import CALIB_CHUNK

    by = {(r["method"], r["samples"], r["unbounded"]): r.get("peak_rss_mib") for r in rows}
    ratio = None
    if by.get(("percentile", 150, False)) and by.get(("minmax", 150, False)):
        ratio = round(by[("percentile", 150, False)] / by[("minmax", 150, False)], 3)
    import onnxruntime

    result = {
        "command": "python benchmarks/bench_calibration_memory.py " + " ".join(sys.argv[1:]),
        "model": {"bytes": size, "input": list(INPUT), "channels": list(CHANNELS)},
        "calib_chunk": CALIB_CHUNK,
        "onnxruntime": onnxruntime.__version__,
        "host": {"machine": platform.machine(), "cpus": os.cpu_count()},
        "cases": rows,
        "percentile150_over_minmax150": ratio,
        "acceptance_percentile150_le_2x_minmax": ratio is not None and ratio <= 2.0,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    from edgekit.hashing import atomic_write_json

    atomic_write_json(RESULTS, result)
    print(json.dumps({k: result[k] for k in ("percentile150_over_minmax150", "acceptance_percentile150_le_2x_minmax")}))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]), "--unbounded" in sys.argv)
    else:
        main()
