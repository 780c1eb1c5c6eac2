"""Magnitude pruning of the real example CNN, fine-tuned for real, checked in the artifact read back with LiteRT."""

import json

import numpy as np
import pytest

from kw import convert
from edgekit.errors import ConfigError
from edgekit.hashing import sha256_file
from edgekit.optimize import prune as P
from edgekit.options.optimize import OptimizeOptions
from edgekit.runtimes.litert import LiteRTRunner
from tests.conftest import run_cli

WEIGHT_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}


def artifact_kernels(path) -> dict[str, np.ndarray]:
    """Weight tensors of every Conv/FC op as stored in the .tflite, keyed by the Keras layer name in their name."""
    out = {}
    with LiteRTRunner(path, default_delegates=False) as r:
        names = {t["index"]: t["name"] for t in r.tensor_details()}
        for op in r.ops():
            if op["op_name"] in WEIGHT_OPS:
                idx = op["inputs"][1]
                layer = next(n for n in ("conv1", "conv2", "fc1", "probs") if f"/{n}" in names[idx])
                out[layer] = r.tensor(idx)
    return out


def test_magnitude_mask_zeroes_exactly_the_smallest():
    w = np.array([[0.5, -0.1], [0.05, -2.0], [0.3, 0.0]], dtype=np.float32)
    keep = P.magnitude_mask(w, 0.5)
    assert keep.sum() == 3 and not keep[2, 1] and not keep[1, 0] and not keep[0, 1]


def test_nm_mask_keeps_n_of_every_m_along_input_channels():
    w = np.random.default_rng(0).normal(size=(3, 3, 8, 5)).astype(np.float32)
    keep = P.nm_mask(w, 2, 4)
    blocks = np.moveaxis(keep, -2, -1).reshape(-1, 4)
    assert (blocks.sum(axis=1) == 2).all()
    kept_min = np.abs(np.moveaxis(w, -2, -1).reshape(-1, 4))[blocks].reshape(-1, 2).min(axis=1)
    dropped_max = np.abs(np.moveaxis(w, -2, -1).reshape(-1, 4))[~blocks].reshape(-1, 2).max(axis=1)
    assert (kept_min >= dropped_max).all()


def test_schedule_is_a_polynomial_ramp_to_the_target():
    vals = [P.schedule(s, 100, 0.5) for s in range(0, 120, 10)]
    assert vals[0] == 0.0 and vals[-1] == 0.5 and all(a <= b for a, b in zip(vals, vals[1:]))
    assert P.schedule(50, 100, 0.5) == pytest.approx(0.5 * (1 - 0.5**3))


def test_prune_50_percent_keeps_accuracy_and_the_artifact_is_sparse(example, tmp_path):
    opts = OptimizeOptions.from_flags(prune="0.5", train_data=example.train, epochs=2)
    r = convert(example.model, target="rpi", output_dir=tmp_path / "a", calibration=example.train,
                eval_data=example.test, optimize=opts, seed=0)
    m = r.manifest.to_json()
    art = m["artifacts"][0]
    assert art["precision"] == "int8" and art["float_ops"] == []
    kernels = artifact_kernels(r.artifact_paths[0])
    assert set(kernels) == {"conv1", "conv2", "fc1", "probs"}
    for name, w in kernels.items():
        assert (w == 0).mean() >= 0.49, (name, (w == 0).mean())
    acc = m["validation"]["accuracy"]
    assert example.keras_accuracy - acc["artifact"] <= 0.03  # within 3 points of the unpruned Keras model
    opt = m["optimization"]
    assert opt["accuracy"]["original"] == pytest.approx(example.keras_accuracy, abs=1e-6)
    assert [row["layer"] for row in opt["pruning"]["layers"]] == ["conv1", "conv2", "fc1", "probs"]
    assert all(row["sparsity"] == pytest.approx(0.5, abs=0.01) for row in opt["pruning"]["layers"])
    rep = opt["artifacts"][0]
    assert rep["path"] == art["path"] and rep["bytes"] == art["bytes"] and rep["gzip_bytes"] < rep["bytes"]
    assert all(k["mask_preserved"] and k["sparsity"] >= 0.49 for k in rep["kernels"])
    assert any("not smaller on disk or faster" in n for n in opt["notes"])
    assert [p["phase"] for p in opt["phases"]] == ["prune"] and opt["phases"][0]["epochs"] == 2
    assert json.loads(r.manifest_path.read_text())["optimization"] == opt
    from edgekit.optimize.summary import lines

    text = "\n".join(lines(opt))  # what the CLI prints
    assert "pruned (unstructured magnitude, 0.5): conv1 50%, conv2 50%, fc1 50%, probs 50%" in text
    assert f"{rep['bytes']:,} bytes, {rep['gzip_bytes']:,} gzip-compressed" in text
    # seeded: the same inputs give the same bytes
    again = convert(example.model, target="rpi", output_dir=tmp_path / "b", calibration=example.train,
                    eval_data=example.test, optimize=opts, seed=0)
    assert sha256_file(again.artifact_paths[0]) == sha256_file(r.artifact_paths[0])


def test_prune_2_4_is_verified_block_by_block_in_the_artifact(example, tmp_path):
    opts = OptimizeOptions.from_flags(prune="2:4", prune_exclude=("probs",), train_data=example.train, epochs=1)
    r = convert(example.model, target="rpi", precision="fp32", output_dir=tmp_path, eval_data=example.test,
                optimize=opts)
    kernels = artifact_kernels(r.artifact_paths[0])
    for name in ("conv2", "fc1"):  # TFLite layout (out, [kh, kw,] in): blocks of 4 along the input channels
        blocks = kernels[name].reshape(-1, 4)
        assert ((blocks != 0).sum(axis=1) <= 2).all(), name
        assert (kernels[name] == 0).mean() >= 0.5
    assert (kernels["probs"] == 0).mean() < 0.05  # excluded
    assert (kernels["conv1"] == 0).mean() < 0.05  # 1 input channel: cannot hold 2:4 blocks
    pr = r.manifest.to_json()["optimization"]["pruning"]
    skipped = {s["layer"]: s["reason"] for s in pr["skipped"]}
    assert skipped == {"conv1": "1 input channels is not a multiple of M=4", "probs": "excluded by --prune-exclude"}
    rows = r.manifest.to_json()["optimization"]["artifacts"][0]["kernels"]
    assert {k["layer"]: k["nm_violations"] for k in rows} == {"conv2": 0, "fc1": 0}
    assert r.manifest.to_json()["validation"]["accuracy"]["artifact"] >= 0.9


def test_selection_errors_name_the_flag(example):
    from edgekit.models import load_model

    km = load_model(example.model).keras_model
    with pytest.raises(ConfigError, match=r"--prune-include 'nope\*' matches no prunable layer; prunable layers: conv1, conv2, fc1, probs"):
        P.select(km, include=("nope*",))
    with pytest.raises(ConfigError, match="no layer left to prune"):
        P.select(km, exclude=("*",))
    sel = P.select(km, include=("conv*",))
    assert [t.layer for t in sel.targets] == ["conv1", "conv2"]


def test_a_model_without_training_config_needs_loss(example, tmp_path):
    from edgekit.example import build_cnn

    path = tmp_path / "uncompiled.keras"
    build_cnn().save(path)
    opts = OptimizeOptions.from_flags(prune="0.5", train_data=example.train, epochs=1)
    with pytest.raises(ConfigError, match="cannot infer how to fine-tune this model.*Pass --loss"):
        convert(path, target="rpi", precision="fp32", output_dir=tmp_path / "out", optimize=opts)
    assert not (tmp_path / "out").exists()


def test_cli_prune(example, tmp_path):
    out = tmp_path / "out"
    r = run_cli("convert", example.model, "--target", "rpi", "--prune", "0.5", "--train-data", example.train,
                "--epochs", "1", "--calibration", example.train, "--eval-data", example.test, "-o", out, "--json")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert m["optimization"]["options"]["prune"] == "0.5"
    assert all(k["sparsity"] >= 0.49 for k in m["optimization"]["artifacts"][0]["kernels"])
    assert (out / m["artifacts"][0]["path"]).is_file()
