"""Accuracy-aware mixed precision on a real quantization-sensitive model (a transformer encoder trained on
Fashion-MNIST) and on the example digits CNN; every candidate is quantized, run and measured for real."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgekit.fidelity.hooks import TfliteHook, measure
from edgekit.fidelity.mixed import Budget, MixedResult, choose_mode, search
from edgekit.fidelity.write import write_search
from edgekit.quantize import tflite as qt
from edgekit.targets import Precision, load_target

BUDGET = Budget(min_cosine=0.99)


@pytest.fixture(scope="module")
def enc(encoder):
    return encoder


@pytest.fixture(scope="module")
def onnx_run(enc):
    hook = enc.onnx_hook("x86-ort")
    report = hook.layer_report(enc.x[:20])
    ranked = [e.name for e in report.ranked() if e.rel_error > 0]
    fp32 = len(hook.proto.SerializeToString())
    result, data = search(ranked, hook, BUDGET, mode=choose_mode(load_target("x86-ort"), "onnx"),
                          fallbacks={"fp16": hook.fp16})
    return hook, report, result, data, fp32


def test_full_int8_breaks_the_budget_and_float_does_not(enc):
    tfl = {p: measure("litert", qt.convert(enc.model, p, calibration=enc.calibration), enc.x, enc.reference).measured
           for p in (Precision.FP32, Precision.FP16, Precision.INT8)}
    assert tfl[Precision.FP32].cosine > 0.9999 and tfl[Precision.FP16].cosine > 0.999
    assert tfl[Precision.INT8].cosine < 0.98, tfl[Precision.INT8]
    onnx_int8 = enc.onnx_hook()(frozenset(), "int16").measured
    assert onnx_int8.cosine < 0.98, onnx_int8


def test_auto_meets_the_budget_for_an_onnx_target_at_a_fraction_of_the_bytes(enc, onnx_run, tmp_path):
    hook, report, result, data, fp32 = onnx_run
    assert not result.curve[0].passed and result.curve[0].layers_kept == 0  # full int8 fails first
    assert result.met and result.variant == "mixed" and result.mode == "int16"
    assert 0 < len(result.kept) < len(report.layers)
    assert set(result.kept) <= {e.name for e in report.layers}
    assert result.chosen.cosine >= 0.99 and len(data) == result.chosen.bytes
    assert result.chosen.bytes <= 0.6 * fp32, (result.chosen.bytes, fp32)
    again = measure("onnxruntime", data, enc.x, enc.reference)  # the returned artifact is the one measured
    assert again.measured.cosine == pytest.approx(result.chosen.cosine, abs=1e-6)
    # bisection: the layer count below the answer was built and failed
    below = [p for p in result.curve if p.variant == "mixed" and p.layers_kept == len(result.kept) - 1]
    assert below and not below[0].passed
    paths = write_search(result, tmp_path)
    assert MixedResult.model_validate(json.loads(paths["json"].read_text())) == result
    assert paths["png"].read_bytes().startswith(b"\x89PNG")


@pytest.fixture(scope="module")
def tflite_ranked(enc):
    hook = enc.tflite_hook()
    report = hook.layer_report(enc.x[:20])
    return hook, report, [e.name for e in report.ranked() if e.rel_error > 0]


def test_float_mode_meets_the_cosine_budget_for_a_tflite_target(enc, tflite_ranked):
    hook, _, ranked = tflite_ranked
    assert choose_mode(load_target("android-gpu"), "tflite") == "float"  # no int16x8 there: float is the fallback
    result, data = search(ranked, hook, BUDGET, mode="float")
    assert result.met and result.mode == "float" and result.chosen.cosine >= 0.99
    assert not result.curve[0].passed
    assert measure("litert", data, enc.x, enc.reference).measured.cosine >= 0.99


@pytest.fixture(scope="module")
def tflite_int16_run(enc, tflite_ranked):
    hook, _, ranked = tflite_ranked
    mode = choose_mode(load_target("cpu-fp32"), "tflite")
    assert mode == "int16"
    result, data = search(ranked, hook, BUDGET, mode=mode)
    return result, data


def test_tflite_auto_artifact_is_at_most_0_6x_fp32(enc, tflite_ranked, tflite_int16_run):
    hook, report, ranked = tflite_ranked
    result, data = tflite_int16_run
    fp32 = len(qt.convert(enc.model, Precision.FP32))
    assert not result.curve[0].passed and result.curve[0].layers_kept == 0  # full int8 fails first
    assert result.met and result.variant == "mixed" and result.mode == "int16"
    assert 0 < len(result.kept) <= len(ranked) and set(result.kept) <= {e.name for e in report.layers}
    assert result.chosen.cosine >= 0.99 and len(data) == result.chosen.bytes
    assert result.chosen.bytes <= 0.6 * fp32, (result.chosen.bytes, fp32)
    again = measure("litert", data, enc.x, enc.reference)  # the returned artifact is the one measured
    assert again.measured.cosine == pytest.approx(result.chosen.cosine, abs=1e-6)
    assert hook(frozenset(result.kept), "int16").data == data  # same recipe and ranges: same bytes
    below = [p for p in result.curve if p.variant == "mixed" and p.layers_kept == len(result.kept) - 1]
    assert len(result.kept) == 1 or below and not below[0].passed


def test_the_tflite_int16_mix_runs_on_the_rpi_device_runtimes(enc, tflite_int16_run, rpi_device_envs):
    """tflite-runtime 2.14 and ai-edge-litert 1.4.0 (aarch64, emulated) run the mix as LiteRT 2.3 does: no
    int8->int16 QUANTIZE, per-tensor weights on 16-bit FULLY_CONNECTED, no int16 RSQRT/GELU."""
    from edgekit.device.check import validate

    profile, _ = rpi_device_envs
    _, data = tflite_int16_run
    check, rewritten = validate(data, profile, [enc.x[:20]], fix=False)
    assert check.passed and rewritten is None, check.failures
    assert [(r.runtime, r.status) for r in check.results] == [("tflite-runtime", "ran"), ("ai-edge-litert", "ran")]
    assert all(r.agreement.cosine >= 0.999 and r.agreement.top1_agreement >= 0.95 for r in check.results)


def test_a_full_integer_target_keeps_nothing_float_and_suggests_qat(enc):
    coral = load_target("coral-edgetpu")
    assert choose_mode(coral, "tflite") is None
    hook = enc.tflite_hook()
    ranked = [e.name for e in hook.layer_report(enc.x[:20]).ranked() if e.rel_error > 0]
    result, data = search(ranked, hook, BUDGET, mode=None)
    assert not result.met and data is None and result.builds == 1 and result.kept == ()
    assert "--qat" in result.suggestion and result.most_sensitive == tuple(ranked[:5])
    assert "nothing" not in result.reason and "allows neither float ops nor 16-bit activations" in result.reason


def test_when_no_mix_meets_the_budget_the_best_variant_is_named(enc):
    hook = enc.tflite_hook()
    ranked = [e.name for e in hook.layer_report(enc.x[:20]).ranked() if e.rel_error > 0][:8]
    result, data = search(ranked, hook, Budget(min_cosine=1.0), mode="float", fallbacks={"fp16": hook.fp16})
    assert not result.met and data is None
    assert [p.variant for p in result.curve] == ["int8", "mixed", "fp16"]
    assert "no variant meets the budget" in result.reason and "the best found is fp16" in result.reason


def test_the_example_digits_cnn_stays_fully_int8(example):
    from edgekit.models import load_model
    from edgekit.fidelity.metrics import predict_source

    model = load_model(example.model)
    with np.load(example.train) as z:
        cal = z["x"][:200]
    with np.load(example.test) as z:
        x, y = z["x"][:200], z["y"][:200]
    hook = TfliteHook(model, cal, x, predict_source(model, x), y)
    ranked = [e.name for e in hook.layer_report(x[:20]).ranked()]
    assert ranked
    result, data = search(ranked, hook, Budget(min_cosine=0.99, max_accuracy_drop=1.0), mode="float")
    assert result.met and result.variant == "int8" and result.kept == () and result.builds == 1
    assert result.chosen.cosine >= 0.99 and data is not None
