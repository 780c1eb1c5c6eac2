"""The accuracy-vs-latency sweep: the recommendation rule on crafted rows, the variant plan, and the real
sweep of the example model (conversions, LiteRT validation, harness timing) writing JSON, table and PNG."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_cli, run_cli_interrupted
from edgekit.bench import BenchOptions
from edgekit.options import ConvertOptions
from edgekit.workflows.sweep import VARIANTS, Variant, pareto, plan, recommend, sweep
from edgekit.errors import ConfigError
from edgekit.targets import load_target


def row(name, acc, p50, status="ok", nbytes=1000):
    return {"variant": name, "accuracy": acc, "latency_ms": {"p50": p50}, "status": status, "bytes": nbytes}


ROWS = [
    row("fp32", 0.975, 8.0, nbytes=4000),
    row("fp16", 0.975, 8.5, nbytes=2000),
    row("dynamic", 0.970, 9.5),
    row("int8", 0.966, 4.0),  # 0.9 points below: qualifies with the default 1 point
    row("int4ish", 0.90, 2.0),  # fastest, but 7.5 points below
    row("broken", None, 1.0, status="failed"),
]


def test_recommends_the_fastest_within_the_allowed_drop():
    assert recommend(ROWS, 0.975, 1.0) == "int8"
    assert recommend(ROWS, 0.975, 0.5) == "fp32"  # int8 is 0.9 points down: out; fp32 is faster than fp16
    assert recommend(ROWS, 0.975, 10.0) == "int4ish"
    assert recommend(ROWS, 0.975, 0.0) == "fp32"


def test_recommendation_boundary_ties_and_none():
    assert recommend([row("a", 0.96, 5.0), row("b", 0.97, 6.0)], 0.97, 1.0) == "a"  # exactly 1 point: allowed
    assert recommend([row("a", 0.9599, 5.0), row("b", 0.97, 6.0)], 0.97, 1.0) == "b"
    tie = [row("big", 0.97, 5.0, nbytes=900), row("small", 0.97, 5.0, nbytes=100)]
    assert recommend(tie, 0.97, 1.0) == "small"
    assert recommend([row("a", 0.5, 1.0)], 0.97, 1.0) is None  # nothing qualifies
    assert recommend(ROWS, None, 1.0) is None  # no source accuracy: no recommendation
    assert recommend([row("x", 0.99, 1.0, status="interrupted")], 0.97, 1.0) is None


def test_pareto_front():
    assert pareto(ROWS) == {"fp32", "int8", "int4ish"}  # fp16 and dynamic are beaten by fp32; failed rows ignored


def test_plan_follows_the_target_and_the_data():
    rpi = load_target("rpi")
    chosen, skipped = plan(rpi)
    assert [v.name for v in chosen] == ["tflite-fp32", "tflite-fp16", "tflite-dynamic", "tflite-int8", "tflite-int16x8",
                                        "tflite-int8-auto"]
    assert {s["variant"]: s["reason"] for s in skipped}["onnx-int8"] == "target 'rpi' does not emit onnx"
    chosen, skipped = plan(rpi, has_calibration=False)
    assert "tflite-int8" not in [v.name for v in chosen]
    assert "needs calibration data" in {s["variant"]: s["reason"] for s in skipped}["tflite-int8"]
    with pytest.raises(ConfigError, match="unknown nope"):
        plan(rpi, names=["tflite-fp32", "nope"])
    with pytest.raises(ConfigError, match="no variant to sweep for target 'coral-edgetpu'.*needs calibration"):
        plan(load_target("coral-edgetpu"), has_calibration=False)
    names = [v.name for v in VARIANTS]
    assert len(names) == len(set(names))


def test_sweep_of_the_example_writes_json_table_and_plot(example, tmp_path):
    out = tmp_path / "sweep"
    p = run_cli("sweep", example.model, "--target", "rpi", "--calibration", example.train, "--eval-data", example.test,
                "-o", out, "--runs", "30", "--warmup", "3")
    assert p.returncode == 0, p.stderr
    data = json.loads((out / "sweep.json").read_text())
    assert data["schema"] == "edgekit.sweep/1" and not data["interrupted"]
    rows = {r["variant"]: r for r in data["rows"]}
    assert list(rows) == ["tflite-fp32", "tflite-fp16", "tflite-dynamic", "tflite-int8", "tflite-int16x8"]
    skipped = {s["variant"]: s["reason"] for s in data["skipped"]}
    assert "met its fidelity budget" in skipped["tflite-int8-auto"]  # int8 passed: auto would rebuild the same
    assert all(r["status"] == "ok" and r["latency_ms"]["p50"] > 0 and (out / r["path"]).is_file() for r in rows.values())
    assert data["source"]["metric"] == "accuracy" and data["source"]["accuracy"] == pytest.approx(example.keras_accuracy, abs=1e-6)
    assert rows["tflite-fp32"]["accuracy"] == pytest.approx(data["source"]["accuracy"], abs=1 / data["source"]["samples"])
    # the recommendation obeys the rule, recomputed here from the measured rows
    best = data["recommended"]
    floor = data["source"]["accuracy"] - 0.01 - 1e-12
    ok = [r for r in rows.values() if r["accuracy"] >= floor]
    assert best == min(ok, key=lambda r: (r["latency_ms"]["p50"], r["bytes"], r["variant"]))["variant"]
    assert data["where"]["via"] == "local" and data["where"]["arch"]
    md = (out / "sweep.md").read_text()
    assert md == p.stdout.split("latency measured on")[0]
    assert f"**{best}**" in md and "| tflite-int16x8 | tflite | int16x8 |" in md
    assert "Host latency is not the latency of a Raspberry Pi" in md
    png = (out / "pareto.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    img = matplotlib.image.imread(out / "pareto.png")
    assert img.shape[0] > 300 and img.shape[1] > 500 and img[..., :3].std() > 0.05  # a real drawing, not blank


def damage(model, *, calibration, seed):
    """A real model transform (stand-in for pruning/QAT): the first conv's weights replaced by noise."""
    from edgekit._lazy import keras
    from edgekit.models.keras import wrap

    k = keras()
    clone = k.models.clone_model(model.keras_model)
    clone.set_weights(model.keras_model.get_weights())
    conv = clone.get_layer("conv1")
    w, b = conv.get_weights()
    conv.set_weights([np.random.default_rng(seed).normal(0, 1, w.shape).astype(w.dtype), b])
    return wrap(clone, path=model.path, sha256=model.sha256)


def test_variants_are_data_and_a_transform_entry_is_ranked_by_the_rule(example, tmp_path):
    catalog = (Variant("tflite-fp32"), Variant("damaged-fp32", transform="test_workflows_sweep:damage"))
    res = sweep(example.model, target="cpu-fp32", output_dir=tmp_path, options=ConvertOptions(eval_data=example.test),
                bench_options=BenchOptions(runs=20, warmup=2), catalog=catalog)
    rows = {r["variant"]: r for r in res.data["rows"]}
    assert rows["damaged-fp32"]["accuracy"] < res.data["source"]["accuracy"] - 0.2  # the transform really ran
    assert rows["tflite-fp32"]["accuracy"] >= res.data["source"]["accuracy"] - 1 / 359
    assert res.data["recommended"] == "tflite-fp32"  # whatever the latencies: the damaged one is out of bounds
    assert rows["tflite-fp32"]["pareto"]


def test_ctrl_c_during_a_sweep_writes_the_partial_table(example, tmp_path):
    out = tmp_path / "sweep"
    p = run_cli_interrupted("sweep", example.model, "--target", "rpi", "--calibration", example.train, "--eval-data",
                            example.test, "-o", out, "--variants", "tflite-fp32,tflite-int8", "--runs", "100000000",
                            "--warmup", "0", "--threads", "1", when="tflite-fp32: timing")
    assert p.returncode == 130, p.stderr
    data = json.loads((out / "sweep.json").read_text())
    assert data["interrupted"] and data["planned"] == ["tflite-fp32", "tflite-int8"]
    assert [r["variant"] for r in data["rows"]] == ["tflite-fp32"] and data["rows"][0]["interrupted"]
    assert data["rows"][0]["latency_ms"]["p50"] > 0 and data["recommended"] is None  # partial rows: never recommended
    assert "INTERRUPTED" in p.stdout and "| tflite-fp32 |" in p.stdout
    assert (out / "pareto.png").is_file()


def test_onnx_variants_when_the_target_emits_onnx(example, tmp_path):
    profile = tmp_path / "ort.toml"
    profile.write_text(
        'name = "x86-ort"\ndescription = "x86 box, onnxruntime CPU"\nruntime = "onnxruntime"\nformats = ["onnx"]\n'
        'precision = "fp32"\nallowed_precisions = ["fp32", "dynamic", "int8"]\n'
    )
    res = sweep(example.model, target=profile, output_dir=tmp_path / "out", options=ConvertOptions(eval_data=example.test),
                bench_options=BenchOptions(runs=20, warmup=2))
    rows = {r["variant"]: r for r in res.data["rows"]}
    assert list(rows) == ["onnx-fp32", "onnx-dynamic"]  # onnx-int8 needs calibration data: skipped, with the reason
    assert {s["variant"]: s["reason"] for s in res.data["skipped"]}["onnx-int8"].startswith("int8 needs calibration")
    for r in rows.values():
        assert r["status"] == "ok" and r["runtime"]["name"] == "onnxruntime" and r["path"].endswith(".onnx")
    assert rows["onnx-fp32"]["accuracy"] == pytest.approx(res.data["source"]["accuracy"], abs=1 / 359)
    assert res.data["recommended"] in rows


def test_on_an_accelerator_target_a_variant_that_splits_the_graph_is_marked_and_not_preferred():
    rows = [
        {"variant": "fast-split", "status": "ok", "accuracy": 0.97, "latency_ms": {"p50": 1.0}, "bytes": 10,
         "splits_accelerator": True, "accelerated_fraction": 0.5},
        {"variant": "slow-whole", "status": "ok", "accuracy": 0.97, "latency_ms": {"p50": 2.0}, "bytes": 10,
         "splits_accelerator": False, "accelerated_fraction": 1.0},
    ]
    assert recommend(rows, 0.97, 1.0, accelerator=True) == "slow-whole"
    assert recommend(rows, 0.97, 1.0, accelerator=False) == "fast-split"  # a CPU target: latency decides
    assert recommend(rows[:1], 0.97, 1.0, accelerator=True) == "fast-split"  # nothing whole: the best split one
    from edgekit.workflows.sweep.report import _note

    assert "splits the accelerator graph (50% of ops on it)" in _note(rows[0], None)
