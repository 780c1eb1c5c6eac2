"""The console entry point as users run it: exit codes, messages, and nothing half-written on errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import run_cli
from edgekit.cli import main


def cli(capsys, *args):
    """Run edgekit's real main() in-process; returns (exit code, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def test_help_does_not_import_tensorflow():
    code = (
        "import sys\n"
        "from edgekit.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'onnxruntime', 'ai_edge_litert', 'onnx', 'numpy',\n"
        "                     'edgekit.manifest') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "main(['convert', '--help'])\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "--calibration" in r.stdout and "--target" in r.stdout


def test_console_script_literal_command(example, tmp_path):
    """`edgekit convert model.h5 --target rpi`, literally, in a folder holding model.h5."""
    from edgekit.models import load_model

    load_model(example.model).keras_model.save(tmp_path / "model.h5")
    exe = __import__("pathlib").Path(sys.executable).with_name("edgekit")
    r = subprocess.run([str(exe), "convert", "model.h5", "--target", "rpi"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "model-rpi-dynamic.tflite").is_file()
    assert "dynamic-range" in r.stdout + r.stderr and "--calibration" in r.stdout + r.stderr
    assert "model-rpi-dynamic.tflite" in r.stdout


def test_json_prints_the_manifest(example, tmp_path, capsys):
    code, out, err = cli(capsys, "convert", example.model, "--target", "rpi", "--calibration", example.train,
                         "--eval-data", example.test, "-o", tmp_path, "--json")
    assert code == 0, err
    m = json.loads(out)
    assert m["artifacts"][0]["precision"] == "int8" and m == json.loads((tmp_path / "manifest.json").read_text())


def test_targets_lists_profiles(capsys):
    code, out, _ = cli(capsys, "targets", "--json")
    assert code == 0
    names = {p["name"] for p in json.loads(out)}
    assert {"rpi", "rpi5", "android-gpu", "coral-edgetpu", "cpu-fp32"} <= names


def _bad_inputs(example, tmp):
    corrupt = tmp / "corrupt.keras"
    corrupt.write_bytes(example.model.read_bytes()[:300])
    unknown = tmp / "model.xyz"
    unknown.write_bytes(b"\x00\x01\x02\x03\x04\x05\x06\x07")
    wrong = tmp / "wrong.npz"
    np.savez(wrong, x=np.zeros((10, 28, 28, 1), np.float32))
    nan = tmp / "nan.npz"
    x = np.load(example.train)["x"][:20].copy()
    x[3, 0, 0, 0] = np.nan
    np.savez(nan, x=x)
    empty = tmp / "empty"
    empty.mkdir()
    m = example.model
    return [
        ([corrupt, "--target", "rpi"], "cannot load this Keras model"),
        ([unknown, "--target", "rpi"], "unknown model format"),
        ([tmp / "missing.keras", "--target", "rpi"], "no such file"),
        ([m, "--target", "raspberry"], "unknown target 'raspberry'"),
        ([m, "--target", "rpi", "--calibration", wrong], "samples have shape (28, 28, 1)"),
        ([m, "--target", "rpi", "--calibration", nan], "contain NaN or Inf (first at index 3)"),
        ([m, "--target", "rpi", "--calibration", empty], "no images found"),
        ([m, "--target", "coral-edgetpu"], "needs calibration data"),
        ([m, "--target", "rpi", "--eval-data", wrong], "samples have shape (28, 28, 1)"),
        ([m, "--target", "rpi", "--normalize", "mean-std"], "needs both --mean and --std"),
        ([m, "--target", "android-gpu", "--precision", "int8"], "not allowed by target 'android-gpu'"),
    ]


def test_bad_inputs_exit_2_with_one_message_and_no_output(example, tmp_path, capsys):
    for i, (args, message) in enumerate(_bad_inputs(example, tmp_path)):
        out_dir = tmp_path / f"out{i}"
        code, out, err = cli(capsys, "convert", *args, "-o", out_dir)
        assert code == 2, (args, err)
        flat = " ".join(err.split())
        assert message in flat, (message, err)
        assert flat.startswith("error:") and "Traceback" not in err
        assert not out_dir.exists() or not any(out_dir.iterdir()), args


def test_bad_input_exit_code_from_a_real_process(tmp_path):
    bad = tmp_path / "m.h5"
    bad.write_bytes(b"this is not hdf5")
    r = run_cli("convert", bad, "--target", "rpi", "-o", tmp_path / "out")
    assert r.returncode == 2 and "corrupt or truncated" in r.stderr and not (tmp_path / "out").exists()


def test_usage_error_exit_2(capsys):
    code, _, err = cli(capsys, "convert", "x.keras")  # --target missing
    assert code == 2 and "--target" in err


def test_same_command_twice_identical_bytes_across_processes(example, tmp_path):
    for d in ("a", "b"):
        r = run_cli("convert", example.model, "--target", "rpi", "--calibration", example.train, "-o", tmp_path / d)
        assert r.returncode == 0, r.stderr
    a = (tmp_path / "a" / "digits_cnn-rpi-int8.tflite").read_bytes()
    assert a == (tmp_path / "b" / "digits_cnn-rpi-int8.tflite").read_bytes()


@pytest.mark.parametrize("target", ["rpi"])
def test_example_command(tmp_path, target, capsys):
    code, out, err = cli(capsys, "example", "--workdir", tmp_path, "--target", target, "--epochs", "3")
    assert code == 0, err
    assert "digits_cnn-rpi-int8.tflite" in out and "accuracy artifact" in out
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert m["validation"]["accuracy"]["artifact"] > 0.8


def test_error_messages_are_printed_as_written(example, tmp_path):
    """No rich markup or emoji codes in a message: `--state nope:x:` must not become an emoji."""
    r = run_cli("convert", example.model, "-t", "rpi", "--state", "nope:x", "-o", tmp_path / "o")
    assert r.returncode == 2 and r.stderr.startswith("error: --state nope:x: the model has no output 'nope'"), r.stderr
    assert not (tmp_path / "o").exists()
