"""Cache keys: the hash of the resolved ConvertOptions (data paths as content hashes), the profile, the tool
versions and edgekit's own source — equal inputs, equal keys; any covered change, another key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from edgekit.workflows.build import cache
from edgekit.workflows.build.config import expand, load_config

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ci"


@pytest.fixture(scope="module")
def cell():
    cfg, profiles = load_config(EXAMPLE / "edgekit.yaml")
    return expand(cfg, profiles)[1]  # digits_cnn--rpi


def _key(c):
    return cache.cell_key(cache.key_inputs(c, cache.Hasher()))


def test_same_inputs_same_key_and_paths_enter_as_content_hashes(cell):
    inputs = cache.key_inputs(cell, cache.Hasher())
    assert _key(cell) == _key(cell) and len(_key(cell)) == 64
    assert inputs["options"]["calibration"] == cache.sha256_path(Path(cell.options.calibration))
    assert str(EXAMPLE) not in str(inputs)  # no absolute path: the same build keys alike on every machine
    assert inputs["edgekit_source"] == cache.edgekit_source_hash() and len(inputs["edgekit_source"]) == 64


@pytest.mark.parametrize("update", [
    {"precision": "fp16"}, {"calibration_samples": 7}, {"onnx": {"opset": 18}}, {"budget": {"min_cosine": 0.5}},
    {"mixed_precision": "auto"}, {"seed": 3},
])
def test_every_option_is_covered(cell, update):
    other = dataclasses.replace(cell, options=cell.options.updated(update))
    assert _key(other) != _key(cell)


def test_the_profile_is_covered(cell):
    other = dataclasses.replace(cell, profile=cell.profile.model_copy(update={"default_threads": 1}))
    assert _key(other) != _key(cell)
