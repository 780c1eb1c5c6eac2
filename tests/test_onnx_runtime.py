"""edgekit.runtimes.onnxruntime: the OrtRunner contract, on real models and the real onnxruntime."""

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgekit.errors import ModelLoadError
from edgekit.runtimes import open_runner
from edgekit.runtimes.onnxruntime import OrtRunner, max_opset


def affine(opset=17, ir_version=9, batch="N") -> onnx.ModelProto:
    w = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Relu", ["m"], ["y"])],
        "affine",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 3])],
        [numpy_helper.from_array(w, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir_version)


def test_runner_contract_bytes_and_path(tmp_path):
    model = affine()
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    want = np.maximum(x @ numpy_helper.to_array(model.graph.initializer[0]), 0)
    path = tmp_path / "affine.onnx"
    path.write_bytes(model.SerializeToString())
    for src in (model.SerializeToString(), path):
        with open_runner("onnxruntime", src, threads=2) as r:
            assert isinstance(r, OrtRunner)
            assert [(i.name, i.shape, i.dtype) for i in r.inputs] == [("x", (1, 4), "float32")]  # dynamic batch -> 1
            assert [(o.name, o.shape) for o in r.outputs] == [("y", (1, 3))]
            assert r.version == onnxruntime.__version__
            (y,) = r.infer([x])
            np.testing.assert_allclose(y, want, rtol=1e-6)
            assert y.dtype == np.float32
            (raw,) = r.infer_raw([x])
            np.testing.assert_array_equal(raw, y)
    r.close()
    assert r._b is None  # released


def test_corrupt_bytes_are_a_load_error():
    with pytest.raises(ModelLoadError, match="onnxruntime .* cannot load this model"):
        OrtRunner(b"\x08\x07garbage that is not a model")


def test_too_new_ir_version_says_what_to_do():
    with pytest.raises(ModelLoadError, match=r"IR version 99 is newer than onnxruntime .* reads \(up to \d+\).*ir_version="):
        OrtRunner(affine(ir_version=99).SerializeToString())


def test_unsupported_opset_names_the_limit():
    top = max_opset()
    assert top >= 17
    OrtRunner(affine(opset=top).SerializeToString()).close()
    with pytest.raises(ModelLoadError, match=rf"unsupported opset {top + 1}: .* up to opset {top}.*Re-export"):
        OrtRunner(affine(opset=top + 1).SerializeToString())
