"""Per-layer error of a QDQ ONNX model against its float graph, matched the way onnxruntime's
``qdq_loss_debug.create_activation_matching`` does: each quantized activation ``X`` (what consumers read,
``X_DequantizeLinear_Output``) against the float model's ``X``.

Both models are augmented with the matched tensors as extra graph outputs (ORT's own augmentation flattens
them, which loses the channel axis) and run one sample at a time, so memory does not grow with N."""

from __future__ import annotations

import numpy as np

from edgekit.fidelity.layers import LayerReport, _Acc

DQ_SUFFIX = "_DequantizeLinear_Output"


def _augmented_session(model, tensors: list[str]):
    """A session over ``model`` that also returns ``tensors`` (in that order, after the model's outputs)."""
    import onnx
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    m.graph.output.extend(onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None) for t in tensors if t not in have)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess, {o.name: i for i, o in enumerate(sess.get_outputs())}


def _scales(model) -> dict[str, tuple[float, str]]:
    """Activation -> (scale, type of the node that produces it) for every QuantizeLinear on an activation."""
    from onnx import numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    producer = {o: n.op_type for n in model.graph.node for o in n.output}
    out = {}
    for n in model.graph.node:
        if n.op_type == "QuantizeLinear" and n.input[0] not in inits and n.input[1] in inits:
            scale = numpy_helper.to_array(inits[n.input[1]])
            if scale.size == 1:
                out[n.input[0]] = (float(scale.reshape(-1)[0]), producer.get(n.input[0], "input"))
    return out


def layer_report(float_model: bytes, quantized_model: bytes, inputs: np.ndarray) -> LayerReport:
    """Compare every quantized activation of ``quantized_model`` (QDQ) with the same tensor of
    ``float_model`` (the graph it was quantized from) on ``inputs`` (N, *sample), one sample at a time."""
    import onnx

    from edgekit.quantize.onnx import _quiet

    fm, qm = onnx.load_from_string(float_model), onnx.load_from_string(quantized_model)
    scales = _scales(qm)
    ftensors = {o for n in fm.graph.node for o in n.output} | {i.name for i in fm.graph.input}
    qtensors = {o for n in qm.graph.node for o in n.output}
    names = [a for a in scales if a + DQ_SUFFIX in qtensors and a in ftensors]
    with _quiet():
        fs, fpos = _augmented_session(fm, names)
        qs, qpos = _augmented_session(qm, [t for a in names for t in (a, a + DQ_SUFFIX)])
        accs = {a: _Acc() for a in names}
        local = {a: _Acc() for a in names}  # the error this Q/DQ pair adds: its input vs its output
        iname = fs.get_inputs()[0].name
        for x in np.asarray(inputs, np.float32):
            fo = fs.run(None, {iname: x[None, ...]})
            qo = qs.run(None, {iname: x[None, ...]})
            for a in names:
                accs[a].add(fo[fpos[a]], qo[qpos[a + DQ_SUFFIX]])
                local[a].add(qo[qpos[a]], qo[qpos[a + DQ_SUFFIX]])
    layers = tuple(
        accs[a].result(a, scales[a][1], scales[a][0]).model_copy(update={"rel_error": local[a].result(a, "", None).rel_error})
        for a in names
    )
    return LayerReport(format="onnx", compare="model", samples=len(inputs), layers=layers)
