"""A model's inputs as the conversion sees them: which are data, which are recurrent state (``--state``),
their initial state (``--state-init``), and the calibration samples a streaming model's quantizer gets."""

from __future__ import annotations

import numpy as np

from edgekit.errors import CalibrationError, ConfigError
from edgekit.models.base import SourceModel, TensorSpec
from edgekit.models.feed import Feed, Stream, run_stream


def _dims(shape) -> str:
    return "(" + ",".join("?" if d is None else str(d) for d in shape) + ")"


def make_stream(model: SourceModel, pairs, state_init: str | None) -> Stream | None:
    """The :class:`Stream` of ``--state OUT:IN`` pairs (None without any); bad names, shapes or dtypes raise
    ConfigError listing the model's inputs and outputs."""
    if not pairs:
        if state_init:
            raise ConfigError("--state-init needs --state OUT:IN pairs (which outputs feed which inputs)")
        return None
    ins = {t.name: t for t in model.inputs}
    state = []
    for out, inp in pairs:
        k = model.output_index(out)
        if k is None or inp not in ins:
            what = f"no output {out!r}" if k is None else f"no input {inp!r}"
            raise ConfigError(f"--state {out}:{inp}: the model has {what}; {model.io_text()}")
        o, i = model.outputs[k], ins[inp]
        if len(o.shape) != len(i.shape) or any(a is not None and b is not None and a != b
                                               for a, b in zip(o.shape[1:], i.shape[1:])) or o.dtype != i.dtype:
            raise ConfigError(
                f"--state {out}:{inp}: output {out!r} {_dims(o.shape)} {o.dtype} cannot feed input {inp!r} "
                f"{_dims(i.shape)} {i.dtype}: a state pair needs one shape and dtype; {model.io_text()}"
            )
        state.append((k, inp))
    if len(state) == len(model.inputs):
        raise ConfigError(f"--state: every input would be state, leaving no data input; {model.io_text()}")
    init = _init(model, [ins[n] for _, n in state], state_init)
    return Stream(inputs=tuple(t.name for t in model.inputs), state=tuple(state), init=tuple(init))


def _init(model: SourceModel, specs: list[TensorSpec], path: str | None) -> list[np.ndarray]:
    shapes = [tuple(1 if d is None else d for d in s.sample_shape) for s in specs]
    if path is None:
        return [np.zeros(s, np.float32) for s in shapes]
    from edgekit.quantize.calibration import load_data

    ds = load_data(path, specs, describe=model.io_text())
    return [np.asarray(ds.inputs[s.name][0], np.float32).reshape(shape) for s, shape in zip(specs, shapes)]


def data_specs(model: SourceModel, stream: Stream | None) -> list[TensorSpec]:
    """The inputs that data files feed (state inputs are carried, not fed)."""
    skip = set(stream.state_inputs) if stream is not None else set()
    return [t for t in model.inputs if t.name not in skip]


def eval_dataset(model: SourceModel, opts):
    """``opts.eval_data`` loaded for ``model`` (its data inputs; sequences for a streaming model): for
    callers outside the engine that score the source (sweep). None without eval data."""
    if opts.eval_data is None:
        return None
    from edgekit.quantize.calibration import load_data

    stream = make_stream(model, opts.state, opts.state_init)
    return load_data(opts.eval_data, data_specs(model, stream), opts.image, stream=stream, describe=model.io_text())


def calibration_arrays(model: SourceModel, x):
    """What a quantizer is fed: one input's array, ``{input name: array}`` for several inputs, and for a
    streaming model every input as fed frame by frame (state from the source model, carried from zero)."""
    if not isinstance(x, Feed):
        return x
    if x.stream is None:
        return dict(zip(x.names, x))
    _, fed = run_stream(model.predict, x, record=True)
    return dict(zip(x.stream.inputs, fed))


def check_finite(arrays, origin: str) -> None:
    for a in (arrays.values() if isinstance(arrays, dict) else [arrays]):
        if not np.isfinite(a).all():
            raise CalibrationError(f"{origin}: the source model's state becomes NaN/Inf on the calibration data")


__all__ = ["eval_dataset", "calibration_arrays", "check_finite", "data_specs", "make_stream"]
