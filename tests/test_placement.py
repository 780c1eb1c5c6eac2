"""Placement rules checked against constructed models (real converter, real LiteRT for XNNPACK)."""

from __future__ import annotations

import pytest

from edgekit.errors import ConfigError, ModelLoadError
from edgekit.placement import analyze
from edgekit.placement.graph import read_graph
from edgekit.placement.rules import load_rules
from edgekit.targets import load_target
from tests.placement_nets import conv_fp16, conv_int8


@pytest.fixture(scope="module")
def nets():
    return {"ok": conv_int8(), "leaky": conv_int8("leaky"), "round16": conv_fp16("round"),
            "cumsum16": conv_fp16("cumsum")}


def test_reader_sees_builtin_ops_versions_options(nets):
    g = read_graph(nets["ok"])
    assert [o.op for o in g.ops] == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "MEAN", "FULLY_CONNECTED"]
    assert all(o.version >= 1 and not o.custom for o in g.ops)
    assert g.ops[0].options["fused_activation_function"] == 1  # RELU fused into the conv
    assert g.ops[0].inputs[0].dtype == "int8" and g.ops[0].inputs[1].is_const


def test_all_supported_int8_net_is_100_percent_edgetpu(nets):
    p = analyze(nets["ok"], load_target("coral-edgetpu"))
    assert p.accelerated_fraction == 1.0 and len(p.partitions) == 1
    assert {o.placement for o in p.ops} == {"accelerator"}
    assert p.summary_line == "coral-edgetpu: all 5 ops on the Edge TPU (100%), 1 partition"


def test_unsupported_op_in_the_middle_cuts_the_edgetpu_graph(nets):
    p = analyze(nets["leaky"], load_target("coral-edgetpu"))
    places = [(o.op, o.placement) for o in p.ops]
    assert places[:2] == [("CONV_2D", "accelerator"), ("DEPTHWISE_CONV_2D", "accelerator")]
    assert places[2] == ("LEAKY_RELU", "cpu")
    assert all(pl == "cpu" for _, pl in places[3:])  # CONV_2D after it is supported, but runs on the CPU
    assert "after the first unmappable op #2" in p.ops[3].reason
    assert [(x.placement, x.first, x.last) for x in p.partitions] == [("accelerator", 0, 1), ("cpu", 2, 5)]
    assert "\n" not in p.summary_line and "2 partitions" in p.summary_line and "LEAKY_RELU" in p.summary_line


def test_fp16_model_with_gpu_unsupported_op_lists_its_partitions(nets):
    p = analyze(nets["round16"], load_target("android-gpu"))
    rnd = next(o for o in p.ops if o.op == "ROUND")
    assert rnd.placement == "cpu" and "not supported by the GPU" in rnd.reason
    assert len(p.partitions) >= 3 and 0 < p.accelerated_fraction < 1
    # largest-partition policy: the supported ops before ROUND form the smaller partition and stay on the CPU
    assert any("largest partition" in o.reason for o in p.ops)
    assert p.model_dump(mode="json")["ops"][0].keys() == {"index", "op", "version", "placement", "reason"}


def test_xnnpack_placement_is_measured_from_litert(nets):
    p = analyze(nets["cumsum16"], load_target("rpi"))
    assert p.source == "measured" and "ai_edge_litert" in p.rules
    cums = next(o for o in p.ops if o.op == "CUMSUM")
    assert cums.placement == "cpu"
    assert p.accelerator_partitions == 2 and p.accelerated_ops == p.total_ops - 1
    full = analyze(nets["ok"], load_target("rpi"))
    assert full.accelerated_fraction == 1.0


def test_unknown_and_malformed_rule_sets(tmp_path):
    with pytest.raises(ConfigError, match="unknown placement rule set 'nope'"):
        load_rules("nope")
    bad = tmp_path / "r.toml"
    bad.write_text('name = "x"\naccelerator = "X"\nsource = "s"\npartition_policy = "sometimes"\n'
                   'tensor_types = ["int8"]\n[ops.CONV_2D]\nmax_version = 0\n')
    with pytest.raises(ConfigError) as e:
        load_rules(bad)
    assert "partition_policy" in str(e.value) and "ops.CONV_2D.max_version" in str(e.value)


def test_non_tflite_bytes_are_refused():
    with pytest.raises(ModelLoadError, match="not a TensorFlow Lite flatbuffer"):
        read_graph(b"PK\x03\x04 this is a zip")


def test_inspect_cli(nets, tmp_path, capsys):
    import json

    from typer.testing import CliRunner

    from edgekit.cli import app

    f = tmp_path / "m.tflite"
    f.write_bytes(nets["leaky"])
    r = CliRunner().invoke(app, ["inspect", str(f), "--target", "coral-edgetpu", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["placement"]["partitions"][0]["placement"] == "accelerator"
    assert out["edgetpu_compiler"]["ran"] is False
    txt = tmp_path / "m.onnx"
    txt.write_bytes(b"not a model")
    from edgekit.cli import main

    with pytest.raises(SystemExit) as e:
        main(["inspect", str(txt), "--target", "rpi"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "is not a .tflite model" in err and "Traceback" not in err
