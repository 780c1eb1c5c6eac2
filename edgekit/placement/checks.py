"""Named per-op checks a rule set can switch on (``checks = [...]`` in a rules file). One plain dict:
name -> function(op) returning None when the op passes, else the reason."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgekit.placement.graph import OpInfo


def _const_values(op: OpInfo, i: int) -> np.ndarray | None:
    t = op.inputs[i] if i < len(op.inputs) else None
    return None if t is None or t.values is None else t.values


def no_batch_axis_reduce(op: OpInfo) -> str | None:
    axes = _const_values(op, 1)
    if axes is None:
        return "reduction axes are not a compile-time constant"
    rank = len(op.inputs[0].shape) if op.inputs[0] else 0
    if any(int(a) % max(rank, 1) == 0 for a in axes.ravel()) and rank > 1:
        return "reduces over the batch dimension"
    return None


def no_batch_pad(op: OpInfo) -> str | None:
    pads = _const_values(op, 1)
    if pads is None:
        return "paddings are not a compile-time constant"
    if pads.size >= 2 and (int(pads.ravel()[0]) or int(pads.ravel()[1])):
        return "pads the batch dimension"
    return None


def squeeze_leading_ones(op: OpInfo) -> str | None:
    shape, out = tuple(op.inputs[0].shape), tuple(op.outputs[0].shape)
    first_big = next((i for i, d in enumerate(shape) if d > 1), len(shape))
    tail = shape[first_big:]
    if out[len(out) - len(tail):] == tail if tail else True:
        return None
    return f"squeezes {list(shape)} -> {list(out)}: a 1 after a dimension > 1 needs a relayout"


def concat_const_zero_pad(op: OpInfo) -> str | None:
    consts = [t for t in op.inputs if t is not None and t.is_const]
    if consts and len(op.inputs) != 2:
        return "has a constant input and more than 2 inputs"
    return None


def depthwise_multiplier(op: OpInfo) -> str | None:
    m = int(op.options.get("depth_multiplier", 1))
    cin = op.inputs[0].shape[-1] if op.inputs[0] and op.inputs[0].shape else 1
    if m != 1 and cin != 1:
        return "depth_multiplier != 1 && input.c != 1"
    return None


def fc_keep_num_dims(op: OpInfo) -> str | None:
    if op.options.get("keep_num_dims") and len(op.inputs[0].shape) != len(op.outputs[0].shape):
        return "keep_num_dims with input and output ranks that differ"
    return None


def runtime_input_not_const(op: OpInfo) -> str | None:
    return "input 0 is a constant" if op.inputs and op.inputs[0] is not None and op.inputs[0].is_const else None


def equal_dilation(op: OpInfo) -> str | None:
    h, w = op.options.get("dilation_h_factor", 1), op.options.get("dilation_w_factor", 1)
    return None if h == w else f"dilation {h}x{w} differs in x and y"


def fc_output_1d(op: OpInfo) -> str | None:
    return None if op.outputs[0].dims_gt1 <= 1 else f"output {list(op.outputs[0].shape)} is not one-dimensional"


def one_dim_input(op: OpInfo) -> str | None:
    return None if op.inputs[0].dims_gt1 <= 1 else f"input {list(op.inputs[0].shape)} is not 1-D"


CHECKS: dict[str, Callable[[OpInfo], str | None]] = {
    "no_batch_axis_reduce": no_batch_axis_reduce,
    "no_batch_pad": no_batch_pad,
    "squeeze_leading_ones": squeeze_leading_ones,
    "concat_const_zero_pad": concat_const_zero_pad,
    "depthwise_multiplier": depthwise_multiplier,
    "fc_keep_num_dims": fc_keep_num_dims,
    "runtime_input_not_const": runtime_input_not_const,
    "equal_dilation": equal_dilation,
    "fc_output_1d": fc_output_1d,
    "one_dim_input": one_dim_input,
}
