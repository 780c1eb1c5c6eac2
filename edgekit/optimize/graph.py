"""Rewriting Keras 3 functional graphs: a Sequential as a functional view, private weight-true copies, each
layer's consumers, and re-calling the graph with a per-layer call function (``keras.models.clone_model``
with ``call_function``). Nested models are inlined so a rewrite sees every layer."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from edgekit._lazy import keras as _keras

OUTPUT = None  # the consumer recorded for a tensor that is a model output


def functional(model):
    """A functional model over the same layers (a Sequential is re-expressed; a functional one is returned)."""
    keras = _keras()
    if isinstance(model, keras.Sequential):
        return _model(model.inputs, model.outputs, model.name)
    return model


def _model(inputs: list, outputs: list, name: str):
    """A functional model; one input/output is passed bare, so calling it with one tensor raises no warning."""
    keras = _keras()
    return keras.Model(inputs[0] if len(inputs) == 1 else inputs, outputs[0] if len(outputs) == 1 else outputs,
                       name=name)


def copy_model(model):
    """An independent functional copy with the same weights: fine-tuning never touches the loaded model."""
    keras = _keras()
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return _model(clone.inputs, clone.outputs, model.name)  # functional, one input passed bare


def flat_layers(model) -> list:
    """Every layer, nested models expanded (depth-first, in model order)."""
    out = []
    for layer in model.layers:
        if is_model(layer):
            out.extend(flat_layers(layer))
        else:
            out.append(layer)
    return out


def is_model(layer) -> bool:
    keras = _keras()
    return isinstance(layer, keras.Model)


def producer(tensor):
    """The layer that produced a KerasTensor."""
    return tensor._keras_history.operation


def consumers(model) -> dict[int, list]:
    """id(layer) -> the layers that read its output(s) (OUTPUT for a model output), nested models included."""
    out: dict[int, list] = defaultdict(list)

    def walk(m):
        m = functional(m)
        for nodes in m._nodes_by_depth.values():
            for node in nodes:
                if node.is_input:
                    continue
                for t in node.input_tensors:
                    out[id(producer(t))].append(node.operation)
                if is_model(node.operation):
                    walk(node.operation)
        for t in m.outputs:
            out[id(producer(t))].append(OUTPUT)

    walk(model)
    return out


def inputs_of(model, layer) -> list:
    """The layers feeding ``layer`` (over all of its calls inside ``model``, nested models included)."""
    found = []

    def walk(m):
        m = functional(m)
        for nodes in m._nodes_by_depth.values():
            for node in nodes:
                if node.operation is layer and not node.is_input:
                    found.extend(producer(t) for t in node.input_tensors)
                elif is_model(node.operation):
                    walk(node.operation)

    walk(model)
    return found


def rewrite(model, call: Callable):
    """Re-run ``model``'s graph calling ``call(layer, *args, **kwargs)`` instead of each layer (layers are
    shared, not cloned). Nested models are inlined: ``call`` sees their layers, never the models."""
    keras = _keras()

    def call_fn(layer, *args, **kwargs):
        if is_model(layer):
            inner = functional(layer)
            return inner._run_through_graph(args[0] if len(args) == 1 else list(args), call_fn=call_fn)
        return call(layer, *args, **kwargs)

    out = keras.models.clone_model(functional(model), clone_function=lambda layer: layer, call_function=call_fn)
    return _model(out.inputs, out.outputs, model.name)
