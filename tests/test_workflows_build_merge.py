"""Shards and merge: shard 1/2 + shard 2/2 merged equal a full build; gaps, overlaps and mixes are named."""

from __future__ import annotations

import json
import shutil

import pytest
from ci_example import copy_example, hashes, index, read_config, statuses, write_config

from edgekit import api
from edgekit.workflows.build.merge import merge
from edgekit.workflows.build.runner import build
from edgekit.errors import ConfigError


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    cfg = copy_example(root)
    full = build(cfg, root / "full").index
    s1 = api.build(cfg, output_dir=root / "build-shard-1", shard=(1, 2)).index  # the public API
    s2 = build(cfg, root / "build-shard-2", shard=(2, 2)).index
    return root, cfg, full, s1, s2


def _strip(idx: dict) -> dict:
    """What must agree between two builds of the same inputs (not timings, cache status or provenance)."""
    return {
        "matrix": idx["matrix"],
        "config": idx["config"],
        "cells": [
            {k: v for k, v in c.items() if k not in ("seconds", "status", "cached")} for c in idx["cells"]
        ],
    }


def test_shards_split_the_matrix_and_merge_equals_the_full_build(shards, tmp_path):
    root, _, full, s1, s2 = shards
    assert s1["shard"] == {"index": 1, "count": 2} and s2["shard"] == {"index": 2, "count": 2}
    assert [c["id"] for c in s1["cells"]] == ["digits_cnn--android-gpu", "digits_mlp--android-gpu"]
    assert [c["id"] for c in s2["cells"]] == ["digits_cnn--rpi", "digits_mlp--rpi"]
    assert s1["matrix"] == s2["matrix"] == full["matrix"]
    assert sorted(p.name for p in (root / "build-shard-1" / "cells").iterdir()) == [c["id"] for c in s1["cells"]]

    out = tmp_path / "build"
    merged = api.merge([root / "build-shard-2", root / "build-shard-1"], output_dir=out)
    assert merged == index(out) and merged["complete"] and merged["shard"] is None
    assert _strip(merged) == _strip(full)
    assert hashes(merged) == hashes(full)
    for c in merged["cells"]:
        for a in c["artifacts"]:
            assert (out / a["path"]).read_bytes() == (root / "full" / a["path"]).read_bytes()
    # a merged folder is a build folder: building into it again reuses everything
    again = build(shards[1], out).index
    assert set(statuses(again).values()) == {"cached"}


def test_merge_names_missing_and_duplicated_cells(shards, tmp_path):
    root, *_ = shards
    with pytest.raises(ConfigError) as exc:
        merge([root / "build-shard-1"], tmp_path / "out")
    assert "missing cells: digits_cnn--rpi (shard 2/2), digits_mlp--rpi (shard 2/2)" in str(exc.value)
    assert not (tmp_path / "out").exists()  # nothing written

    copy = tmp_path / "again-1"
    shutil.copytree(root / "build-shard-1", copy)
    with pytest.raises(ConfigError) as exc:
        merge([root / "build-shard-1", root / "build-shard-2", copy], tmp_path / "out")
    msg = str(exc.value)
    assert "cells built by more than one shard: digits_cnn--android-gpu (in " in msg and str(copy) in msg
    assert "digits_mlp--android-gpu" in msg


def test_merge_refuses_other_configs_unfinished_shards_and_tampered_cells(shards, tmp_path):
    root, cfg_path, *_ = shards
    other = tmp_path / "other"
    cfg = read_config(cfg_path)
    cfg["defaults"]["calibration_samples"] = 150
    shutil.copytree(root / "models", other / "models")
    shutil.copytree(root / "data", other / "data")
    build(write_config(other, cfg), other / "build-shard-2", shard=(2, 2))
    with pytest.raises(ConfigError, match="were built from different configs"):
        merge([root / "build-shard-1", other / "build-shard-2"], tmp_path / "out")

    cut = tmp_path / "cut"
    shutil.copytree(root / "build-shard-2", cut)
    idx = index(cut)
    idx["complete"] = False
    (cut / "index.json").write_text(json.dumps(idx))
    with pytest.raises(ConfigError, match=f"the build in {cut} did not finish"):
        merge([root / "build-shard-1", cut], tmp_path / "out")

    bad = tmp_path / "bad"
    shutil.copytree(root / "build-shard-2", bad)
    art = next((bad / "cells" / "digits_cnn--rpi").glob("*.tflite"))
    art.write_bytes(art.read_bytes()[:-10])
    with pytest.raises(ConfigError, match="the cell's files do not match its index entry"):
        merge([root / "build-shard-1", bad], tmp_path / "out")
    with pytest.raises(ConfigError, match="index.json not found"):
        merge([root / "build-shard-1", tmp_path], tmp_path / "out")


def test_cli_shards_and_merge(shards, tmp_path):
    from typer.testing import CliRunner

    from edgekit.cli import app

    _, cfg, full, *_ = shards
    cli = CliRunner()
    for k in (1, 2):
        res = cli.invoke(app, ["build", str(cfg), "-o", str(tmp_path / f"s{k}"), "--shard", f"{k}/2"])
        assert res.exit_code == 0, res.output
    res = cli.invoke(app, ["merge", str(tmp_path / "s1"), str(tmp_path / "s2"), "-o", str(tmp_path / "m")])
    assert res.exit_code == 0 and "merged 2 folder(s)" in res.output
    assert hashes(index(tmp_path / "m")) == hashes(full)
    res = cli.invoke(app, ["build", str(cfg), "-o", str(tmp_path / "x"), "--shard", "3/2"])
    assert isinstance(res.exception, ConfigError) and "expected K/N with 1 <= K <= N" in str(res.exception)
