"""edgekit's harness vs Google's benchmark_litert_model.py (shipped in ai-edge-litert) on the same
MobileNetV2-sized model, threads and machine. Acceptance: harness p50 within ±5% of the yardstick's p50.

    .venv/bin/python benchmarks/bench_harness_vs_litert.py [--threads 1] [--runs 200] [--rounds 5]

Builds keras.applications.MobileNetV2(weights=None) (seeded, 224x224x3, fp32) -> .tflite, then runs each
tool as its own process, alternating them round by round (so load from other processes hits both alike),
in ABBA order, and writes benchmarks/results/harness_vs_litert.json with each round's p50 and the ratio of
the medians. Run it on a quiet machine: other processes competing for the cores swamp a 5% comparison.
The harness uses the classic interpreter (XNNPACK); the yardstick uses the LiteRT CompiledModel on the CPU
(XNNPACK). Latency here is THIS HOST's (x86), not a Raspberry Pi's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from edgekit.bench import harness_path
from edgekit.runtimes import harness  # noqa: E402
from edgekit.hashing import atomic_write_json, sha256_file  # noqa: E402


def build_mobilenet(path: Path, seed: int = 0) -> None:
    import contextlib
    import io

    from edgekit._lazy import capture_native_stderr, keras, tf
    from edgekit._lazy import seed_everything

    seed_everything(seed)
    model = keras().applications.MobileNetV2(weights=None, input_shape=(224, 224, 3), classes=1000)
    with contextlib.redirect_stdout(io.StringIO()), capture_native_stderr():  # converter chatter
        path.write_bytes(tf().lite.TFLiteConverter.from_keras_model(model).convert())


def run_harness(model: Path, threads: int, runs: int, warmup: int, out: Path) -> dict:
    subprocess.run([sys.executable, str(harness_path()), str(model), "--threads", str(threads), "--runs", str(runs),
                    "--warmup", str(warmup), "--json", str(out), "--quiet"], check=True, capture_output=True)
    return json.loads(out.read_text())


def run_litert_tool(model: Path, threads: int, runs: int, warmup: int, out: Path) -> dict:
    subprocess.run([sys.executable, "-m", "ai_edge_litert.tools.benchmark_litert_model", f"--model={model}",
                    f"--num_threads={threads}", f"--num_runs={runs}", f"--warmup_runs={warmup}",
                    f"--result_json={out}"], check=True, capture_output=True)
    return json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "harness_vs_litert.json")
    a = ap.parse_args()
    import ai_edge_litert

    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        model = d / "mobilenet_v2.tflite"
        build_mobilenet(model)
        rounds = []
        for i in range(a.rounds):  # ABBA order: drift in background load hits both tools alike
            if i % 2 == 0:
                h = run_harness(model, a.threads, a.runs, a.warmup, d / "h.json")
                g = run_litert_tool(model, a.threads, a.runs, a.warmup, d / "g.json")
            else:
                g = run_litert_tool(model, a.threads, a.runs, a.warmup, d / "g.json")
                h = run_harness(model, a.threads, a.runs, a.warmup, d / "h.json")
            rounds.append({"harness_p50_ms": h["latency_ms"]["p50"], "litert_tool_p50_ms": g["latency"]["median_ms"],
                           "harness_mean_ms": h["latency_ms"]["mean"], "litert_tool_mean_ms": g["latency"]["avg_ms"]})
            print(f"round {i + 1}: harness p50 {rounds[-1]['harness_p50_ms']:.3f} ms, "
                  f"benchmark_litert_model p50 {rounds[-1]['litert_tool_p50_ms']:.3f} ms", flush=True)
        hp = statistics.median(r["harness_p50_ms"] for r in rounds)
        gp = statistics.median(r["litert_tool_p50_ms"] for r in rounds)
        result = {
            "what": "edgekit harness p50 vs ai_edge_litert/tools/benchmark_litert_model.py p50, same model/threads/machine",
            "command": f".venv/bin/python benchmarks/bench_harness_vs_litert.py --threads {a.threads} --runs {a.runs} "
                       f"--rounds {a.rounds}",
            "where": {**h["where"], "note": "host latency (this machine), NOT a Raspberry Pi's"},
            "model": {"name": "keras.applications.MobileNetV2(weights=None), seed 0, 224x224x3, fp32 .tflite",
                      "bytes": model.stat().st_size, "sha256": sha256_file(model)},
            "load_average_1_5_15_at_end": [round(x, 2) for x in os.getloadavg()],
            "threads": a.threads,
            "runs_per_round": a.runs,
            "warmup": a.warmup,
            "runtimes": {"harness": f"{h['runtime']['name']} {h['runtime']['version']} Interpreter (XNNPACK)",
                         "litert_tool": f"ai_edge_litert {ai_edge_litert.__version__} CompiledModel CPU (XNNPACK)"},
            "harness_schema": harness.SCHEMA,
            "rounds": rounds,
            "harness_p50_ms": hp,
            "litert_tool_p50_ms": gp,
            "ratio_harness_over_tool": round(hp / gp, 4),
            "ratio_of_fastest_rounds": round(min(r["harness_p50_ms"] for r in rounds)
                                             / min(r["litert_tool_p50_ms"] for r in rounds), 4),
            "within_5_percent": abs(hp / gp - 1) <= 0.05,
        }
    atomic_write_json(a.out, result)
    print(f"median p50: harness {hp:.3f} ms, benchmark_litert_model {gp:.3f} ms, ratio {hp / gp:.4f} -> {a.out}")


if __name__ == "__main__":
    main()
