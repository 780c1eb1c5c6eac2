"""Several inputs, and stateful streaming: what a multi-input or streaming dataset hands to a model runner.

A :class:`Feed` is one array per model data input (a ``list``, so code that feeds ``[x]`` keeps working),
with the input names and, for a streaming model, its :class:`Stream`: which outputs feed which inputs on the
next step. :func:`run_stream` runs N sequences ``(N, T, *frame)`` frame by frame from the initial state,
carrying the state, and returns the per-frame outputs ``(N*T, ...)`` (sequence-major)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Stream:
    """A stateful model's step: ``inputs`` every model input in order; ``state`` (output index, input name)
    pairs; ``init`` one sample's initial value of each state input (zeros, or ``--state-init``)."""

    inputs: tuple[str, ...]
    state: tuple[tuple[int, str], ...]
    init: tuple[np.ndarray, ...]

    @property
    def state_inputs(self) -> tuple[str, ...]:
        return tuple(name for _, name in self.state)


class Feed(list):
    """One array per data input (model order), with ``names`` and the ``stream`` (None: not streaming)."""

    def __init__(self, arrays, names, stream: Stream | None = None):
        super().__init__(arrays)
        self.names = list(names)
        self.stream = stream

    @property
    def samples(self) -> int:
        return len(self[0])


def as_list(x) -> list[np.ndarray]:
    """``x`` as one array per input: a Feed or list as it is, a bare array as a one-input list."""
    return list(x) if isinstance(x, (list, tuple)) else [x]


def run_stream(step: Callable[[list[np.ndarray]], list[np.ndarray]], feed: Feed,
               record: bool = False) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Run ``feed``'s N sequences frame by frame through ``step`` (all N at once per frame), carrying each
    state output into its input. Returns per-frame outputs ``(N*T, ...)`` and, with ``record``, every model
    input as fed at each frame ``(N*T, ...)`` (the calibration samples of a streaming model)."""
    s = feed.stream
    n, steps = len(feed[0]), feed[0].shape[1]
    data = dict(zip(feed.names, feed))
    state = {name: np.repeat(np.asarray(init, np.float32)[None], n, axis=0) for (_, name), init in zip(s.state, s.init)}
    outs, fed = [], []
    for t in range(steps):
        xs = [data[name][:, t] if name in data else state[name] for name in s.inputs]
        out = step(xs)
        if record:
            fed.append(xs)
        for idx, name in s.state:
            state[name] = np.asarray(out[idx], np.float32).reshape(state[name].shape)
        outs.append(out)

    def frames(per_step: list[list[np.ndarray]], k: int) -> np.ndarray:
        a = np.stack([np.asarray(p[k]) for p in per_step], axis=1)
        return a.reshape((n * steps,) + a.shape[2:])

    outputs = [frames(outs, k) for k in range(len(outs[0]))]
    return outputs, ([frames(fed, k) for k in range(len(s.inputs))] if record else None)


def flat_inputs(feed: Feed) -> tuple[list[str], list[np.ndarray]]:
    """Every model input as independent samples: a streaming Feed's frames ``(N*T, *frame)`` with the state
    inputs at their initial value (for comparing two runtimes on the same inputs, not for fidelity)."""
    if feed.stream is None:
        return list(feed.names), list(feed)
    s, data = feed.stream, dict(zip(feed.names, feed))
    n = len(feed[0]) * feed[0].shape[1]
    init = dict(zip(s.state_inputs, s.init))
    arrays = [data[k].reshape((n,) + data[k].shape[2:]) if k in data
              else np.repeat(np.asarray(init[k], np.float32)[None], n, axis=0) for k in s.inputs]
    return list(s.inputs), arrays
