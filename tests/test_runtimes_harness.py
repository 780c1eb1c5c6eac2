"""The one-file harness, run for real on LiteRT, onnxruntime and TensorFlow's interpreter, in-process and as
a standalone copied script; and ``edgekit bench`` / ``edgekit harness`` locally, Ctrl-C included."""

from __future__ import annotations

import ast
import ctypes.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli, run_cli_interrupted
from edgekit.bench import SCHEMA, BenchOptions, bench_local, harness_path
from edgekit.runtimes import harness
from edgekit.errors import CalibrationError, ConfigError, ModelLoadError, RuntimeUnavailableError
from edgekit.hashing import sha256_file

ALLOWED_IMPORTS = {"__future__", "argparse", "array", "gc", "hashlib", "json", "os", "platform", "signal", "socket", "sys",
                   "time", "resource", "numpy", "ai_edge_litert", "tflite_runtime", "tensorflow", "onnxruntime"}


def _check_result(r: dict, model: Path, runs: int) -> None:
    assert r["schema"] == SCHEMA == harness.SCHEMA
    assert r["model"] == {"path": str(model), "format": model.suffix[1:], "bytes": model.stat().st_size,
                          "sha256": sha256_file(model)}
    w = r["where"]
    assert {"hostname", "arch", "cpu", "cores", "os", "python", "numpy"} <= set(w) and w["cores"] >= 1
    lat = r["latency_ms"]
    assert set(lat) == {"mean", "std", "min", "p50", "p90", "p99", "max"}
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert r["runs"] == r["runs_requested"] == runs and not r["interrupted"]
    assert r["init_ms"] > 0 and r["first_inference_ms"] > 0 and r["outputs_finite"]
    assert r["peak_rss_bytes"] > 10 * 2**20


def test_tflite_int8_latency_and_accuracy_match_validation(bench_models):
    r = bench_local(bench_models.int8, BenchOptions(threads=2, runs=50, warmup=3, eval_data=bench_models.test))
    _check_result(r, bench_models.int8, 50)
    assert r["runtime"]["name"] == "ai_edge_litert" and r["threads"] == 2 and r["where"]["via"] == "local"
    assert r["inputs"]["tensors"][0]["dtype"] == "int8"  # int8 IO: random inputs cover the int8 range
    # same runtime (LiteRT) as edgekit's validation, same quantization of the inputs: the same accuracy
    assert r["accuracy"]["top1"] == pytest.approx(bench_models.int8_accuracy, abs=1e-12)
    assert r["accuracy"]["samples"] == bench_models.n_test


def test_onnx_runs_on_onnxruntime(bench_models):
    from edgekit import api

    r = api.bench(bench_models.onnx, runs=30, warmup=2, eval_data=bench_models.test)
    _check_result(r, bench_models.onnx, 30)
    assert r["runtime"]["name"] == "onnxruntime"
    assert abs(r["accuracy"]["top1"] - bench_models.fp32_accuracy) <= 1 / bench_models.n_test


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
def test_tensorflow_interpreter_and_compiled_model_cpu_agree(bench_models):
    tf = bench_local(bench_models.fp32, BenchOptions(runs=10, warmup=1, runtime="tensorflow", eval_data=bench_models.test))
    assert tf["runtime"]["name"] == "tensorflow"
    cm = bench_local(bench_models.fp32, BenchOptions(runs=10, warmup=1, accelerator="cpu", eval_data=bench_models.test))
    assert cm["runtime"]["accelerator"] == {"requested": "cpu", "fully_accelerated": True}
    for r in (tf, cm):
        assert abs(r["accuracy"]["top1"] - bench_models.fp32_accuracy) <= 1 / bench_models.n_test


def test_gpu_accelerator_unavailable_fails_clearly(bench_models):
    if ctypes.util.find_library("vulkan"):
        pytest.skip("a Vulkan loader is installed: LiteRT's GPU accelerator may work on this machine")
    with pytest.raises(RuntimeUnavailableError, match="GPU accelerator") as exc:
        bench_local(bench_models.fp32, BenchOptions(runs=5, accelerator="gpu"))
    assert "without --accelerator gpu" in str(exc.value)


def test_inputs_from_npy_and_npz(bench_models, tmp_path):
    with np.load(bench_models.test) as z:
        x = z["x"][:1]
    np.save(tmp_path / "one.npy", x[0])  # a single sample without the batch axis
    np.savez(tmp_path / "one.npz", x=x)
    for f in ("one.npy", "one.npz"):
        r = bench_local(bench_models.int8, BenchOptions(runs=5, warmup=0, inputs=tmp_path / f))
        assert r["inputs"]["source"] == str(tmp_path / f) and r["outputs_finite"]
    np.save(tmp_path / "bad.npy", np.zeros((1, 5, 5, 1), np.float32))
    with pytest.raises(CalibrationError, match=r"does not fit input"):
        bench_local(bench_models.int8, BenchOptions(runs=5, inputs=tmp_path / "bad.npy"))


def test_random_inputs_are_seeded_and_span_the_dtype():
    ts = [harness.Tensor("a", (4, 64), "int8"), harness.Tensor("b", (2, 3), "float32"), harness.Tensor("c", (5,), "int64")]
    a, b = harness.random_inputs(ts, 7), harness.random_inputs(ts, 7)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], harness.random_inputs(ts, 8)[0])
    assert [x.dtype.name for x in a] == ["int8", "float32", "int64"]
    assert a[0].min() < -100 and a[0].max() > 100
    assert 0 <= a[1].min() and a[1].max() < 1 and 0 <= a[2].min() and a[2].max() < 100


def test_latency_stats_on_known_samples():
    s = harness.latency_stats(list(range(1, 101)))
    assert s == {"mean": 50.5, "std": round(float(np.std(np.arange(1, 101), ddof=1)), 4), "min": 1.0,
                 "p50": 50.5, "p90": 90.1, "p99": 99.01, "max": 100.0}


def test_bad_models_and_options_map_to_edgekit_errors(bench_models, tmp_path):
    (tmp_path / "m.txt").write_text("x")
    with pytest.raises(ModelLoadError, match="expected a .tflite or .onnx"):
        bench_local(tmp_path / "m.txt")
    (tmp_path / "junk.tflite").write_bytes(b"not a flatbuffer")
    with pytest.raises(ModelLoadError, match="cannot load this model"):
        bench_local(tmp_path / "junk.tflite")
    with pytest.raises(ConfigError, match="at least 1"):
        BenchOptions(runs=0)
    with pytest.raises(ConfigError, match="onnxruntime"):
        bench_local(bench_models.onnx, BenchOptions(accelerator="gpu"))


def test_harness_is_one_self_contained_python39_file():
    src = harness_path().read_text()
    tree = ast.parse(src, feature_version=(3, 9))
    mods = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    mods |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert mods <= ALLOWED_IMPORTS, mods - ALLOWED_IMPORTS


def test_printed_harness_runs_standalone_as_a_copied_file(bench_models, tmp_path):
    p = run_cli("harness")
    assert p.returncode == 0 and p.stdout == harness_path().read_text()
    p = run_cli("harness", "--write", tmp_path / "dev")
    script = tmp_path / "dev" / "edgekit_harness.py"
    assert p.returncode == 0 and script.read_text() == harness_path().read_text() and os.access(script, os.X_OK)
    # -I: isolated mode, run from a folder holding nothing but the copy
    out = subprocess.run([sys.executable, "-I", script.name, str(bench_models.int8), "--runs", "20", "--json", "-"],
                         cwd=script.parent, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    _check_result(r, bench_models.int8, 20)
    assert "edgekit-harness: timing (20)" in out.stderr and "measured on" in out.stderr


def test_bench_cli_writes_json_and_says_where(bench_models, tmp_path):
    p = run_cli("bench", bench_models.int8, "--threads", "2", "--runs", "40", "--json", tmp_path / "b.json")
    assert p.returncode == 0, p.stderr
    r = json.loads((tmp_path / "b.json").read_text())
    _check_result(r, bench_models.int8, 40)
    assert "p50" in p.stdout and "not the latency of a Raspberry Pi" in p.stdout.replace("\n", " ")
    p = run_cli("bench", tmp_path / "missing.tflite")
    assert p.returncode == 2 and "does not exist" in p.stderr


def test_ctrl_c_prints_and_writes_the_partial_result(bench_models, tmp_path):
    out = tmp_path / "partial.json"
    p = run_cli_interrupted("bench", bench_models.fp32, "--runs", "100000000", "--json", out, when="timing (100000000)")
    assert p.returncode == 130, p.stderr
    r = json.loads(out.read_text())
    assert r["interrupted"] is True and 0 < r["runs"] < r["runs_requested"] == 100000000
    assert r["latency_ms"]["p50"] > 0
    assert "INTERRUPTED" in p.stdout and "p50" in p.stdout
