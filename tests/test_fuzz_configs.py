"""Property-based fuzzing of the config parsers: target profiles and build configs (YAML and TOML), mutated
from valid files and generated as random structures. Only success or an EdgekitError, never another
exception, and nothing written. Bounded and derandomized: the same cases on every run."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzz_targets as ft
from edgekit.workflows.build.config import expand, load_config
from edgekit.targets import load_target

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

FIELDS = ["name", "description", "runtime", "delegate", "formats", "precision", "allowed_precisions", "io_dtype",
          "full_integer_required", "weight_only_fallback", "default_threads", "memory_budget_mb", "onnx", "source", 1]
VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=8),
              st.sampled_from(["int8", "fp32", "litert", "onnxruntime", "tflite", "onnx", "rpi", "m.keras", "random"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(FIELDS[:-1] + ["x"]), inner, max_size=3)),
    max_leaves=8,
)


def _file(tmp_path: Path, suffix: str, data: bytes | str) -> Path:
    d = Path(tempfile.mkdtemp(dir=tmp_path))
    p = d / f"in{suffix}"
    p.write_bytes(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    return p


def _load_profile(p: Path) -> str:
    return ft.outcome(load_target, p, watch=p.parent)


@FUZZ
@given(text=st.one_of(ft.mutated_text(ft.PROFILE_TOML), ft.mutated_text(ft.PROFILE_YAML).map(lambda t: "#yaml\n" + t)))
def test_fuzz_profile_text(tmp_path, text):
    suffix = ".yaml" if text.startswith("#yaml") else ".toml"
    _load_profile(_file(tmp_path, suffix, text))


@FUZZ
@given(data=st.one_of(ft.mutated(ft.PROFILE_TOML.encode()), ft.mutated(ft.PROFILE_YAML.encode())), yaml_=st.booleans())
def test_fuzz_profile_bytes(tmp_path, data, yaml_):
    _load_profile(_file(tmp_path, ".yaml" if yaml_ else ".toml", data))


@FUZZ
@given(fields=st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=10))
def test_fuzz_profile_structure(tmp_path, fields):
    _load_profile(_file(tmp_path, ".yaml", yaml.safe_dump(fields)))


def _load_config(p: Path) -> str:
    def run(path):
        cfg, profiles = load_config(path)
        expand(cfg, profiles)

    return ft.outcome(run, p, watch=p.parent)


@FUZZ
@given(text=st.one_of(ft.mutated_text(ft.CONFIG_YAML), ft.mutated_text(ft.CONFIG_TOML).map(lambda t: "#toml\n" + t)))
def test_fuzz_build_config_text(tmp_path, text):
    suffix = ".toml" if text.startswith("#toml") else ".yaml"
    p = _file(tmp_path, suffix, text)
    ft.config_folder(p.parent)
    _load_config(p)


@FUZZ
@given(data=ft.mutated(ft.CONFIG_YAML.encode(), max_ops=3))
def test_fuzz_build_config_bytes(tmp_path, data):
    p = _file(tmp_path, ".yaml", data)
    ft.config_folder(p.parent)
    _load_config(p)


@FUZZ
@given(models=st.dictionaries(st.text(max_size=6), st.one_of(VALUES, st.fixed_dictionaries(
    {"path": st.sampled_from(["m.keras", "labels.txt", "nope", "", "."])},
    optional={"labels": st.sampled_from(["labels.txt", ".", "data.npz", ["a"]]), "targets": VALUES,
              "variants": VALUES, "calibration": st.sampled_from(["random", "data.npz", "x"]),
              "precision": VALUES, "calibration_samples": VALUES, "image": VALUES})), max_size=3),
       rest=st.dictionaries(st.sampled_from(["targets", "variants", "defaults", "thresholds", "seed", "version", "x"]),
                            VALUES, max_size=4))
def test_fuzz_build_config_structure(tmp_path, models, rest):
    cfg = {"targets": ["rpi"], **rest, "models": models}
    p = _file(tmp_path, ".yaml", yaml.safe_dump(cfg))
    ft.config_folder(p.parent)
    _load_config(p)
