"""``edgekit build`` for real: two trained models × two targets, converted and validated with LiteRT."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from ci_example import copy_example, hashes, index, read_config, statuses, write_config
from typer.testing import CliRunner

from edgekit.workflows.build.cache import is_valid, read_cell
from edgekit.workflows.build.runner import build
from edgekit.cli import app

ALL = ["digits_cnn--android-gpu", "digits_cnn--rpi", "digits_mlp--android-gpu", "digits_mlp--rpi"]


def _resave_calibration(path, n):
    """Rewrite a calibration file with its first ``n`` samples: new bytes, still real data."""
    with np.load(path) as z:
        x, y = z["x"][:n], z["y"][:n]
    buf = io.BytesIO()
    np.savez_compressed(buf, x=x, y=y)
    path.write_bytes(buf.getvalue())


def test_second_run_reuses_every_cell_and_a_changed_calibration_rebuilds_only_its_model(tmp_path):
    cfg = copy_example(tmp_path)
    out = tmp_path / "build"
    first = build(cfg, out).index
    assert first["complete"] and statuses(first) == dict.fromkeys(ALL, "built")
    for c in first["cells"]:
        [art] = c["artifacts"]
        assert (out / art["path"]).is_file() and art["validation"]["accuracy"]["artifact"] > 0.9
        assert c["labels"] and (out / c["labels"]).read_text().splitlines()[3] == "digit 3"
    assert {c["id"]: c["precision"] for c in first["cells"]} == {
        "digits_cnn--android-gpu": "fp16", "digits_cnn--rpi": "int8", "digits_mlp--android-gpu": "fp16", "digits_mlp--rpi": "int8",
    }

    second = build(cfg, out).index
    assert statuses(second) == dict.fromkeys(ALL, "cached")
    assert all(c["cached"] for c in second["cells"]) and hashes(second) == hashes(first)

    _resave_calibration(tmp_path / "data" / "calibration_digits_mlp.npz", 250)
    third = build(cfg, out).index
    assert statuses(third) == {
        "digits_cnn--android-gpu": "cached", "digits_cnn--rpi": "cached", "digits_mlp--android-gpu": "built", "digits_mlp--rpi": "built",
    }
    keys = {c["id"]: c["key"] for c in first["cells"]}
    assert [c["id"] for c in third["cells"] if c["key"] != keys[c["id"]]] == ["digits_mlp--android-gpu", "digits_mlp--rpi"]
    mlp_rpi = next(c for c in third["cells"] if c["id"] == "digits_mlp--rpi")
    assert json.loads((out / mlp_rpi["manifest"]).read_text())["calibration"]["samples"] == 100  # the model's override


def test_rebuilding_from_scratch_gives_byte_identical_artifacts(tmp_path):
    cfg = copy_example(tmp_path)
    out = tmp_path / "build"
    first = build(cfg, out).index
    blobs = {a["path"]: (out / a["path"]).read_bytes() for c in first["cells"] for a in c["artifacts"]}
    shutil.rmtree(out)
    again = build(cfg, out).index
    assert statuses(again) == dict.fromkeys(ALL, "built")
    assert hashes(again) == hashes(first)
    assert {p: (out / p).read_bytes() for p in blobs} == blobs


def test_a_failed_cell_is_reported_the_rest_build_and_the_exit_code_says_so(tmp_path):
    cfg_path = copy_example(tmp_path)
    (tmp_path / "models" / "broken.keras").write_bytes(b"PK\x03\x04" + b"not a model" * 20)
    cfg = read_config(cfg_path)
    cfg["models"]["broken"] = {"path": "models/broken.keras", "calibration": "data/calibration.npz"}
    cfg["models"]["digits_mlp"]["labels"] = ["zero", "one"]  # wrong count: the MLP's cells fail too
    write_config(tmp_path, cfg)
    out = tmp_path / "build"
    res = CliRunner().invoke(app, ["build", str(cfg_path), "-o", str(out)])
    assert res.exit_code == 1, res.output
    idx = index(out)
    st = statuses(idx)
    assert st == {**dict.fromkeys(ALL, "built"), "broken--android-gpu": "failed", "broken--rpi": "failed",
                  "digits_mlp--android-gpu": "failed", "digits_mlp--rpi": "failed"}
    err = {c["id"]: c["error"] for c in idx["cells"]}
    assert "broken.keras: cannot load this Keras model" in err["broken--rpi"]
    assert "models.digits_mlp.labels: 2 class names, but the model's first output has shape [None, 10]" in err["digits_mlp--rpi"]
    assert sorted(p.name for p in (out / "cells").iterdir()) == ["digits_cnn--android-gpu", "digits_cnn--rpi"]
    assert idx["summary"] == {"cells": 6, "built": 2, "cached": 0, "failed": 4, "artifacts": 2}
    assert "4 cell(s) failed" in res.output


def test_cache_dir_reuses_cells_in_a_fresh_build_folder(tmp_path):
    cfg = copy_example(tmp_path)
    store = tmp_path / "store"
    a = build(cfg, tmp_path / "a", cache_dir=store).index
    assert sorted(p.name for p in store.iterdir()) == sorted(c["key"] for c in a["cells"])
    b = build(cfg, tmp_path / "b", cache_dir=store).index
    assert statuses(b) == dict.fromkeys(ALL, "cached") and hashes(b) == hashes(a)
    forced = build(cfg, tmp_path / "b", cache_dir=store, force=True).index
    assert statuses(forced) == dict.fromkeys(ALL, "built") and hashes(forced) == hashes(a)


def _cells_on_disk_are_whole(out) -> dict[str, str]:
    """Every visible cell folder is complete: its files are exactly its manifest's, hashes matching."""
    found = {}
    for d in sorted(p for p in (out / "cells").iterdir() if not p.name.startswith(".")):
        cell = read_cell(d)
        assert cell is not None and is_valid(d, cell["key"]), f"{d} is not a complete cell"
        manifest = json.loads((d / "manifest.json").read_text())
        expected = {"cell.json", "manifest.json", "labels.txt", *(a["path"] for a in manifest["artifacts"])}
        assert {p.name for p in d.iterdir()} == expected
        found[d.name] = cell["key"]
    return found


def test_sigkill_mid_build_leaves_previous_outputs_readable_and_the_next_build_completes(tmp_path):
    variants = {f"c{n}": {"calibration_samples": n} for n in (40, 80, 120, 160)}  # 16 cells: a wide window
    cfg = copy_example(tmp_path, variants=variants)
    out = tmp_path / "build"
    before = build(cfg, out).index
    assert before["summary"]["built"] == 16
    for name in ("digits_cnn", "digits_mlp"):  # new inputs: every cell must be rebuilt
        _resave_calibration(tmp_path / "data" / f"calibration_{name}.npz", 260)

    proc = subprocess.Popen(
        [sys.executable, "-m", "edgekit", "build", str(cfg), "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    killed_mid_build = False
    deadline = time.monotonic() + 180
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                idx = index(out)
            except ValueError:  # never expected: the index is replaced atomically
                pytest.fail("index.json was caught half-written")
            building = any(p.name.startswith(".tmp-") for p in (out / "cells").iterdir())
            if not idx["complete"] and "built" in statuses(idx).values() and building:
                os.kill(proc.pid, signal.SIGKILL)
                killed_mid_build = True
                break
            time.sleep(0.003)
    finally:
        if proc.poll() is None and not killed_mid_build:
            proc.kill()
        proc.wait()
    assert killed_mid_build, "the build was not caught mid-way"
    assert proc.returncode == -signal.SIGKILL

    idx = index(out)  # parses: never corrupt
    assert not idx["complete"]
    on_disk = _cells_on_disk_are_whole(out)
    for c in idx["cells"]:  # every indexed cell is whole and matches its entry (old or new inputs)
        assert on_disk[c["id"]] == c["key"]
        assert all((out / a["path"]).is_file() for a in c["artifacts"])
    st = statuses(idx)
    assert 0 < list(st.values()).count("built") < 16

    after = build(cfg, out).index
    assert after["complete"] and after["summary"]["failed"] == 0 and after["summary"]["cells"] == 16
    assert not [p for p in (out / "cells").iterdir() if p.name.startswith((".tmp-", ".old-"))]
    assert set(_cells_on_disk_are_whole(out)) == set(statuses(after))
    reference = build(cfg, tmp_path / "fresh").index  # same inputs from scratch: the same bytes
    assert hashes(after) == hashes(reference)


def test_a_swap_cut_between_its_renames_is_recovered_and_concurrent_builds_are_refused(tmp_path):
    from edgekit.workflows.build.cache import locked
    from edgekit.errors import ConfigError

    cfg = copy_example(tmp_path)
    out = tmp_path / "build"
    first = build(cfg, out).index
    cells = out / "cells"
    # the state a kill between install()'s two renames leaves: the old folder parked, the new one half-made
    (cells / "digits_cnn--rpi").rename(cells / ".old-digits_cnn--rpi-0123abcd")
    (cells / ".tmp-digits_mlp--rpi-xyz").mkdir()
    (cells / ".tmp-digits_mlp--rpi-xyz" / "half.tflite").write_bytes(b"TFL3")
    with locked(out), pytest.raises(ConfigError, match="is being written by another `edgekit build`"):
        build(cfg, out)
    again = build(cfg, out).index
    assert statuses(again) == dict.fromkeys(ALL, "cached") and hashes(again) == hashes(first)
    assert sorted(p.name for p in cells.iterdir()) == ALL


def test_an_onnx_model_is_loaded_with_its_config_options_like_convert_loads_it(digits_onnx, tmp_path):
    """The build loads each model with the engine's own loader options (here an ONNX --input-shape)."""
    cfg = tmp_path / "edgekit.yaml"
    cfg.write_text(
        "targets: [x86-ort]\n"
        f"models:\n  digits: {{path: {digits_onnx.model}, calibration: {digits_onnx.train}, "
        f"eval_data: {digits_onnx.test}, input_shape: 'image:1,1,8,8'}}\n"
    )
    res = build(cfg, tmp_path / "build")
    assert not res.failed, res.failed
    m = json.loads((tmp_path / "build" / res.index["cells"][0]["manifest"]).read_text())
    assert m["source"]["inputs"][0]["shape"] == [1, 1, 8, 8]
    assert m["artifacts"][0]["validation"]["accuracy"]["drop"] <= 0.02
