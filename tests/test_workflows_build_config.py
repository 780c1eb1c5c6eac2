"""The build config: validation with field-named errors, path resolution, overrides, the matrix, cache keys."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from edgekit.workflows.build.cache import Hasher, cell_key, key_inputs
from edgekit.workflows.build.config import expand, load_config
from edgekit.workflows.build.index import owner_shard, parse_shard, shard_of
from edgekit.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ci"


@pytest.fixture
def workdir(tmp_path):
    """A copy of the CI example's models and data, with a config we can rewrite."""
    for sub in ("models", "data"):
        shutil.copytree(EXAMPLE / sub, tmp_path / sub)
    return tmp_path


def write(folder: Path, cfg: dict, name: str = "edgekit.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(cfg))
    return path


def base_config() -> dict:
    return {
        "targets": ["rpi", "android-gpu"],
        "models": {
            "cnn": {"path": "models/digits_cnn.keras", "calibration": "data/calibration.npz", "eval_data": "data/test.npz"},
            "mlp": {"path": "models/digits_mlp.keras", "calibration": "data/calibration.npz"},
        },
        "thresholds": {"max_accuracy_drop": 0.02, "min_cosine": 0.99},
    }


def test_example_config_expands_to_four_cells_with_resolved_paths_and_overrides():
    cfg, profiles = load_config(EXAMPLE / "edgekit.yaml")
    cells = expand(cfg, profiles)
    assert [c.id for c in cells] == ["digits_cnn--android-gpu", "digits_cnn--rpi", "digits_mlp--android-gpu", "digits_mlp--rpi"]
    cnn, mlp = cells[1], cells[3]
    assert Path(cnn.spec.path) == EXAMPLE / "models" / "digits_cnn.keras"  # relative to the config file
    assert cnn.spec.labels == tuple(f"digit {i}" for i in range(10))
    assert (cnn.options.calibration_samples, mlp.options.calibration_samples) == (200, 100)  # defaults < model
    assert cnn.thresholds.min_cosine == 0.99 and mlp.thresholds.min_cosine == 0.995  # per-model threshold override
    assert mlp.thresholds.max_accuracy_drop == cnn.thresholds.max_accuracy_drop == 0.02
    assert cnn.profile.name == "rpi" and cnn.options.precision is None  # the profile's default precision


def test_config_loads_from_any_working_directory(workdir, monkeypatch):
    path = write(workdir, base_config())
    monkeypatch.chdir("/")
    cfg, _ = load_config(path)
    assert Path(cfg.models["cnn"].path) == workdir / "models" / "digits_cnn.keras"


def test_toml_config_is_equivalent(workdir):
    (workdir / "edgekit.toml").write_text(
        'targets = ["rpi"]\n[models.cnn]\npath = "models/digits_cnn.keras"\ncalibration = "data/calibration.npz"\n'
        "[thresholds]\nmax_accuracy_drop = 0.05\n"
    )
    cfg, profiles = load_config(workdir / "edgekit.toml")
    [cell] = expand(cfg, profiles)
    assert cell.id == "cnn--rpi" and cell.thresholds.active() == {"max_accuracy_drop": 0.05}


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c["models"]["cnn"].update(calibraton="x.npz"), "models.cnn.calibraton: Extra inputs are not permitted"),
        (lambda c: c["models"]["cnn"].update(path="models/nope.keras"), "models.cnn.path: models/nope.keras does not exist"),
        (lambda c: c["thresholds"].update(max_accuracy_drop=2), "thresholds.max_accuracy_drop: Input should be less than or equal to 1"),
        (lambda c: c["models"]["cnn"].update(calibration_samples=0), "models.cnn.calibration_samples: Input should be greater than or equal to 1"),
        (lambda c: c["models"]["cnn"].update(precision="int4"), "models.cnn.precision: Input should be 'fp32'"),
        (lambda c: c.update(targets=[]), "targets: Tuple should have at least 1 item"),
        (lambda c: c["models"].update({"bad name": c["models"]["cnn"]}), "models.bad name.[key]: String should match pattern"),
        (lambda c: c["models"]["cnn"].update(targets=["rpi5"]), "models.cnn.targets: unknown target 'rpi5'; known: android-gpu, rpi"),
        (lambda c: c.update(targets=["rpi", "nowhere"]), "targets.1: unknown target 'nowhere'"),
        (lambda c: c.update(targets=["rpi", "rpi"]), "targets.1: target 'rpi' is listed twice"),
        (lambda c: c.update(variants={"i16": {"precision": "int16x8"}}),
         "variants.i16.precision: 'int16x8' is not allowed by target 'android-gpu' (cell cnn--android-gpu--i16"),
    ],
)
def test_config_errors_name_the_field(workdir, mutate, message):
    cfg = base_config()
    mutate(cfg)
    with pytest.raises(ConfigError) as exc:
        cfg_, profiles = load_config(write(workdir, cfg))
        expand(cfg_, profiles)
    assert message in str(exc.value)


def test_unparsable_and_missing_config_files(tmp_path):
    (tmp_path / "bad.yaml").write_text("models: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "cfg.json").write_text("{}")
    with pytest.raises(ConfigError, match="expected a .yaml, .yml or .toml"):
        load_config(tmp_path / "cfg.json")


def test_variants_add_a_third_axis_restricted_by_targets(workdir):
    cfg = base_config()
    cfg["variants"] = {"int8": {}, "i16": {"precision": "int16x8", "targets": ["rpi"], "thresholds": {"min_cosine": 0.9}}}
    cfg["models"]["mlp"]["variants"] = ["int8"]
    c, profiles = load_config(write(workdir, cfg))
    cells = {x.id: x for x in expand(c, profiles)}
    assert sorted(cells) == [
        "cnn--android-gpu--int8", "cnn--rpi--i16", "cnn--rpi--int8", "mlp--android-gpu--int8", "mlp--rpi--int8",
    ]
    assert cells["cnn--rpi--i16"].options.precision.value == "int16x8"
    assert cells["cnn--rpi--i16"].thresholds.active() == {"max_accuracy_drop": 0.02, "min_cosine": 0.9}


def test_shards_partition_the_matrix_deterministically():
    ids = [f"m{i}--t" for i in range(7)]
    parts = [shard_of(list(reversed(ids)), (k, 3)) for k in (1, 2, 3)]
    assert sorted(sum(parts, [])) == sorted(ids)  # every cell exactly once
    assert [len(p) for p in parts] == [3, 2, 2]
    assert parts == [shard_of(ids, (k, 3)) for k in (1, 2, 3)]  # independent of input order
    assert all(owner_shard(c, ids, 3) == k for k in (1, 2, 3) for c in parts[k - 1])
    assert parse_shard("2/4") == (2, 4)
    for bad in ("0/2", "3/2", "2", "a/b"):
        with pytest.raises(ConfigError, match="expected K/N"):
            parse_shard(bad)


def test_cache_key_covers_input_bytes_profile_and_options(workdir):
    path = write(workdir, base_config())

    def keys():
        c, p = load_config(path)
        return {x.id: cell_key(key_inputs(x, Hasher())) for x in expand(c, p)}

    k0 = keys()
    assert keys() == k0 and len(set(k0.values())) == 4
    # different calibration bytes for the MLP only
    shutil.copy(workdir / "data" / "calibration.npz", workdir / "data" / "mlp_calib.npz")
    cfg = base_config()
    cfg["models"]["mlp"]["calibration"] = "data/mlp_calib.npz"
    write(workdir, cfg)
    assert keys() == k0  # same bytes under another name: same key
    (workdir / "data" / "test.npz").write_bytes((workdir / "data" / "test.npz").read_bytes() + b"\0")
    k1 = keys()
    assert [c for c in k0 if k0[c] != k1[c]] == ["cnn--android-gpu", "cnn--rpi"]  # only the model using test.npz
    cfg["models"]["mlp"]["calibration_samples"] = 50
    write(workdir, cfg)
    k2 = keys()
    assert [c for c in k1 if k1[c] != k2[c]] == ["mlp--android-gpu", "mlp--rpi"]
    # a user profile file: its content is in the key, not its name
    prof = workdir / "board.toml"
    prof.write_text((Path(__file__).resolve().parents[1] / "targets" / "rpi.toml").read_text().replace('name = "rpi"', 'name = "board"'))
    cfg["targets"] = ["board.toml"]
    write(workdir, cfg)
    k3 = keys()
    prof.write_text(prof.read_text().replace("default_threads = 4", "default_threads = 2"))
    k4 = keys()
    assert set(k3) == {"cnn--board", "mlp--board"} and all(k3[c] != k4[c] for c in k3)


def test_model_io_options_reach_the_cells(workdir):
    cfg = base_config()
    (workdir / "data" / "h0.npz").write_bytes(b"")  # resolved, not read, by the config
    cfg["models"]["cnn"].update({"input_value": {"sr": 16000}, "state": ["new_state:state"],
                                 "state_init": "data/h0.npz", "signature": "serving_default"})
    cells = expand(*load_config(write(workdir, cfg)))
    cnn = next(c for c in cells if c.id == "cnn--rpi")
    o = cnn.options
    assert o.input_value == {"sr": 16000.0} and o.state == (("new_state", "state"),) and o.signature == "serving_default"
    assert o.state_init == str((workdir / "data" / "h0.npz").resolve())
