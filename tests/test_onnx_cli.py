"""The ONNX flags of ``edgekit convert`` through the real console entry point (subprocesses)."""

import json
import re

import onnx_nets
import pytest
from conftest import run_cli
from onnx.external_data_helper import convert_model_to_external_data


def test_onnx_model_with_image_folder_and_flags(digits_onnx, example, tmp_path):
    images = onnx_nets.digit_images(example.train, tmp_path / "images", n=200)
    dyn = onnx_nets.save(onnx_nets.digits_graph(digits_onnx.weights, spatial=("H", "W")), tmp_path / "dyn.onnx")
    out = tmp_path / "out"
    r = run_cli("convert", dyn, "--target", "arm64-ort", "--calibration", images, "--eval-data", digits_onnx.test,
                "--input-shape", "image:1,1,8,8", "--calibration-method", "percentile", "--no-per-channel",
                "--asymmetric-activations", "--opset", "18", "-o", out, "--json")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    a = m["artifacts"][0]
    assert a["path"] == "dyn-arm64-ort-int8.onnx" and (out / a["path"]).is_file()
    assert a["opset"] == 18
    assert a["quantization"]["calibration_method"] == "percentile"
    assert a["quantization"]["weights"] == "int8 per-tensor"
    assert a["quantization"]["activations"] == "uint8 asymmetric"
    assert m["source"]["inputs"][0]["shape"] == [1, 1, 8, 8]
    assert a["validation"]["accuracy"]["drop"] <= 0.02
    again = run_cli("convert", dyn, "--target", "arm64-ort", "--calibration", images, "--eval-data", digits_onnx.test,
                    "--input-shape", "image:1,1,8,8", "--calibration-method", "percentile", "--no-per-channel",
                    "--asymmetric-activations", "--opset", "18", "-o", tmp_path / "again")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again" / a["path"]).read_bytes() == (out / a["path"]).read_bytes()  # another process, same bytes


def _bad_cases(digits_onnx, tmp_path):
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(digits_onnx.model.read_bytes()[:300])
    dyn = onnx_nets.save(onnx_nets.digits_graph(digits_onnx.weights, spatial=("H", "W")), tmp_path / "dyn.onnx")
    tanh = onnx_nets.save(onnx_nets.digits_graph(digits_onnx.weights, hidden_op="Tanh"), tmp_path / "tanh.onnx")
    strict = tmp_path / "strict.toml"
    strict.write_text(
        'name = "strict-ort"\ndescription = "int8 only"\nruntime = "onnxruntime"\nformats = ["onnx"]\n'
        'precision = "int8"\nallowed_precisions = ["int8"]\nfull_integer_required = true\n'
        "weight_only_fallback = false\n"
    )
    (tmp_path / "sub").mkdir()
    model = onnx_nets.digits_graph(digits_onnx.weights)
    convert_model_to_external_data(model, all_tensors_to_one_file=True, location="../stolen.bin", size_threshold=0)
    (tmp_path / "stolen.bin").write_bytes(b"\0" * 200_000)
    escape = onnx_nets.save(model, tmp_path / "sub" / "escape.onnx")
    cal = ["--calibration", str(digits_onnx.train)]
    good = str(digits_onnx.model)
    return {
        "corrupt": ([str(corrupt), "-t", "x86-ort", *cal], r"not a (readable|valid) ONNX"),
        "dynamic": ([str(dyn), "-t", "x86-ort", *cal], r"dynamic dimensions .*--input-shape image:"),
        "bad-shape": ([good, "-t", "x86-ort", "--input-shape", "1,1,8", *cal], "has rank 4"),
        "opset": ([good, "-t", "x86-ort", "--opset", "99", *cal], r"--opset 99 is not supported"),
        "method": ([good, "-t", "x86-ort", "--calibration-method", "mse", *cal], "--calibration-method 'mse'"),
        "to-tflite": ([good, "-t", "rpi", *cal], "cannot be converted to TFLite"),
        "float-ops": ([str(tanh), "-t", str(strict), *cal], "requires a full-integer model.*Tanh"),
        "escape": ([str(escape), "-t", "x86-ort", *cal], "outside the model's folder"),
    }


CASES = ["corrupt", "dynamic", "bad-shape", "opset", "method", "to-tflite", "float-ops", "escape"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_exits_2_and_writes_nothing(digits_onnx, tmp_path, case):
    args, message = _bad_cases(digits_onnx, tmp_path)[case]
    out = tmp_path / "out"
    r = run_cli("convert", *args, "-o", out)
    assert r.returncode == 2, (r.stdout, r.stderr)
    text = " ".join(r.stderr.split())
    assert "error:" in text and re.search(message, text), text
    assert "Traceback" not in r.stderr
    assert not out.exists() or not any(out.iterdir())


def test_input_shape_must_fit_a_keras_models_fixed_dimensions(example, tmp_path):
    """--input-shape also fixes a Keras model's dynamic dimensions; it may not change the fixed ones."""
    r = run_cli("convert", example.model, "-t", "x86-ort", "--input-shape", "1,9,8,1", "-o", tmp_path / "o")
    msg = " ".join(r.stderr.split())
    assert r.returncode == 2 and "--input-shape 1,9,8,1 does not fit input 'image' of shape (?,8,8,1)" in msg, msg
    assert not (tmp_path / "o").exists()


def test_help_lists_the_onnx_flags():
    r = run_cli("convert", "--help")
    assert r.returncode == 0
    for flag in ("--calibration-method", "--opset", "--input-shape", "--per-channel", "--symmetric-activations",
                 "--reduce-range"):
        assert flag in r.stdout
