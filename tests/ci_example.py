"""Helpers for the build/merge/report tests: a working copy of examples/ci (real trained models, real data)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ci"


def copy_example(folder: Path, **extra) -> Path:
    """examples/ci's models and data in ``folder``, each model with its own calibration file, and an
    edgekit.yaml of 2 models x 2 targets with the example's thresholds. Returns the config path."""
    for sub in ("models", "data"):
        shutil.copytree(EXAMPLE / sub, folder / sub, dirs_exist_ok=True)
    cfg = yaml.safe_load((EXAMPLE / "edgekit.yaml").read_text())
    for name, spec in cfg["models"].items():
        own = f"data/calibration_{name}.npz"
        shutil.copy(folder / spec["calibration"], folder / own)
        spec["calibration"] = own
    cfg.update(extra)
    return write_config(folder, cfg)


def write_config(folder: Path, cfg: dict) -> Path:
    path = folder / "edgekit.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def read_config(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def index(build_dir: Path) -> dict:
    return json.loads((build_dir / "index.json").read_text())


def hashes(idx: dict) -> dict[str, list[tuple[str, str]]]:
    """cell id -> [(artifact path, sha256)]: what two builds must agree on."""
    return {c["id"]: [(a["path"], a["sha256"]) for a in c["artifacts"]] for c in idx["cells"]}


def statuses(idx: dict) -> dict[str, str]:
    return {c["id"]: c["status"] for c in idx["cells"]}
