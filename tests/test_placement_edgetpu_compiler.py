"""The Edge TPU compiler path: the log parser on real compiler output quoted in public threads (fixtures),
and the invocation with test-only fake executables (the real compiler cannot be installed here). The fakes
never make a result look real: they only exercise how a subprocess is run, timed out and cleaned up."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from edgekit.errors import ConfigError, RuntimeUnavailableError
from edgekit.placement import analyze
from edgekit.placement.edgetpu_compiler import compile_model, parse_log
from edgekit.targets import load_target
from tests.placement_nets import conv_int8

FIX = Path(__file__).parent / "fixtures" / "edgetpu_compiler"


def test_parser_console_output_yolov3_tiny():
    log = parse_log((FIX / "yolov3_tiny_console.log").read_text())
    assert log.version == "15.0.340273435"
    assert log.subgraphs == 1 and log.total_ops == 36 and log.tpu_ops == 2 and log.cpu_ops == 34
    assert log.on_chip_bytes == 3 * 1024 and log.off_chip_bytes == 0
    assert ("LEAKY_RELU", 11, "Operation not supported") in log.rows
    assert sum(c for _, c, _ in log.rows) == 36


def test_parser_yolov5s_all_statuses():
    log = parse_log((FIX / "yolov5s_console.log").read_text())
    assert sum(c for _, c, _ in log.rows) == log.total_ops == 294
    assert ("STRIDED_SLICE", 4, "Only Strided-Slice with unitary strides supported") in log.rows
    assert log.on_chip_remaining_bytes == int(8.05 * (1 << 20))


def test_parser_operation_log_file_without_summary():
    log = parse_log((FIX / "tiny_yolo_operation.log").read_text())
    assert log.version == "14.1.317412892" and log.subgraphs is None
    assert log.tpu_ops == 19 and log.cpu_ops == 6  # from the table when the summary is absent


def test_parser_header_with_three_subgraphs():
    log = parse_log((FIX / "three_subgraphs_header.log").read_text())
    assert log.subgraphs == 3 and log.tpu_ops == 23 and log.cpu_ops == 2 and log.rows == ()


def test_parser_refuses_other_text():
    with pytest.raises(ConfigError, match="not an Edge TPU compiler log"):
        parse_log("hello\nworld\n")


def _fake(tmp_path: Path, body: str) -> Path:
    exe = tmp_path / "bin" / "edgetpu_compiler"
    exe.parent.mkdir(exist_ok=True)
    exe.write_text("#!/bin/sh\n" + body)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("m")
    f = d / "net.tflite"
    f.write_bytes(conv_int8("leaky"))
    return f


def test_fake_compiler_invocation_and_disagreement(tmp_path, model_file):
    # writes a log saying CONV_2D ops were cut (as real compilers do) and copies the input as its output
    log = (FIX / "yolov3_tiny_console.log").read_text().split("Operator")[0] + (
        "Operator                       Count      Status\n\n"
        "CONV_2D                        1          Mapped to Edge TPU\n"
        "DEPTHWISE_CONV_2D              1          Mapped to Edge TPU\n"
        "LEAKY_RELU                     1          Operation not supported\n"
        "CONV_2D                        1          More than one subgraph is not supported\n"
        "MEAN                           1          More than one subgraph is not supported\n"
        "FULLY_CONNECTED                1          Mapped to Edge TPU\n")
    (tmp_path / "log.txt").write_text(log)
    exe = _fake(tmp_path, f'out="$3"; in="$4"; b=$(basename "$in" .tflite)\n'
                          f'cp "$in" "$out/${{b}}_edgetpu.tflite"; cat "{tmp_path}/log.txt"\n')
    pred = analyze(model_file.read_bytes(), load_target("coral-edgetpu"))
    out = tmp_path / "out"
    res = compile_model(model_file, out, pred, compiler=exe, timeout_s=30)
    assert Path(res.compiled_path) == out / "net_edgetpu.tflite" and Path(res.compiled_path).is_file()
    assert res.placement.source == "compiler"
    assert [o.placement for o in res.placement.ops][-1] == "accelerator"
    assert res.disagreements == ("FULLY_CONNECTED: predicted 0 on the Edge TPU, the compiler mapped 1",)


def test_hanging_compiler_times_out_and_writes_nothing(tmp_path, model_file):
    exe = _fake(tmp_path, 'echo started; sleep 60 & sleep 60; wait\n')
    out = tmp_path / "out"
    pred = analyze(model_file.read_bytes(), load_target("coral-edgetpu"))
    with pytest.raises(RuntimeUnavailableError, match="did not finish within 1 s"):
        compile_model(model_file, out, pred, compiler=exe, timeout_s=1)
    assert not out.exists() or not any(out.iterdir())


def test_crashing_compiler_is_reported_and_writes_nothing(tmp_path, model_file):
    exe = _fake(tmp_path, 'out="$3"; echo "partial" > "$out/net_edgetpu.tflite"; echo "Internal compiler error"; '
                          'kill -ABRT $$\n')
    out = tmp_path / "out"
    pred = analyze(model_file.read_bytes(), load_target("coral-edgetpu"))
    with pytest.raises(RuntimeUnavailableError) as e:
        compile_model(model_file, out, pred, compiler=exe, timeout_s=30)
    assert "killed by signal 6" in str(e.value) and "Internal compiler error" in str(e.value)
    assert not out.exists() or not any(out.iterdir())


def test_explicit_compiler_path_must_exist(tmp_path, model_file):
    pred = analyze(model_file.read_bytes(), load_target("coral-edgetpu"))
    with pytest.raises(ConfigError, match="not an executable file"):
        compile_model(model_file, tmp_path, pred, compiler=tmp_path / "nope", timeout_s=5)
    assert os.listdir(tmp_path) == []
