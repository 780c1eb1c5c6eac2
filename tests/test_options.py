"""ConvertOptions: one frozen model, partial updates (variants), messages that name the flag."""

import pytest

from edgekit.engine.precision import resolve_precision
from edgekit.errors import CalibrationError, ConfigError
from edgekit.options import ConvertOptions, deep_merge
from edgekit.targets import Precision, load_target


def test_updated_applies_a_partial_nested_update_and_validates_it():
    base = ConvertOptions(calibration="c.npz", onnx={"opset": 17, "per_channel": False})
    v = base.updated({"precision": "int8", "formats": ["onnx"], "onnx": {"calibration_method": "entropy"}})
    assert v.precision is Precision.INT8 and v.formats == ("onnx",) and v.calibration == "c.npz"
    assert v.onnx.opset == 17 and v.onnx.per_channel is False and v.onnx.calibration_method == "entropy"
    assert base.precision is None  # frozen: the base is untouched
    with pytest.raises(ConfigError, match=r"--calibration-method 'kl' is unknown"):
        base.updated({"onnx": {"calibration_method": "kl"}})
    with pytest.raises(ConfigError, match=r"unknown artifact format 'coreml'; choose from tflite, onnx"):
        base.updated({"formats": ["coreml"]})
    with pytest.raises(ConfigError, match=r"--calibration-samples: Input should be greater than or equal to 1"):
        ConvertOptions.make(calibration_samples=0)


def test_deep_merge_replaces_leaves_and_merges_tables():
    assert deep_merge({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"b": 3}, "d": [2]}) == {"a": {"b": 3, "c": 2}, "d": [2]}


def test_the_dump_is_stable_json_for_cache_keys():
    a = ConvertOptions.make(formats=["onnx", "onnx"], calibration="x.npz").model_dump(mode="json")
    b = ConvertOptions(calibration="x.npz", formats=("onnx",)).model_dump(mode="json")
    assert a == b and a["formats"] == ["onnx"]


def test_resolve_precision_rules():
    rpi, coral, gpu = load_target("rpi"), load_target("coral-edgetpu"), load_target("android-gpu")
    assert resolve_precision(rpi, None, True) == (Precision.INT8, None)
    p, why = resolve_precision(rpi, None, False)
    assert p is Precision.DYNAMIC and "no calibration data" in why
    with pytest.raises(CalibrationError, match="needs a full-integer model"):
        resolve_precision(coral, None, False)
    with pytest.raises(ConfigError, match="not allowed by target 'android-gpu'"):
        resolve_precision(gpu, "int8", True)
    with pytest.raises(CalibrationError, match="--precision int16x8 needs calibration data"):
        resolve_precision(rpi, "int16x8", False)
    assert resolve_precision(gpu, None, False) == (Precision.FP16, None)
