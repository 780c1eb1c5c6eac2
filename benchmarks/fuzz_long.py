"""The long fuzz run: the same targets as tests/test_fuzz_*.py (real parsers and loaders, hostile inputs),
with random seeds, round after round until the time is up. Counts cases, outcomes and crashes (any exception
that is not an EdgekitError, or a loader that wrote into its input's folder) and records them.

    .venv/bin/python benchmarks/fuzz_long.py --minutes 5     # -> benchmarks/results/fuzz.json

Exit code 1 if anything crashed (each crash's target, exception and input are in the JSON)."""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import yaml  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import fuzz_targets as ft  # noqa: E402
import test_fuzz_configs as cfgs  # noqa: E402
import test_fuzz_data as data_  # noqa: E402
import test_fuzz_models as models  # noqa: E402
from edgekit.quantize.calibration import ImageOptions  # noqa: E402


def targets(seeds: dict) -> dict:
    """name -> (strategy of one case, function(folder, case) -> outcome)."""

    def file(suffix):
        def run(d, content):
            p = d / f"in{suffix}"
            p.write_bytes(content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content)
            return p
        return run

    def profile(suffix):
        return lambda d, c: cfgs._load_profile(file(suffix)(d, c))

    def config(suffix):
        def run(d, c):
            ft.config_folder(d)
            return cfgs._load_config(file(suffix)(d, c))
        return run

    def images(d, case):
        files, contents, rgb, size = case
        for i, ((suffix, _, sub), content) in enumerate(zip(files, contents)):
            (d / sub).mkdir(exist_ok=True)
            (d / sub / f"img{i}{suffix}").write_bytes(content)
        return data_._load(d, data_.SPEC_RGB if rgb else data_.SPEC, ImageOptions(size=size))

    image_case = st.lists(st.tuples(st.sampled_from(sorted(data_.IMAGES)), st.booleans(), st.sampled_from(["", "a", "b"])),
                          min_size=1, max_size=3).flatmap(lambda files: st.tuples(
                              st.just(files),
                              st.tuples(*[ft.mutated(data_.IMAGES[s], 2) if bad else st.just(data_.IMAGES[s]) for s, bad, _ in files]),
                              st.booleans(), st.sampled_from([None, (8, 8), (1, 3)])))

    def model(kind, fn=models.load_source):
        return lambda d, c: ft.outcome(fn, file(f".{kind}")(d, c), watch=d)

    return {
        "profile_toml_text": (ft.mutated_text(ft.PROFILE_TOML), profile(".toml")),
        "profile_yaml_text": (ft.mutated_text(ft.PROFILE_YAML), profile(".yaml")),
        "profile_bytes": (ft.mutated(ft.PROFILE_TOML.encode()), profile(".toml")),
        "profile_structure": (st.dictionaries(st.sampled_from(cfgs.FIELDS), cfgs.VALUES, max_size=10).map(yaml.safe_dump), profile(".yaml")),
        "config_yaml_text": (ft.mutated_text(ft.CONFIG_YAML), config(".yaml")),
        "config_toml_text": (ft.mutated_text(ft.CONFIG_TOML), config(".toml")),
        "config_bytes": (ft.mutated(ft.CONFIG_YAML.encode(), 3), config(".yaml")),
        "npy_bytes": (ft.mutated(data_.VALID_NPY), lambda d, c: data_._load(file(".npy")(d, c))),
        "npz_bytes": (ft.mutated(data_.VALID_NPZ), lambda d, c: data_._load(file(".npz")(d, c))),
        "arrays": (ft.arrays().map(lambda a: ft.npy_bytes(a, pickle=a.dtype == object)), lambda d, c: data_._load(file(".npy")(d, c))),
        "image_folders": (image_case, images),
        "onnx_bytes": (ft.mutated(seeds["onnx"]), model("onnx")),
        "keras_bytes": (ft.mutated(seeds["keras"]), model("keras")),
        "tflite_bytes": (ft.mutated(seeds["tflite"]), model("tflite", models.bench_tflite)),
        "tflite_source_bytes": (ft.mutated(seeds["tflite"]), model("tflite")),
    }


def fuzz(name, strategy, fn, n, seed, tmp: Path, stats, crashes):
    @settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case):
        d = Path(tempfile.mkdtemp(dir=tmp))
        try:
            stats[name][fn(d, case)] += 1
        except Exception as exc:  # a crash: recorded, the run goes on
            stats[name]["crash"] += 1
            crashes.append({"target": name, "exception": f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}",
                            "where": traceback.extract_tb(exc.__traceback__)[-1].filename.split("site-packages/")[-1],
                            "input": repr(case)[:300]})
        finally:
            shutil.rmtree(d, ignore_errors=True)

    run._hypothesis_internal_use_seed = seed
    run()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--per-round", type=int, default=50, help="cases per target per round")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "fuzz.json")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="edgekit-fuzz-"))
    seeds = {"onnx": models.onnx_seed(), **dict(zip(("keras", "tflite"), models.keras_seeds(tmp)))}
    stats: dict = collections.defaultdict(collections.Counter)
    crashes: list = []
    start, rounds = time.monotonic(), 0
    while time.monotonic() - start < args.minutes * 60:
        for name, (strategy, fn) in targets(seeds).items():
            fuzz(name, strategy, fn, args.per_round, 1000 + rounds, tmp, stats, crashes)
        rounds += 1
        total = sum(sum(c.values()) for c in stats.values())
        print(f"round {rounds}: {total} cases, {len(crashes)} crashes, {time.monotonic() - start:.0f} s", flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    cases = sum(sum(c.values()) for c in stats.values())
    record = {
        "what": "benchmarks/fuzz_long.py: hostile inputs to edgekit's parsers and loaders; crash = any exception "
                "that is not an EdgekitError, or a write into the input's folder",
        "command": " ".join([".venv/bin/python", "benchmarks/fuzz_long.py", *sys.argv[1:]]),
        "where": f"host {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}",
        "minutes": round((time.monotonic() - start) / 60, 2),
        "rounds": rounds, "seeds": [1000, 1000 + rounds - 1],
        "cases": cases, "crashes": len(crashes),
        "per_target": {k: dict(v) for k, v in sorted(stats.items())},
        "crash_list": crashes[:50],
    }
    from edgekit.hashing import atomic_write_json

    atomic_write_json(args.out, record)
    print(f"{cases} cases, {len(crashes)} crashes -> {args.out}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
