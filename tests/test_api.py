"""edgekit.api.convert on the real example CNN, real converter, real LiteRT."""

import json

import numpy as np
import pytest

from kw import convert
from edgekit.errors import CalibrationError, ConfigError, TargetConstraintError
from edgekit.hashing import sha256_file
from edgekit.runtimes.litert import LiteRTRunner


def _tensor_dtypes(path):
    with LiteRTRunner(path, default_delegates=False) as r:
        return {np.dtype(t["dtype"]).name for t in r.tensor_details()}


def test_example_fp32_and_int8_for_rpi(example, tmp_path):
    out = tmp_path / "out"
    fp32 = convert(example.model, target="rpi", precision="fp32", output_dir=out,
                   calibration=example.train, eval_data=example.test)
    int8 = convert(example.model, target="rpi", output_dir=out, calibration=example.train, eval_data=example.test)
    m = int8.manifest.to_json()
    art = m["artifacts"][0]
    assert art["path"] == "digits_cnn-rpi-int8.tflite" and art["precision"] == "int8" and art["io_dtype"] == "int8"
    assert (out / art["path"]).is_file() and sha256_file(out / art["path"]) == art["sha256"]
    assert art["bytes"] == (out / art["path"]).stat().st_size
    acc = m["validation"]["accuracy"]
    assert acc["source"] == pytest.approx(example.keras_accuracy, abs=1e-6)
    assert acc["source"] > 0.9
    assert acc["source"] - acc["artifact"] <= 0.02  # int8 within 2 points of the Keras model
    assert m["validation"]["top1_agreement"] >= 0.97 and m["validation"]["cosine"] > 0.99
    assert art["float_ops"] == []
    f = fp32.manifest.to_json()["validation"]
    assert f["top1_agreement"] == 1.0 and f["max_abs_error"] < 1e-4
    # int8 IO really is int8 in the artifact; weights are ~4x smaller than fp32
    with LiteRTRunner(out / art["path"]) as r:
        assert r.inputs[0].dtype == "int8" and r.outputs[0].dtype == "int8" and r.inputs[0].scale > 0
    assert art["bytes"] < 0.4 * fp32.manifest.to_json()["artifacts"][0]["bytes"]
    # manifest on disk is the returned one, with the required fields
    disk = json.loads((out / "manifest.json").read_text())
    assert disk == m
    for key in ("edgekit_version", "source", "target", "artifacts", "calibration", "validation", "tool_versions"):
        assert key in disk
    assert disk["source"]["format"] == "keras" and disk["source"]["sha256"] == sha256_file(example.model)
    assert disk["calibration"]["samples"] == 200 and len(disk["calibration"]["sha256"]) == 64
    assert disk["validation_data"]["kind"] == "eval-data" and disk["tool_versions"]["tensorflow"]


def test_android_gpu_emits_fp16_weights(example, tmp_path):
    r = convert(example.model, target="android-gpu", output_dir=tmp_path, eval_data=example.test)
    art = r.manifest.to_json()["artifacts"][0]
    assert art["precision"] == "fp16" and art["io_dtype"] == "float32"
    assert "float16" in _tensor_dtypes(tmp_path / art["path"])
    assert r.manifest.to_json()["validation"]["top1_agreement"] >= 0.99


def test_coral_emits_uint8_io_and_is_full_integer(example, tmp_path):
    r = convert(example.model, target="coral-edgetpu", output_dir=tmp_path,
                calibration=example.train, eval_data=example.test)
    art = r.manifest.to_json()["artifacts"][0]
    with LiteRTRunner(tmp_path / art["path"]) as rt:
        assert rt.inputs[0].dtype == "uint8" and rt.outputs[0].dtype == "uint8"
        assert rt.inputs[0].shape == (1, 8, 8, 1)  # static shapes
    assert art["float_ops"] == []
    acc = r.manifest.to_json()["validation"]["accuracy"]
    assert acc["source"] - acc["artifact"] <= 0.02


def test_savedmodel_input(example, tmp_path):
    from edgekit.models import load_model

    sm = tmp_path / "sm"
    load_model(example.model).keras_model.export(str(sm), verbose=False)
    r = convert(sm, target="android-gpu", output_dir=tmp_path / "out", eval_data=example.test)
    assert r.manifest.to_json()["source"]["format"] == "savedmodel"
    assert r.artifact_paths[0].name == "sm-android-gpu-fp16.tflite"
    assert r.manifest.to_json()["validation"]["accuracy"]["artifact"] > 0.9


def test_no_calibration_falls_back_to_dynamic_and_says_so(example, tmp_path):
    r = convert(example.model, target="rpi", output_dir=tmp_path)
    p = r.manifest.to_json()["precision"]
    assert p["used"] == "dynamic" and p["profile_default"] == "int8"
    assert "--calibration" in p["fallback"] and any("dynamic-range" in w for w in r.warnings)
    assert r.manifest.to_json()["calibration"] is None
    assert r.manifest.to_json()["validation_data"]["kind"].startswith("random")


def test_random_calibration_is_loudly_labelled(example, tmp_path):
    r = convert(example.model, target="rpi", output_dir=tmp_path, calibration="random", eval_data=example.test)
    assert r.manifest.to_json()["calibration"]["random"] is True and r.manifest.to_json()["calibration"]["kind"] == "random"
    assert any("RANDOM NOISE" in w for w in r.manifest.to_json()["warnings"])


def test_holdout_is_used_without_eval_data(example, tmp_path):
    r = convert(example.model, target="rpi", output_dir=tmp_path, calibration=example.train)
    vd = r.manifest.to_json()["validation_data"]
    assert vd["kind"].startswith("calibration hold-out") and vd["labels"]
    assert vd["samples"] == len(np.load(example.train)["x"]) // 5


def test_same_inputs_give_identical_bytes(example, tmp_path):
    a = convert(example.model, target="rpi", output_dir=tmp_path / "a", calibration=example.train)
    b = convert(example.model, target="rpi", output_dir=tmp_path / "b", calibration=example.train)
    assert a.artifact_paths[0].read_bytes() == b.artifact_paths[0].read_bytes()
    c = convert(example.model, target="rpi", output_dir=tmp_path / "c", calibration=example.train, seed=1)
    assert c.manifest.to_json()["calibration"]["sha256"] != a.manifest.to_json()["calibration"]["sha256"]


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"target": "coral-edgetpu"}, CalibrationError, r"needs a full-integer model.*--calibration"),
        ({"target": "android-gpu", "precision": "int8"}, ConfigError, r"--precision int8 is not allowed by target 'android-gpu'"),
        ({"target": "rpi", "precision": "int8"}, CalibrationError, r"--precision int8 needs calibration data"),
        ({"target": "rpi", "precision": "int4"}, ConfigError, r"--precision 'int4' is unknown"),
        ({"target": "rpi", "formats": ["coreml"]}, ConfigError, r"unknown artifact format 'coreml'"),
    ],
)
def test_bad_requests_write_nothing(example, tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        convert(example.model, output_dir=tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_ops_without_tflite_kernels_are_listed(tmp_path):
    from pathlib import Path

    from edgekit._lazy import keras
    from edgekit.errors import ConversionError
    from edgekit.models.keras import wrap

    k = keras()
    inp = k.Input((8,))
    x = k.layers.Dense(8)(inp)
    x = k.layers.Lambda(k.ops.arctan)(x)
    model = wrap(k.Model(inp, k.layers.Dense(3)(x)), path=Path("atan.keras"), sha256="0" * 64)
    for precision in ("fp32", "dynamic"):
        with pytest.raises(ConversionError, match=r"no TFLite builtin kernel: Atan"):
            convert("atan.keras", model=model, target="rpi", precision=precision, output_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_float_ops_left_in_int8_are_listed_or_refused(tmp_path):
    from pathlib import Path

    from edgekit._lazy import keras
    from edgekit.models.keras import wrap

    k = keras()
    inp = k.Input((8,))
    x = k.layers.Dense(8)(inp)
    x = k.layers.Lambda(lambda t: k.ops.cumsum(t, axis=-1))(x)  # CUMSUM has no int8 kernel: stays float
    model = wrap(k.Model(inp, k.layers.Dense(3)(x)), path=Path("cs.keras"), sha256="0" * 64)
    calib = tmp_path / "c.npz"
    np.savez(calib, x=np.random.default_rng(0).random((32, 8)).astype(np.float32))
    r = convert("cs.keras", model=model, target="rpi", calibration=calib, output_dir=tmp_path / "rpi")
    assert r.manifest.to_json()["artifacts"][0]["float_ops"] == ["CUMSUM"]
    assert any("CUMSUM" in w for w in r.warnings)
    with pytest.raises(TargetConstraintError, match=r"requires a full-integer model.*CUMSUM"):
        convert("cs.keras", model=model, target="coral-edgetpu", calibration=calib, output_dir=tmp_path / "coral")
    assert not (tmp_path / "coral").exists()


def test_user_profile_memory_budget_is_checked(example, tmp_path):
    prof = tmp_path / "tiny.toml"
    prof.write_text(
        'name = "tiny-mcu"\ndescription = "a board with 16 KiB for the model"\nruntime = "litert"\n'
        'precision = "fp16"\nallowed_precisions = ["fp16"]\nmemory_budget_mb = 0.015625\n'
    )
    r = convert(example.model, target=prof, output_dir=tmp_path / "out", eval_data=example.test)
    assert r.artifact_paths[0].name == "digits_cnn-tiny-mcu-fp16.tflite"
    assert r.manifest.to_json()["target"]["profile"] == str(prof)
    assert any("exceeds target 'tiny-mcu'" in w and "memory budget" in w for w in r.warnings)
