"""``edgekit report``: thresholds vs source and baseline, latency from real bench results, every format."""

from __future__ import annotations

import base64
import json
import re
import shutil
import xml.etree.ElementTree as ET

import pytest
from ci_example import copy_example, read_config, write_config
from conftest import run_cli
from typer.testing import CliRunner

from edgekit.runtimes import harness
from edgekit.workflows.build.runner import build
from edgekit.cli import app
from edgekit.registry import REPORT_FORMATS
from edgekit.report import get_renderer, make_report

CNN_RPI = "digits_cnn--rpi:tflite"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    cfg = copy_example(root)
    build(cfg, root / "build")
    return root


@pytest.fixture
def build_dir(built, tmp_path):
    """A private copy of the built folder (tests add bench results or edit it)."""
    shutil.copytree(built / "build", tmp_path / "build")
    return tmp_path / "build"


def report(*args):
    res = CliRunner().invoke(app, ["report", *map(str, args)])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    return res


def junit_cases(path):
    root = ET.parse(path).getroot()
    return root, {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}


def test_report_passes_against_its_own_baseline_and_writes_every_format(build_dir, tmp_path):
    base = tmp_path / "baseline.json"
    res = report(build_dir, "--save-baseline", base, "-o", tmp_path / "r0")
    assert res.exit_code == 0, res.output
    saved = json.loads(base.read_text())
    assert sorted(saved["artifacts"]) == [
        "digits_cnn--android-gpu:tflite", CNN_RPI, "digits_mlp--android-gpu:tflite", "digits_mlp--rpi:tflite"
    ]
    res = report(build_dir, "--baseline", base, "-o", tmp_path / "r1")
    assert res.exit_code == 0, res.output
    out = tmp_path / "r1"
    assert sorted(p.name for p in out.iterdir()) == ["junit.xml", "report.html", "report.json", "report.md"]

    rep = json.loads((out / "report.json").read_text())
    assert rep["schema"] == "edgekit.report/1" and rep["passed"] and rep["failures"] == []
    row = next(r for r in rep["rows"] if r["key"] == CNN_RPI)
    assert row["precision"] == "int8" and row["bytes"] == saved["artifacts"][CNN_RPI]["bytes"]
    assert {c["name"]: c["status"] for c in row["checks"]} == {
        "build": "pass", "accuracy_drop": "pass", "cosine": "pass", "top1_agreement": "pass",
        "baseline_accuracy_drop": "pass", "size_growth": "pass", "latency_growth": "skip",
    }

    md = (out / "report.md").read_text()
    assert md.startswith("## ✅ edgekit report: all 24 checks passed (4 skipped)")
    assert f"| {CNN_RPI} | int8 |" in md and "Broken checks" not in md

    html = (out / "report.html").read_text()
    assert not re.search(r"(src|href)=\"(https?:)?//", html)  # self-contained
    png = base64.b64decode(re.search(r'src="data:image/png;base64,([^"]+)"', html).group(1))
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000

    root, cases = junit_cases(out / "junit.xml")
    assert root.get("failures") == "0" and len(cases) == 28
    assert cases[(CNN_RPI, "size_growth")].find("failure") is None


def test_a_baseline_better_than_the_build_fails_and_is_listed_first(build_dir, tmp_path):
    base = tmp_path / "baseline.json"
    report(build_dir, "--save-baseline", base, "--format", "json", "-o", tmp_path / "r0")
    data = json.loads(base.read_text())
    data["artifacts"][CNN_RPI]["accuracy"] += 0.05  # the baseline was 5 points better
    data["artifacts"]["digits_mlp--rpi:tflite"]["bytes"] = int(data["artifacts"]["digits_mlp--rpi:tflite"]["bytes"] * 0.8)
    base.write_text(json.dumps(data))

    res = report(build_dir, "--baseline", base, "-o", tmp_path / "r")
    assert res.exit_code == 1
    lines = res.output.splitlines()
    assert lines[0].startswith(f"FAIL {CNN_RPI} baseline_accuracy_drop: accuracy 97.77% vs baseline 102.77%: drop 5.00 points")
    assert lines[1].startswith("FAIL digits_mlp--rpi:tflite size_growth: 5,568 bytes vs baseline 4,454: +25.0% (over the limit +10.0%)")

    root, cases = junit_cases(tmp_path / "r" / "junit.xml")
    assert root.get("failures") == "2"
    failure = cases[(CNN_RPI, "baseline_accuracy_drop")].find("failure")
    assert failure is not None and "drop 5.00 points" in failure.get("message")
    assert cases[("digits_mlp--rpi:tflite", "size_growth")].find("failure") is not None
    assert cases[(CNN_RPI, "accuracy_drop")].find("failure") is None

    md = (tmp_path / "r" / "report.md").read_text()
    assert md.startswith("## ❌ edgekit report: 2 check(s) failed")
    assert md.index("### Broken checks") < md.index(f"**{CNN_RPI}** `baseline_accuracy_drop`") < md.index("### Artifacts")
    rows = [ln for ln in md.splitlines() if ln.startswith("| digits")]
    assert rows[0].startswith(f"| {CNN_RPI} ") and rows[0].endswith("| FAIL: baseline_accuracy_drop |")  # failing rows first
    rep = json.loads((tmp_path / "r" / "report.json").read_text())
    assert [(f["artifact"], f["check"]) for f in rep["failures"]] == [
        (CNN_RPI, "baseline_accuracy_drop"), ("digits_mlp--rpi:tflite", "size_growth")
    ]


def test_an_artifact_calibrated_on_one_sample_breaks_the_fidelity_threshold(tmp_path):
    cfg_path = copy_example(tmp_path)
    cfg = read_config(cfg_path)
    cfg["targets"] = ["rpi"]
    cfg["variants"] = {"full": {}, "starved": {"calibration_samples": 1}}
    cfg["thresholds"]["min_cosine"] = 0.999
    del cfg["models"]["digits_mlp"]["thresholds"]
    build(write_config(tmp_path, cfg), tmp_path / "build")
    res = report(tmp_path / "build", "--format", "junit,json", "-o", tmp_path / "r")
    assert res.exit_code == 1
    rep = json.loads((tmp_path / "r" / "report.json").read_text())
    assert sorted((f["artifact"], f["check"]) for f in rep["failures"]) == [
        ("digits_cnn--rpi--starved:tflite", "cosine"), ("digits_mlp--rpi--starved:tflite", "cosine")
    ]
    _, cases = junit_cases(tmp_path / "r" / "junit.xml")
    assert cases[("digits_cnn--rpi--starved:tflite", "cosine")].find("failure") is not None
    assert cases[("digits_cnn--rpi--full:tflite", "cosine")].find("failure") is None


def _bench(build_dir, rel_path, name):
    result = harness.run(build_dir / rel_path, runs=20, warmup=2)
    (build_dir / "bench").mkdir(exist_ok=True)
    (build_dir / "bench" / name).write_text(json.dumps(result))
    return result


def test_bench_results_add_labelled_latency_and_a_slower_artifact_fails(build_dir, tmp_path):
    idx = json.loads((build_dir / "index.json").read_text())
    art = {c["id"]: c["artifacts"][0] for c in idx["cells"]}
    measured = _bench(build_dir, art["digits_cnn--rpi"]["path"], "cnn-rpi.json")
    other = tmp_path / "pi.json"  # a second result file passed explicitly, from another kind of machine
    moved = {**measured, "where": {**measured["where"], "cpu": "Cortex-A72", "arch": "aarch64"}}
    other.write_text(json.dumps(moved))

    base = tmp_path / "baseline.json"
    assert report(build_dir, "--save-baseline", base, "--format", "md", "-o", tmp_path / "r0").exit_code == 0
    saved = json.loads(base.read_text())["artifacts"][CNN_RPI]["latency"]
    assert len(saved) == 1 and saved[0]["p50_ms"] == measured["latency_ms"]["p50"]
    md = (tmp_path / "r0" / "report.md").read_text()
    assert f"{measured['latency_ms']['p50']:.3f} ms (ai_edge_litert" in md and "latency measured on:" in md

    data = json.loads(base.read_text())
    data["artifacts"][CNN_RPI]["latency"][0]["p50_ms"] = measured["latency_ms"]["p50"] / 2  # it used to be 2x faster
    base.write_text(json.dumps(data))
    res = report(build_dir, "--baseline", base, "--bench", other, "--format", "json", "-o", tmp_path / "r1")
    assert res.exit_code == 1
    rep = json.loads((tmp_path / "r1" / "report.json").read_text())
    assert [(f["artifact"], f["check"]) for f in rep["failures"]] == [(CNN_RPI, "latency_growth")]
    row = next(r for r in rep["rows"] if r["key"] == CNN_RPI)
    assert {x["where"].split(" (")[0] for x in row["latency"]} == {measured["where"]["cpu"], "Cortex-A72"}
    check = next(c for c in row["checks"] if c["name"] == "latency_growth")
    assert check["value"] == pytest.approx(1.0) and measured["where"]["cpu"] in check["message"]
    # a baseline measured only on another machine is not compared
    data["artifacts"][CNN_RPI]["latency"][0]["machine"] = "aarch64|Cortex-A53|None|4|tflite_runtime|None|threads=4"
    base.write_text(json.dumps(data))
    rep = make_report(build_dir, baseline=base)
    row = next(r for r in rep["rows"] if r["key"] == CNN_RPI)
    assert rep["passed"] and "same kind of machine" in next(c for c in row["checks"] if c["name"] == "latency_growth")["message"]


def test_failed_cells_and_unfinished_builds_fail_the_report(build_dir, tmp_path):
    idx = json.loads((build_dir / "index.json").read_text())
    cell = idx["cells"][0]
    idx["cells"][0] = {**cell, "status": "failed", "error": "CalibrationError: no samples", "artifacts": [], "dir": None}
    idx["complete"] = False
    (build_dir / "index.json").write_text(json.dumps(idx))
    res = report(build_dir, "--format", "junit", "-o", tmp_path / "r")
    assert res.exit_code == 1
    _, cases = junit_cases(tmp_path / "r" / "junit.xml")
    assert "no samples" in cases[(cell["id"], "build")].find("failure").get("message")
    assert cases[("(build)", "complete")].find("failure") is not None


def test_every_registered_format_renders(built):
    rep = make_report(built / "build")
    for fmt in REPORT_FORMATS.names():
        text = get_renderer(fmt)(rep)
        assert isinstance(text, str) and len(text) > 200, fmt
    assert json.loads(get_renderer("json")(rep))["passed"] is True


def test_bad_input_exits_2_with_a_message(built, tmp_path):
    res = run_cli("report", built / "build", "--format", "pdf", "-o", tmp_path / "r")
    assert res.returncode == 2 and "unknown report format 'pdf'; choose from md, html, json, junit" in res.stderr
    res = run_cli("report", built / "build", "--baseline", tmp_path / "nope.json", "-o", tmp_path / "r")
    assert res.returncode == 2 and "--save-baseline" in res.stderr
    res = run_cli("report", tmp_path, "-o", tmp_path / "r")
    assert res.returncode == 2 and "index.json not found" in res.stderr
    assert not (tmp_path / "r").exists()
