"""What a target adds to a conversion, through the engine: placement in the manifest, TFLite Micro for
microcontroller targets (arena, validation in TFLM, C array), and the device's own runtimes (emulated)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

import kw
from edgekit.manifest import Manifest


def test_placement_is_recorded_for_an_accelerator_target(example, tmp_path):
    res = kw.convert(example.model, target="android-gpu", output_dir=tmp_path, eval_data=example.test)
    p = res.manifest.artifacts[0].placement
    assert p is not None and p.accelerator == "GPU" and p.source == "predicted" and p.total_ops > 0
    assert 0 < p.accelerated_fraction <= 1 and len(p.ops) == p.total_ops
    on_disk = json.loads((tmp_path / "manifest.json").read_text())["artifacts"][0]["placement"]
    assert on_disk["accelerated_fraction"] == p.accelerated_fraction and on_disk["ops"][0]["op"]


def test_xnnpack_placement_is_measured_on_the_cpu_target(bench_models):
    m = Manifest.read(bench_models.int8.parent / "manifest.json")
    p = m.artifacts[0].placement
    assert p is not None and p.source == "measured" and p.accelerated_ops >= 1


def test_microcontroller_target_validates_in_tflite_micro_and_writes_a_c_array(example, tmp_path):
    res = kw.convert(example.model, target="cortex-m7", output_dir=tmp_path, calibration=example.train,
                     eval_data=example.test, emit_c_array=True)
    a = res.manifest.artifacts[0]
    assert a.mcu is not None and a.mcu.runs_in_tflm and a.mcu.arena_less_fails
    assert 0 < a.mcu.arena_bytes <= a.mcu.ram_budget_bytes and a.mcu.flash_bytes == a.bytes
    assert a.validation.runtime.name == "tflite-micro"  # validated on what the MCU runs
    assert a.validation.accuracy.artifact > 0.9 and a.gate.passed
    assert {c.name for c in a.gate.checks} >= {"mcu", "cosine"}
    cc = (tmp_path / "model_data.cc").read_text()
    assert a.c_array == ["model_data.cc", "model_data.h"] and f"g_model_len = {a.bytes};" in cc
    assert "extern const unsigned char g_model[];" in (tmp_path / "model_data.h").read_text()


@pytest.fixture(scope="module")
def bias_free_sequence_model(fashion, tmp_path_factory):
    """A bias-free Dense over a sequence (the pattern aarch64 tflite-runtime 2.14 crashes on), trained briefly."""
    from edgekit._lazy import keras, seed_everything

    (xtr, ytr), (xte, yte) = fashion
    x = (xtr[:3000] / 255.0).astype(np.float32)
    seed_everything(0)
    k = keras()
    inp = k.Input((28, 28), name="rows")
    h = k.layers.Dense(16, use_bias=False, activation="relu", name="proj")(inp)
    h = k.layers.GlobalAveragePooling1D()(h)
    out = k.layers.Dense(10, activation="softmax", name="probs")(h)
    model = k.Model(inp, out)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, ytr[:3000], epochs=1, batch_size=64, verbose=0)
    d = tmp_path_factory.mktemp("seq")
    model.save(d / "rows.keras")
    for name, xs, ys in (("calib.npz", x[:200], ytr[:200]), ("test.npz", xte[:64] / 255.0, yte[:64])):
        buf = io.BytesIO()
        np.savez(buf, x=xs.astype(np.float32), y=ys)
        (d / name).write_bytes(buf.getvalue())
    return d


def test_rpi_artifact_is_rewritten_and_checked_on_the_devices_runtimes(bias_free_sequence_model, rpi_device_envs, tmp_path):
    d = bias_free_sequence_model
    res = kw.convert(d / "rows.keras", target="rpi", output_dir=tmp_path, calibration=d / "calib.npz",
                     eval_data=d / "test.npz", device_check="on")
    a = res.manifest.artifacts[0]
    assert a.device is not None and a.device.rewritten and a.device.passed, a.device
    assert [(r.runtime, r.version, r.arch, r.emulated, r.status) for r in a.device.results] == [
        ("tflite-runtime", "2.14.0", "aarch64", True, "ran"), ("ai-edge-litert", "1.4.0", "aarch64", True, "ran")]
    assert a.device.artifact_sha256 == a.sha256  # the file written is the one the device runtimes ran
    assert any(c.name == "device_runtimes" and c.status == "pass" for c in a.gate.checks)
    assert any("rewritten so that rpi's runtimes run it" in w for w in res.warnings)


def test_device_check_off_and_auto_without_environments(example, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEKIT_DEVICE_ENV", str(tmp_path / "no-env"))
    res = kw.convert(example.model, target="rpi", output_dir=tmp_path / "a", calibration=example.train,
                     eval_data=example.test, device_check="auto")
    assert res.manifest.artifacts[0].device is None
    assert any("edgekit device-env setup --target rpi" in w for w in res.warnings)
    res = kw.convert(example.model, target="rpi", output_dir=tmp_path / "b", calibration=example.train,
                     eval_data=example.test, device_check="off")
    assert res.manifest.artifacts[0].device is None and not any("device-env" in w for w in res.warnings)


def _fake_compiler(tmp_path, log: str):
    """A test-only stand-in for Coral's edgetpu_compiler (not installable here): it tests how edgekit invokes
    the compiler and reads its output, never a result."""
    import stat

    exe = tmp_path / "bin" / "edgetpu_compiler"
    exe.parent.mkdir()
    (tmp_path / "log.txt").write_text(log)
    exe.write_text('#!/bin/sh\nout="$3"; in="$4"; b=$(basename "$in" .tflite)\n'
                   f'cp "$in" "$out/${{b}}_edgetpu.tflite"; cat "{tmp_path}/log.txt"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


def test_edgetpu_target_predicts_without_the_compiler_and_runs_it_when_given(example, tmp_path):
    res = kw.convert(example.model, target="coral-edgetpu", output_dir=tmp_path / "a", calibration=example.train,
                     eval_data=example.test)
    a = res.manifest.artifacts[0]
    assert a.placement.accelerator == "Edge TPU" and a.placement.source == "predicted" and a.edgetpu is None
    assert any("edgetpu_compiler is not installed" in w and "nothing was compiled" in w for w in res.warnings)
    log = ("Edge TPU Compiler version 16.0.384591198\n\nModel compiled successfully in 12 ms.\n\n"
           "Operator                       Count      Status\n\n"
           + "".join(f"{o.op:<30} 1          Mapped to Edge TPU\n" for o in a.placement.ops))
    exe = _fake_compiler(tmp_path, log)
    res = kw.convert(example.model, target="coral-edgetpu", output_dir=tmp_path / "b", calibration=example.train,
                     eval_data=example.test, edgetpu_compiler=str(exe))
    e = res.manifest.artifacts[0].edgetpu
    assert e is not None and e.compiler == str(exe) and e.placement.source == "compiler"
    assert (tmp_path / "b" / e.file).is_file() and (tmp_path / "b" / e.log_file).read_text() == log
    assert e.file == res.manifest.artifacts[0].path.replace(".tflite", "_edgetpu.tflite")
