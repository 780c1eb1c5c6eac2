"""ONNX models built by hand with ``onnx.helper`` (a different tool than edgekit's tf2onnx exporter).

``digits_graph`` rebuilds the trained example CNN in NCHW layout with its real trained weights moved over
from the Keras model, so the hand-built model is a real classifier (same accuracy on the digits test set)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

IR_VERSION = 9  # what onnxruntime 1.2x reads; onnx.helper's default can be newer


def keras_weights(keras_path: Path) -> dict[str, np.ndarray]:
    """Trained weights of the example CNN, converted to ONNX NCHW conventions."""
    import keras

    m = keras.models.load_model(keras_path, compile=False)
    w = {layer.name: layer.get_weights() for layer in m.layers if layer.get_weights()}
    fc1 = w["fc1"][0].reshape(4, 4, 32, 64).transpose(2, 0, 1, 3).reshape(512, 64)  # HWC flatten -> CHW flatten
    return {
        "conv1.w": w["conv1"][0].transpose(3, 2, 0, 1), "conv1.b": w["conv1"][1],
        "conv2.w": w["conv2"][0].transpose(3, 2, 0, 1), "conv2.b": w["conv2"][1],
        "fc1.w": fc1, "fc1.b": w["fc1"][1],
        "fc2.w": w["probs"][0], "fc2.b": w["probs"][1],
    }


def digits_graph(
    weights: dict[str, np.ndarray],
    *,
    constants: bool = False,
    batch: int | str = "N",
    spatial: tuple = (8, 8),
    hidden_op: str = "Relu",
    opset: int = 17,
    ir_version: int = IR_VERSION,
) -> onnx.ModelProto:
    """The digits CNN as an ONNX graph. ``constants``: weights in ``Constant`` nodes, not initializers.
    ``hidden_op``: the activation after fc1 (``Tanh`` gives an op onnxruntime cannot quantize)."""
    nodes, inits = [], []
    for name, arr in weights.items():
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        if constants:
            nodes.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(arr, name)))
        else:
            inits.append(numpy_helper.from_array(arr, name))
    nodes += [
        helper.make_node("Conv", ["image", "conv1.w", "conv1.b"], ["c1"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "conv2.w", "conv2.b"], ["c2"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("MaxPool", ["r2"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "fc1.w", "fc1.b"], ["h"]),
        helper.make_node(hidden_op, ["h"], ["a"]),
        helper.make_node("Gemm", ["a", "fc2.w", "fc2.b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, 1, *spatial])
    y = helper.make_tensor_value_info("probs", TensorProto.FLOAT, [batch, 10])
    graph = helper.make_graph(nodes, "digits_by_hand", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir_version,
                              producer_name="onnx.helper (edgekit tests)")
    onnx.checker.check_model(model)
    return model


def nchw_npz(src: Path, dst: Path) -> Path:
    """The example's NHWC digits arrays as NCHW, for the hand-built ONNX model."""
    with np.load(src) as z:
        buf = io.BytesIO()
        np.savez(buf, x=z["x"].transpose(0, 3, 1, 2), y=z["y"])
    dst.write_bytes(buf.getvalue())
    return dst


def digit_images(src: Path, folder: Path, n: int = 120) -> Path:
    """A folder of real 8x8 grayscale PNG digits (one sub-folder per class), from the example's arrays."""
    from PIL import Image

    with np.load(src) as z:
        x, y = z["x"][:n, ..., 0], z["y"][:n]
    assert len(set(y.tolist())) == 10, "every class needs a sub-folder, or the labels would shift"
    for i, (img, label) in enumerate(zip(x, y)):
        d = folder / str(int(label))
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.round(img * 255).astype(np.uint8), mode="L").save(d / f"{i:04d}.png")
    return folder


def save(model: onnx.ModelProto, path: Path) -> Path:
    path.write_bytes(model.SerializeToString())
    return path
