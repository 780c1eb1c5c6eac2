import pytest

from edgekit.errors import ConfigError
from edgekit.targets import Precision, all_targets, builtin_names, load_target


def test_every_shipped_profile_loads_and_validates():
    names = builtin_names()
    assert {"rpi", "rpi5", "android-gpu", "coral-edgetpu", "cpu-fp32"} <= set(names)
    for p in all_targets():
        assert p.description and p.precision in p.allowed_precisions


def test_profile_contents():
    rpi = load_target("rpi")
    assert (rpi.runtime, rpi.precision, rpi.io_dtype, rpi.default_threads) == ("litert", Precision.INT8, "int8", 4)
    coral = load_target("coral-edgetpu")
    assert coral.full_integer_required and coral.io_dtype == "uint8" and coral.static_shapes
    assert coral.allowed_precisions == (Precision.INT8,)
    gpu = load_target("android-gpu")
    assert gpu.precision == Precision.FP16 and gpu.io_dtype == "float32" and gpu.delegate == "gpu"
    assert load_target("cpu-fp32").precision == Precision.FP32


def test_profiles_are_frozen():
    with pytest.raises(Exception):
        load_target("rpi").default_threads = 8


def test_unknown_target_names_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown target 'nope'.*rpi.*edgekit targets"):
        load_target("nope")


def test_user_profile_by_path(tmp_path):
    p = tmp_path / "mine.toml"
    p.write_text(
        'name = "mine"\ndescription = "d"\nruntime = "litert"\nprecision = "fp16"\n'
        'allowed_precisions = ["fp16", "fp32"]\ndefault_threads = 2\n'
    )
    prof = load_target(p)
    assert prof.name == "mine" and prof.default_threads == 2 and prof.source == str(p)
    y = tmp_path / "mine.yaml"
    y.write_text("name: y\ndescription: d\nruntime: litert\nprecision: fp32\nallowed_precisions: [fp32]\n")
    assert load_target(y).precision == Precision.FP32


@pytest.mark.parametrize(
    "body, message",
    [
        ('precision = "int8"\nallowed_precisions = ["fp32"]', r"precision: 'int8' is not in allowed_precisions"),
        (
            'precision = "int8"\nallowed_precisions = ["int8", "fp32"]\nfull_integer_required = true\nweight_only_fallback = false',
            r"allowed_precisions: \['fp32'\] are not full-integer",
        ),
        ('precision = "fp32"\nallowed_precisions = ["fp32"]\nio_dtype = "uint8"', r"io_dtype: 'uint8' needs a full-integer"),
        ('precision = "fp32"\nallowed_precisions = ["fp32"]\ndefault_threads = 0', r"default_threads"),
        ('precision = "fp32"\nallowed_precisions = ["fp32"]\ncolour = "red"', r"colour: Extra inputs"),
    ],
)
def test_invalid_profile_names_the_field(tmp_path, body, message):
    p = tmp_path / "bad.toml"
    p.write_text(f'name = "bad"\ndescription = "d"\nruntime = "litert"\n{body}\n')
    with pytest.raises(ConfigError, match=message):
        load_target(p)


def test_not_toml(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("name = = x")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_target(p)
    with pytest.raises(ConfigError, match="does not exist"):
        load_target(tmp_path / "missing.toml")
