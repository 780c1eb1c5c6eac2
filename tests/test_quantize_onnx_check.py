"""ONNX quantization that always yields a loadable model: canonical names, load check, bisection.

Real onnxruntime quantizer and sessions throughout. The tf2onnx Conv1D export of issue 11 did not reproduce
the Concat-rank failure here (onnxruntime 1.32), so the collision and the bisection are tested on graphs
broken on purpose: an activation named like the quantizer's derived weight name (``W_quantized``: the
quantizer itself fails), and a weight whose quantization sends a Log's input to 0 (-inf output)."""

import re

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

from kw import convert
from edgekit.errors import ConversionError
from edgekit.quantize import onnx as q
from edgekit.quantize.onnx_check import canonicalize, quantize_checked
from edgekit.targets import Precision, load_target

OPTS = q.options(load_target("x86-ort"))
RNG = np.random.default_rng(0)


def _model(nodes, inits, outputs, in_shape=(1, 1, 8, 8), out_shape=(1, 4, 8, 8)):
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, list(in_shape))],
                     [h.make_tensor_value_info(n, T.FLOAT, list(out_shape)) for n in outputs], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def _run(model, x):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})


def collision_model():
    """Conv -> Relu -> Conv, the Relu's output named as the quantizer names the first weight's int8 copy."""
    w1 = nh.from_array(RNG.standard_normal((4, 1, 3, 3)).astype("float32"), "W")
    w2 = nh.from_array(RNG.standard_normal((4, 4, 3, 3)).astype("float32"), "W2")
    nodes = [h.make_node("Conv", ["x", "W"], ["model/conv;model/conv/BiasAdd"], name="conv", pads=[1, 1, 1, 1]),
             h.make_node("Relu", ["model/conv;model/conv/BiasAdd"], ["W_quantized"], name="relu"),
             h.make_node("Conv", ["W_quantized", "W2"], ["y"], name="conv_1", pads=[1, 1, 1, 1])]
    return _model(nodes, [w1, w2], ["y"])


def log_model():
    """x -> MatMul(eye) -> MatMul(w) -> Log. w's 1e-3 row vanishes in int8: m = 0 and Log gives -inf."""
    w = np.zeros((4, 4), "float32")
    w[0], w[1], w[2] = 1.0, -1.0, 1e-3
    nodes = [h.make_node("MatMul", ["x", "W0"], ["p"], name="model/dense/MatMul;model/dense/BiasAdd"),
             h.make_node("MatMul", ["p", "W1"], ["m"], name="model/dense_1/MatMul"),
             h.make_node("Log", ["m"], ["y"], name="model/log")]
    return _model(nodes, [nh.from_array(np.eye(4, dtype="float32"), "W0"), nh.from_array(w, "W1")], ["y"], (1, 4), (1, 4))


def test_canonical_names_keep_graph_io_and_results():
    model = collision_model()
    canon, back = canonicalize(model)
    names = {n for node in canon.graph.node for n in list(node.input) + list(node.output)}
    assert names - {"x", "y"} and all(re.fullmatch(r"t\d+", n) for n in names - {"x", "y"})
    assert all(re.fullmatch(r"n\d+", n.name) for n in canon.graph.node)
    assert set(back.values()) == {"W", "W2", "model/conv;model/conv/BiasAdd", "W_quantized", "conv", "relu", "conv_1"}
    x = RNG.standard_normal((1, 1, 8, 8)).astype("float32")
    np.testing.assert_array_equal(_run(model, x)[0], _run(canon, x)[0])


def test_renaming_fixes_a_name_collision():
    model, cal = collision_model(), RNG.standard_normal((16, 1, 8, 8)).astype("float32")
    with pytest.raises(ConversionError, match="W_quantized"):  # plain ORT quantization trips on the names
        q.quantize(model, Precision.INT8, OPTS, cal)
    out, check = quantize_checked(model, Precision.INT8, OPTS, cal)
    assert check.excluded_nodes == () and check.first_failure is None and check.attempts == 1
    assert "W_quantized" in check.name_map.values()
    assert {n.op_type for n in out.graph.node} >= {"QuantizeLinear", "DequantizeLinear"}
    # mapped back, the names collide again (the Relu's W_quantized vs the weight's): the artifact keeps t<i>
    assert check.artifact_names == "canonical"
    a, b = _run(model, cal[:1])[0].ravel(), _run(out, cal[:1])[0].ravel()
    assert float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) > 0.99


def test_bisection_leaves_the_breaking_node_in_float():
    model, cal = log_model(), np.ones((8, 4), "float32")
    assert np.isfinite(_run(model, cal[:1])[0]).all()
    out, check = quantize_checked(model, Precision.INT8, OPTS, cal)
    assert [(e.node, e.op_type) for e in check.excluded_nodes] == [("model/dense_1/MatMul", "MatMul")]
    assert "not finite" in check.excluded_nodes[0].reason and "not finite" in check.first_failure
    assert np.isfinite(_run(out, cal[:1])[0]).all()
    nodes = {n.name: n for n in out.graph.node}
    assert check.artifact_names == "original"
    assert nodes["model/dense_1/MatMul"].input[1] == "W1"  # the float weight, no DequantizeLinear
    again, _ = quantize_checked(model, Precision.INT8, OPTS, cal)
    assert again.SerializeToString() == out.SerializeToString()  # deterministic


def test_a_model_no_exclusion_can_fix_is_refused():
    nodes = [h.make_node("MatMul", ["x", "W0"], ["m"], name="mm"), h.make_node("Log", ["m"], ["y"], name="log")]
    model = _model(nodes, [nh.from_array(-np.eye(4, dtype="float32"), "W0")], ["y"], (1, 4), (1, 4))
    with pytest.raises(ConversionError, match="even with every quantizable node left in float") as e:
        quantize_checked(model, Precision.INT8, OPTS, np.ones((4, 4), "float32"))
    assert "\n" not in str(e.value)


def test_convert_records_the_check_and_the_excluded_nodes(tmp_path):
    src = tmp_path / "log.onnx"
    onnx.save_model(log_model(), str(src))
    np.savez(tmp_path / "cal.npz", x=np.ones((8, 4), "float32"))
    r = convert(src, target="x86-ort", output_dir=tmp_path / "out", calibration=tmp_path / "cal.npz")
    art = r.manifest.to_json()["artifacts"][0]
    chk = art["quantization_check"]
    assert [e["node"] for e in chk["excluded_nodes"]] == ["model/dense_1/MatMul"]
    assert chk["name_map"]["n1"] == "model/dense_1/MatMul"
    assert any("left in float" in w and "model/dense_1/MatMul" in w for w in r.warnings)
    assert np.isfinite(_run(onnx.load(str(r.artifact_paths[0])), np.ones((1, 4), "float32"))[0]).all()


def test_canonical_names_step_around_graph_io_named_like_them():
    w = nh.from_array(RNG.standard_normal((4, 4)).astype("float32"), "w")
    nodes = [h.make_node("MatMul", ["x", "w"], ["m"], name="mm"), h.make_node("Relu", ["m"], ["t0"], name="relu")]
    model = _model(nodes, [w], ["t0"], (1, 4), (1, 4))
    canon, back = canonicalize(model)
    assert [o.name for o in canon.graph.output] == ["t0"] and back == {"t0_": "w", "t1": "m", "n0": "mm", "n1": "relu"}
    out, check = quantize_checked(model, Precision.INT8, OPTS, RNG.standard_normal((8, 4)).astype("float32"))
    assert check.artifact_names == "original"
    assert {i.name for i in out.graph.initializer} >= {"w_quantized", "w_scale", "x_scale"}
