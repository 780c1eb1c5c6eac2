"""edgekit.models.onnx: loading real ONNX files (checked, shape-fixed, weights normalised, external data)."""

import numpy as np
import onnx
import onnx_nets
import pytest
from onnx.external_data_helper import convert_model_to_external_data

from edgekit.errors import ConfigError, ModelLoadError
from edgekit.models import load_model
from edgekit.models.onnx import constants_to_initializers, parse_input_shape


def test_hand_built_model_loads_and_predicts_like_keras(example, digits_onnx):
    import keras

    m = load_model(digits_onnx.model)
    assert m.format == "onnx" and m.tf_function is None and m.onnx_model is not None
    assert [(t.name, t.shape, t.dtype) for t in m.inputs] == [("image", (None, 1, 8, 8), "float32")]
    assert [(t.name, t.shape) for t in m.outputs] == [("probs", (None, 10))] and m.is_classifier
    with np.load(digits_onnx.test) as z:
        x = z["x"]
    (got,) = m.predict([x[:70]])  # fp32 in onnxruntime
    want = keras.models.load_model(example.model, compile=False).predict(x[:70].transpose(0, 2, 3, 1), verbose=0)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_fixed_batch_model_predicts_any_number_of_samples(digits_onnx, tmp_path):
    p = onnx_nets.save(onnx_nets.digits_graph(digits_onnx.weights, batch=4), tmp_path / "b4.onnx")
    m = load_model(p)
    assert m.input.shape == (4, 1, 8, 8)
    with np.load(digits_onnx.test) as z:
        x = z["x"][:10]
    (y,) = m.predict([x])
    (ref,) = load_model(digits_onnx.model).predict([x])
    assert y.shape == (10, 10)
    np.testing.assert_allclose(y, ref, atol=1e-6)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x0a\xff\xff\xff\xff\x0f", "not a readable ONNX file.*corrupt or truncated"),
        (b"\x08\x07", "not a valid ONNX model .*corrupt, truncated or not ONNX"),
    ],
)
def test_corrupt_files(tmp_path, content, message):
    p = tmp_path / "bad.onnx"
    p.write_bytes(content)
    with pytest.raises(ModelLoadError, match=message):
        load_model(p)


def test_truncated_file(digits_onnx, tmp_path):
    data = digits_onnx.model.read_bytes()
    p = tmp_path / "cut.onnx"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match=r"cut.onnx: not a (readable|valid) ONNX"):
        load_model(p)


def test_checker_rejects_an_invalid_graph(digits_onnx, tmp_path):
    model = onnx_nets.digits_graph(digits_onnx.weights)
    model.graph.node[1].input[0] = "no_such_tensor"
    p = onnx_nets.save(model, tmp_path / "dangling.onnx")
    with pytest.raises(ModelLoadError, match="onnx.checker rejects the model.*no_such_tensor"):
        load_model(p)


def test_constant_nodes_become_initializers(digits_onnx, tmp_path):
    model = onnx_nets.digits_graph(digits_onnx.weights, constants=True)
    assert not model.graph.initializer
    assert constants_to_initializers(model) == 8
    assert sorted(i.name for i in model.graph.initializer) == sorted(digits_onnx.weights)
    assert not [n for n in model.graph.node if n.op_type == "Constant"]
    p = onnx_nets.save(onnx_nets.digits_graph(digits_onnx.weights, constants=True), tmp_path / "const.onnx")
    m = load_model(p)
    assert any("moved 8 Constant node(s)" in n for n in m.notes)
    with np.load(digits_onnx.test) as z:
        x = z["x"][:20]
    np.testing.assert_array_equal(m.predict([x])[0], load_model(digits_onnx.model).predict([x])[0])


def test_external_data_beside_the_model_loads(digits_onnx, tmp_path):
    model = onnx_nets.digits_graph(digits_onnx.weights)
    convert_model_to_external_data(model, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    onnx.save_model(model, str(tmp_path / "ext.onnx"))
    assert (tmp_path / "weights.bin").is_file()
    m = load_model(tmp_path / "ext.onnx")
    assert any("external data" in n for n in m.notes)
    with np.load(digits_onnx.test) as z:
        x = z["x"][:5]
    np.testing.assert_array_equal(m.predict([x])[0], load_model(digits_onnx.model).predict([x])[0])


@pytest.mark.parametrize("location", ["../outside.bin", "/etc/passwd", "sub/../../outside.bin"])
def test_external_data_outside_the_folder_is_refused(digits_onnx, tmp_path, location):
    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "outside.bin").write_bytes(b"\0" * 8192)
    model = onnx_nets.digits_graph(digits_onnx.weights)
    convert_model_to_external_data(model, all_tensors_to_one_file=True, location="w.bin", size_threshold=0)
    for t in model.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = location
    p = folder / "evil.onnx"
    p.write_bytes(model.SerializeToString())
    with pytest.raises(ModelLoadError, match="outside the model's folder.*move the data file there"):
        load_model(p)


def test_missing_external_data_file(digits_onnx, tmp_path):
    model = onnx_nets.digits_graph(digits_onnx.weights)
    convert_model_to_external_data(model, all_tensors_to_one_file=True, location="w.bin", size_threshold=0)
    p = tmp_path / "m.onnx"
    p.write_bytes(model.SerializeToString())  # the .bin is never written
    with pytest.raises(ModelLoadError, match="needs external data file 'w.bin', which is missing"):
        load_model(p)


def test_dynamic_spatial_dims_need_input_shape(digits_onnx, tmp_path):
    p = onnx_nets.save(onnx_nets.digits_graph(digits_onnx.weights, spatial=("H", "W")), tmp_path / "dyn.onnx")
    with pytest.raises(ConfigError, match=r"dynamic dimensions \(N,1,H,W\).*--input-shape image:1,1,H,W"):
        load_model(p)
    m = load_model(p, input_shape="image:1,1,8,8")
    assert m.input.shape == (1, 1, 8, 8) and m.outputs[0].shape == (1, 10)
    assert load_model(p, input_shape="3,1,8,8").input.shape == (3, 1, 8, 8)


@pytest.mark.parametrize(
    "shape, message",
    [
        ("1,1,8", r"has rank 4 .*give 4 dimensions"),
        ("other:1,1,8,8", "no input 'other'; its inputs: image"),
        ("1,3,8,8", "fixed dimension 1 of 1, not 3"),
        ("1,x,8,8", "expected positive comma-separated dimensions"),
        ("1,0,8,8", "expected positive comma-separated dimensions"),
    ],
)
def test_bad_input_shapes(digits_onnx, shape, message):
    with pytest.raises(ConfigError, match=message):
        load_model(digits_onnx.model, input_shape=shape)


def test_parse_input_shape_forms():
    assert parse_input_shape("1,3,32,32") == {None: (1, 3, 32, 32)}
    assert parse_input_shape("a:1,2; b:3,4") == {"a": (1, 2), "b": (3, 4)}
    assert parse_input_shape((1, 2)) == {None: (1, 2)}
    assert parse_input_shape({"x": [1, 2]}) == {"x": (1, 2)}
    assert parse_input_shape(None) == {}


def test_too_new_opset_is_refused_with_the_limit(digits_onnx, tmp_path):
    from edgekit.runtimes.onnxruntime import max_opset

    model = onnx_nets.digits_graph(digits_onnx.weights)
    model.opset_import[0].version = max_opset() + 1
    p = onnx_nets.save(model, tmp_path / "future.onnx")
    with pytest.raises(ModelLoadError, match=rf"unsupported opset {max_opset() + 1}: .*up to opset {max_opset()}"):
        load_model(p)
