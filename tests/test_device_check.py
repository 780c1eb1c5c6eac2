"""edgekit.device.check.validate: artifacts run on the rpi profile's aarch64 runtimes under qemu-user and
compared with the host runtime (real models trained on Fashion-MNIST, real runtimes, no mocks)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from device_models import attention_keras, bias_free_dense_tflite, sequences
from edgekit.device.check import validate
from edgekit.targets import load_target


@pytest.fixture(scope="module")
def small(fashion):
    return bias_free_dense_tflite(fashion, use_bias=False), [sequences(fashion, 0, 64)[2]]


def test_small_model_is_fixed_and_passes_on_both_runtimes(small, rpi_device_envs):
    data, x = small
    check, fixed = validate(data, load_target("rpi"), x)
    assert check.passed and check.failures == () and check.rewritten and fixed is not None and fixed != data
    assert [(r.runtime, r.version, r.arch, r.emulated, r.status) for r in check.results] == [
        ("tflite-runtime", "2.14.0", "aarch64", True, "ran"),
        ("ai-edge-litert", "1.4.0", "aarch64", True, "ran"),
    ]
    assert all(r.agreement.samples == 64 and r.agreement.top1_agreement >= 0.95 for r in check.results)
    doc = check.model_dump(mode="json")
    json.dumps(doc)  # embeddable in the manifest as-is: no arrays, no timings
    assert "outputs" not in doc["results"][0] and "latency" not in json.dumps(doc)
    assert doc["quirks"][0]["fixed"] and doc["quirks"][0]["test"].startswith("tests/test_device_quirks.py::")


def test_without_the_fix_the_crash_fails_the_check_naming_op_and_runtime(small, rpi_device_envs):
    data, x = small
    check, fixed = validate(data, load_target("rpi"), x, fix=False)
    assert not check.passed and fixed is None and not check.rewritten
    assert [(r.runtime, r.status, r.signal) for r in check.results] == [
        ("tflite-runtime", "crashed", "SIGSEGV"), ("ai-edge-litert", "ran", None)]
    (msg,) = check.failures
    assert "tflite-runtime 2.14.0 (aarch64, emulated) crashed with SIGSEGV" in msg
    assert "FULLY_CONNECTED" in msg and "int8-fully-connected-without-bias" in msg


def test_a_mismatch_fails_the_check(small, rpi_device_envs):
    data, x = small
    wrong = [np.roll(h, 1, axis=-1) for h in __import__("edgekit.device.check", fromlist=["x"]).host_outputs(data, x)[0]]
    check, _ = validate(data, load_target("rpi"), x, host=wrong)
    assert not check.passed and len(check.failures) == 2
    assert all("disagree" in f or "top-1 agrees" in f for f in check.failures)


def test_profile_without_device_runtimes_is_not_checked(small):
    assert validate(small[0], load_target("cpu-fp32"), small[1]) == (None, None)


@pytest.mark.slow
def test_acceptance_attention_model_converted_for_rpi_runs_on_both_device_runtimes(fashion, tmp_path, rpi_device_envs):
    """LayerNormalization -> MultiHeadAttention -> Dense(gelu, use_bias=False), trained on Fashion-MNIST
    rows, converted by edgekit.api.convert for rpi (int8): agrees on top-1 with the host on >= 98%."""
    import kw

    model, _ = attention_keras(fashion, tmp_path / "attention.keras")
    xtr, ytr, xte, yte = sequences(fashion, 200, 1000)
    np.savez(tmp_path / "calib.npz", x=xtr, y=ytr)
    result = kw.convert(model, target="rpi", output_dir=tmp_path / "out", calibration=tmp_path / "calib.npz", seed=0)
    (artifact,) = [p for p in result.artifact_paths if p.suffix == ".tflite"]
    data = artifact.read_bytes()
    check, fixed = validate(data, load_target("rpi"), [xte])
    assert check.passed, check.failures
    assert [f.quirk for f in check.quirks] == ["int8-fully-connected-without-bias"] and fixed is not None
    for r in check.results:
        assert (r.arch, r.emulated, r.status) == ("aarch64", True, "ran")
        assert r.agreement.samples == 1000 and r.agreement.top1_agreement >= 0.98, r
    unfixed, _ = validate(data, load_target("rpi"), [xte[:16]], fix=False)
    assert [r.status for r in unfixed.results] == ["crashed", "ran"]
