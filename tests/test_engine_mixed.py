"""--mixed-precision auto and --layer-report through the engine and the CLI, on a real quantization-sensitive
model (tests/sensitive_nets.py) and on the example digits CNN."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

import kw
from conftest import run_cli


@pytest.fixture(scope="module")
def enc_files(encoder, tmp_path_factory):
    """The encoder with a 200-sample eval set (every candidate of the search is validated on all of it)."""
    d = tmp_path_factory.mktemp("enc_files")
    buf = io.BytesIO()
    np.savez(buf, x=encoder.x, y=encoder.y)
    (d / "eval.npz").write_bytes(buf.getvalue())
    buf = io.BytesIO()
    np.savez(buf, x=encoder.calibration)
    (d / "calib.npz").write_bytes(buf.getvalue())
    return encoder.path, d / "calib.npz", d / "eval.npz"


def test_full_int8_fails_the_gate_with_exit_1_and_is_still_written(enc_files, tmp_path):
    model, calib, ev = enc_files
    out = tmp_path / "o"
    p = run_cli("convert", model, "--target", "x86-ort", "--calibration", calib, "--eval-data", ev, "-o", out)
    assert p.returncode == 1, p.stderr[-2000:]
    m = json.loads((out / "manifest.json").read_text())
    assert m["passed"] is False and m["artifacts"][0]["gate"]["passed"] is False
    failed = {c["name"]: c for c in m["artifacts"][0]["gate"]["checks"] if c["status"] == "fail"}
    assert failed["cosine"]["value"] < 0.99 and failed["cosine"]["limit"] == 0.99
    assert (out / m["artifacts"][0]["path"]).is_file()  # written, to be inspected
    assert "FAILED" in p.stdout and "fidelity budget" in p.stdout


def test_auto_meets_the_budget_for_onnx_at_a_fraction_of_the_fp32_bytes(enc_files, tmp_path):
    model, calib, ev = enc_files
    fp32 = kw.convert(model, target="x86-ort", precision="fp32", output_dir=tmp_path / "fp32", eval_data=ev)
    res = kw.convert(model, target="x86-ort", output_dir=tmp_path / "auto", calibration=calib, eval_data=ev,
                     mixed_precision="auto", layer_report=True, budget={"min_cosine": 0.99, "max_accuracy_drop": None})
    a = res.manifest.artifacts[0]
    mp = a.mixed_precision
    assert res.passed and a.gate.passed and a.validation.cosine >= 0.99
    assert mp.met and mp.variant == "mixed" and mp.mode == "int16" and 0 < len(mp.kept) and mp.builds >= 3
    assert not mp.curve[0].passed and mp.curve[0].layers_kept == 0  # full int8 was built first and failed
    assert a.precision == "int8-mixed" and a.bytes <= 0.6 * fp32.manifest.artifacts[0].bytes
    assert a.layer_report is not None and all((tmp_path / "auto" / f).is_file() for f in a.layer_report.files)
    assert (tmp_path / "auto" / "encoder-x86-ort.mixed_precision.png").is_file()


def test_auto_meets_the_cosine_budget_for_a_tflite_target(enc_files, tmp_path):
    model, calib, ev = enc_files
    fp32 = kw.convert(model, target="rpi", precision="fp32", output_dir=tmp_path / "fp32", eval_data=ev)
    res = kw.convert(model, target="rpi", output_dir=tmp_path / "auto", calibration=calib, eval_data=ev,
                     mixed_precision="auto", budget={"min_cosine": 0.99, "max_accuracy_drop": None})
    a = res.manifest.artifacts[0]
    mp = a.mixed_precision
    assert res.passed and mp.met and a.gate.passed and a.validation.cosine >= 0.99
    assert mp.variant == "mixed" and mp.mode == "int16" and 0 < len(mp.kept)  # rpi allows int16x8
    assert not mp.curve[0].passed and mp.curve[0].layers_kept == 0  # full int8 was built first and failed
    assert a.precision == "int8-mixed" and a.bytes <= 0.6 * fp32.manifest.artifacts[0].bytes


def test_the_example_cnn_stays_fully_int8_under_auto(example, tmp_path):
    res = kw.convert(example.model, target="rpi", output_dir=tmp_path, calibration=example.train,
                     eval_data=example.test, mixed_precision="auto", layer_report=True)
    a = res.manifest.artifacts[0]
    assert res.passed and a.precision == "int8" and a.mixed_precision is None  # met: no search
    assert a.layer_report.samples == 20 and a.layer_report.most_sensitive
