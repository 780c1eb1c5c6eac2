"""Every command with its bad-input cases, one process per case (the console entry point, as a user runs it):
exit code 2, exactly one stderr line starting ``error:`` (progress lines before it allowed only where noted),
no traceback, and the output folder untouched. Cases are picked to fail before TensorFlow loads."""

from __future__ import annotations

import pytest

from cli_checks import assert_bad_input, snapshot
from conftest import run_cli


@pytest.fixture
def ws(tmp_path):
    (tmp_path / "afile").write_text("x\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.tflite").write_bytes(b"garbage")
    (tmp_path / "dup.yaml").write_text("targets: [rpi]\nmodels:\n  a: {path: afile}\n  a: {path: afile}\n")
    (tmp_path / "bad.yaml").write_text("targets: [rpi\n")
    (tmp_path / "unk.yaml").write_text("targets: [nope]\nmodels:\n  a: {path: afile}\n")
    (tmp_path / "bad.toml").write_text('name = "p"\nname = "q"\n')
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine\n")
    return tmp_path


CASES = {
    "convert-missing-model": (["convert", "nope.keras", "-t", "rpi", "-o", "out"], "no such file", False),
    "convert-unknown-target": (["convert", "afile", "-t", "nope", "-o", "out"], "unknown target 'nope'", False),
    "convert-dup-key-profile": (["convert", "afile", "-t", "bad.toml", "-o", "out"], "duplicate key 'name'", False),
    "convert-unknown-format": (["convert", "afile", "-t", "rpi", "-o", "out"], "unknown model format", False),
    "convert-folder-not-savedmodel": (["convert", "empty", "-t", "rpi", "-o", "out"], "not a SavedModel", False),
    "bench-missing-model": (["bench", "nope.tflite"], "does not exist", False),
    "bench-zero-runs": (["bench", "bad.tflite", "--runs", "0"], "--runs", False),
    "bench-corrupt-model": (["bench", "bad.tflite", "--json", "out/r.json"], "cannot load this model", True),
    "bench-bad-device-url": (["bench", "bad.tflite", "--device", "http://x"], "expected ssh://", False),
    "bench-missing-inputs": (["bench", "bad.tflite", "--inputs", "missing.npy"], "--inputs", False),
    "bench-bad-timeout": (["bench", "bad.tflite", "--device", "ssh://pi@127.0.0.1", "--timeout", "0"], "--timeout", False),
    "harness-write-under-a-file": (["harness", "--write", "afile/sub"], "--write", False),
    "harness-write-a-file": (["harness", "--write", "afile"], "is a file", False),
    "sweep-missing-model": (["sweep", "nope.keras", "-t", "rpi", "-o", "out"], "no such file", False),
    "sweep-unknown-target": (["sweep", "afile", "-t", "nope", "-o", "out"], "unknown target", False),
    "build-missing-config": (["build", "missing.yaml", "-o", "out"], "does not exist", False),
    "build-duplicate-keys": (["build", "dup.yaml", "-o", "out"], "duplicate key 'a'", False),
    "build-bad-yaml": (["build", "bad.yaml", "-o", "out"], "not valid YAML", False),
    "build-unknown-target": (["build", "unk.yaml", "-o", "out"], "unknown target 'nope'", False),
    "build-bad-shard": (["build", "dup.yaml", "-o", "out", "--shard", "5/4"], "--shard", False),
    "merge-not-a-build": (["merge", "empty", "-o", "out"], "index.json not found", False),
    "report-not-a-build": (["report", "empty", "-o", "out"], "index.json not found", False),
    "report-unknown-format": (["report", "empty", "--format", "pdf", "-o", "out"], "unknown report format", False),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(ws, case):
    argv, fragment, progress = CASES[case]
    before = snapshot(ws)
    p = run_cli(*argv, cwd=ws)
    assert_bad_input(p, fragment=fragment, only=not progress)
    assert snapshot(ws) == before  # the output folder and every input untouched


USAGE = {  # click/typer usage errors print a multi-line box (cli.py: the lead's)
    "targets-unknown-option": ["targets", "--bogus"],
    "convert-bad-image-size": ["convert", "afile", "-t", "rpi", "--image-size", "a,b", "-o", "out"],
}


@pytest.mark.parametrize("case", sorted(USAGE))
def test_usage_error_is_one_line(ws, case):
    before = snapshot(ws)
    assert_bad_input(run_cli(*USAGE[case], cwd=ws), only=True)
    assert snapshot(ws) == before


def test_example_checks_the_target_before_training(ws):
    before = snapshot(ws)
    assert_bad_input(run_cli("example", "-t", "nope", "-w", "ex", "--epochs", "1", cwd=ws), fragment="unknown target")
    assert snapshot(ws) == before
