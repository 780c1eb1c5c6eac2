"""examples/ci: the shipped config builds from a fresh checkout and passes against the committed baseline;
the GitHub Actions workflow is valid and its shard count matches; make_models.py really trains."""

from __future__ import annotations

import json
import re
import runpy

import numpy as np
import yaml
from ci_example import EXAMPLE
from conftest import run_cli


def test_example_builds_and_passes_against_the_committed_baseline(tmp_path):
    out = tmp_path / "build"
    res = run_cli("build", EXAMPLE / "edgekit.yaml", "-o", out, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    idx = json.loads((out / "index.json").read_text())
    assert idx["summary"] == {"cells": 4, "built": 4, "cached": 0, "failed": 0, "artifacts": 4}
    res = run_cli("report", out, "--baseline", EXAMPLE / "baseline.json", "-o", tmp_path / "report")
    assert res.returncode == 0, res.stderr
    rep = json.loads((tmp_path / "report" / "report.json").read_text())
    assert rep["summary"]["fail"] == 0 and rep["summary"]["pass"] == 24  # every threshold of the example checked
    base = json.loads((EXAMPLE / "baseline.json").read_text())["artifacts"]
    assert {r["key"] for r in rep["rows"]} == set(base)  # same artifacts (bytes may differ on another CPU)


def test_github_workflow_shards_build_merge_and_report():
    wf = yaml.safe_load((EXAMPLE / "github-actions.yml").read_text())
    build, report = wf["jobs"]["build"], wf["jobs"]["report"]
    shards = build["strategy"]["matrix"]["shard"]
    assert shards == list(range(1, len(shards) + 1)) and int(wf["env"]["SHARDS"]) == len(shards)
    runs = " ".join(s.get("run", "") for s in build["steps"])
    assert re.search(r"edgekit build \"\$CONFIG\" -o build-shard-\$\{\{ matrix.shard \}\}", runs)
    assert "--shard ${{ matrix.shard }}/${{ env.SHARDS }}" in runs
    uploads = [s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
    assert uploads[0]["with"]["name"] == "build-shard-${{ matrix.shard }}" and uploads[0]["if"] == "always()"
    assert report["needs"] == "build"
    runs = " ".join(s.get("run", "") for s in report["steps"])
    assert "edgekit merge build-shard-*/ -o build/" in runs
    assert "edgekit report build/ --baseline \"$BASELINE\"" in runs and "--format md,html,json,junit" in runs
    assert (EXAMPLE / wf["env"]["BASELINE"].removeprefix("examples/ci/")).is_file()
    assert (EXAMPLE / wf["env"]["CONFIG"].removeprefix("examples/ci/")).is_file()


def test_make_models_trains_both_models_on_real_digits(tmp_path):
    from edgekit.models import load_model

    make = runpy.run_path(str(EXAMPLE / "make_models.py"))["make"]
    acc = make(tmp_path, seed=0, cnn_epochs=2, mlp_epochs=5)
    assert set(acc) == {"digits_cnn", "digits_mlp"} and all(a > 0.5 for a in acc.values())  # well above chance (0.1)
    for name in acc:
        m = load_model(tmp_path / "models" / f"{name}.keras")
        assert m.input.shape == (None, 8, 8, 1) and m.outputs[0].shape == (None, 10)
    with np.load(tmp_path / "data" / "calibration.npz") as z:
        assert z["x"].shape == (300, 8, 8, 1) and z["x"].dtype == np.float32 and 0 <= z["x"].min() and z["x"].max() <= 1
    with np.load(tmp_path / "data" / "test.npz") as z, np.load(EXAMPLE / "data" / "test.npz") as committed:
        assert np.array_equal(z["y"], committed["y"])  # the committed split is this seeded split
    assert (tmp_path / "data" / "labels.txt").read_text().splitlines() == [f"digit {i}" for i in range(10)]
