"""Magnitude pruning of Keras 3 Conv/Dense/DepthwiseConv kernels, native (no tfmot, no tf_keras).

* Unstructured: each selected kernel reaches the target sparsity by a polynomial-decay schedule
  (s(t) = s_f * (1 - (1 - t/T)^3), tfmot's default shape) over the first ~70% of the fine-tuning steps; the
  smallest-magnitude weights are zeroed at each mask update.
* N:M (e.g. 2:4): in every block of M consecutive weights along the input-channel (reduction) axis, the N
  largest survive. That axis is the innermost one of TFLite's weight layout, so the blocks are contiguous
  in the artifact. Depthwise kernels (no reduction over channels) and layers whose input channels are not a
  multiple of M are skipped and listed.

Masks stay applied through optimizer steps: a Keras callback re-applies them after every batch. ``strip``
applies them a last time and leaves a plain Keras model (no wrapper layers were ever added).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase

import numpy as np

from edgekit._lazy import keras as _keras
from edgekit.errors import ConfigError
from edgekit.optimize.graph import flat_layers

SCHEDULE_END = 0.7  # fraction of the fine-tuning steps over which sparsity ramps up
SCHEDULE_UPDATES = 16  # mask updates while ramping
POWER = 3


@dataclass
class Target:
    """One prunable kernel variable and its mask."""

    layer: str
    attr: str  # "kernel" | "depthwise_kernel" | "pointwise_kernel"
    kind: str  # "dense" | "conv" | "depthwise"
    variable: object
    mask: np.ndarray | None = None
    mask_var: object = None

    @property
    def key(self) -> str:
        return f"{self.layer}/{self.attr}"


@dataclass
class Selection:
    targets: list[Target]
    skipped: list[dict] = field(default_factory=list)  # {"layer", "reason"}


def _kernels(layer) -> list[tuple[str, str]]:
    """(attribute, kind) of the prunable kernels of a layer, by Keras class."""
    L = _keras().layers
    if isinstance(layer, L.SeparableConv1D | L.SeparableConv2D):
        return [("depthwise_kernel", "depthwise"), ("pointwise_kernel", "conv")]
    if isinstance(layer, L.DepthwiseConv1D | L.DepthwiseConv2D):
        return [("kernel", "depthwise")]
    if isinstance(layer, L.Conv1D | L.Conv2D | L.Conv3D):  # Conv*Transpose are not prunable here
        return [("kernel", "conv")] if not type(layer).__name__.endswith("Transpose") else []
    if isinstance(layer, L.Dense):
        return [("kernel", "dense")]
    return []


def select(
    model, include: tuple[str, ...] = (), exclude: tuple[str, ...] = (), nm: tuple[int, int] | None = None
) -> Selection:
    """The kernels to prune: prunable layers matching ``include`` (all if empty) and not ``exclude``."""
    prunable = [(layer, attr, kind) for layer in flat_layers(model) for attr, kind in _kernels(layer)]
    names = sorted({layer.name for layer, _, _ in prunable})
    if not prunable:
        raise ConfigError("--prune: the model has no Conv/Dense/DepthwiseConv kernels to prune")
    for flag, globs in (("--prune-include", include), ("--prune-exclude", exclude)):
        for g in globs:
            if not any(fnmatchcase(n, g) for n in names):
                raise ConfigError(f"{flag} {g!r} matches no prunable layer; prunable layers: {', '.join(names)}")
    sel = Selection(targets=[])
    for layer, attr, kind in prunable:
        if include and not any(fnmatchcase(layer.name, g) for g in include):
            continue
        if any(fnmatchcase(layer.name, g) for g in exclude):
            sel.skipped.append({"layer": layer.name, "kernel": attr, "reason": "excluded by --prune-exclude"})
            continue
        var = getattr(layer, attr)
        if nm is not None:
            why = _nm_unsupported(kind, tuple(var.shape), nm[1])
            if why:
                sel.skipped.append({"layer": layer.name, "kernel": attr, "reason": why})
                continue
        sel.targets.append(Target(layer=layer.name, attr=attr, kind=kind, variable=var))
    if not sel.targets:
        detail = "; ".join(f"{s['layer']}: {s['reason']}" for s in sel.skipped)
        raise ConfigError(f"--prune: no layer left to prune ({detail or 'none selected by --prune-include'})")
    return sel


def _nm_unsupported(kind: str, shape: tuple[int, ...], m: int) -> str | None:
    if kind == "depthwise":
        return "depthwise kernels have no input-channel reduction to hold N:M blocks"
    cin = shape[-2]
    if cin % m:
        return f"{cin} input channels is not a multiple of M={m}"
    return None


def magnitude_mask(w: np.ndarray, sparsity: float) -> np.ndarray:
    """Keep-mask zeroing exactly round(sparsity * size) smallest-|w| entries (stable ties: deterministic)."""
    k = int(round(sparsity * w.size))
    keep = np.ones(w.size, dtype=bool)
    if k > 0:
        order = np.argsort(np.abs(w).ravel(), kind="stable")
        keep[order[:k]] = False
    return keep.reshape(w.shape)


def nm_mask(w: np.ndarray, n: int, m: int) -> np.ndarray:
    """Keep-mask with the N largest |w| of every M consecutive weights along the input-channel axis (-2)."""
    moved = np.moveaxis(np.abs(w), -2, -1)  # (..., out, in): blocks run along `in`
    blocks = moved.reshape(-1, m)
    order = np.argsort(-blocks, axis=1, kind="stable")
    keep = np.zeros_like(blocks, dtype=bool)
    np.put_along_axis(keep, order[:, :n], True, axis=1)
    return np.moveaxis(keep.reshape(moved.shape), -1, -2)


def schedule(step: int, end_step: int, final: float) -> float:
    """Polynomial decay from 0 to ``final`` sparsity at ``end_step`` (then constant)."""
    if end_step <= 0 or step >= end_step:
        return final
    return final * (1.0 - (1.0 - step / end_step) ** POWER)


class Pruner:
    """Holds the masks of a selection and updates/applies them; ``callback()`` hooks it into ``fit``."""

    def __init__(self, selection: Selection, prune: float | tuple[int, int], total_steps: int):
        self.sel = selection
        self.nm = prune if isinstance(prune, tuple) else None
        self.final = None if self.nm else float(prune)
        self.end_step = max(1, int(SCHEDULE_END * total_steps))
        self.every = max(1, self.end_step // SCHEDULE_UPDATES)
        self.step = 0
        self.update_masks(0)

    def update_masks(self, step: int) -> None:
        keras = _keras()
        for t in self.sel.targets:
            w = np.asarray(t.variable)
            if self.nm:
                if t.mask is None:  # N:M masks are chosen once, from the trained weights
                    t.mask = nm_mask(w, *self.nm)
            else:
                t.mask = magnitude_mask(w, schedule(step, self.end_step, self.final))
            if t.mask_var is None:
                t.mask_var = keras.Variable(t.mask.astype(np.float32), trainable=False, name=f"mask_{t.layer}")
            else:
                t.mask_var.assign(t.mask.astype(np.float32))
        self.apply()

    def apply(self) -> None:
        ops = _keras().ops
        for t in self.sel.targets:
            t.variable.assign(ops.multiply(t.variable, t.mask_var))

    def callback(self):
        pruner = self

        class MaskCallback(_keras().callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                s = pruner.step
                due = s % pruner.every == 0 or s == pruner.end_step
                if pruner.final is not None and s <= pruner.end_step and due:
                    pruner.update_masks(s)

            def on_train_batch_end(self, batch, logs=None):
                pruner.step += 1
                pruner.apply()  # the optimizer step may have moved masked weights off zero

            def on_train_end(self, logs=None):
                if pruner.final is not None:
                    pruner.update_masks(max(pruner.step, pruner.end_step))  # the final sparsity, whatever the steps
                pruner.apply()

        return MaskCallback()

    def strip(self) -> list[dict]:
        """Apply the masks a last time; the model is left plain Keras. Returns per-kernel sparsity as measured."""
        self.apply()
        rows = []
        for t in self.sel.targets:
            w = np.asarray(t.variable)
            rows.append(
                {
                    "layer": t.layer,
                    "kernel": t.attr,
                    "shape": list(w.shape),
                    "weights": int(w.size),
                    "sparsity": float((w == 0).mean()),
                }
            )
        return rows


def fixed_mask_callback(variables_and_masks: list[tuple[object, np.ndarray]]):
    """Keep already-pruned kernels pruned while something else (QAT) fine-tunes the model."""
    k = _keras()
    pairs = [(v, k.Variable(m.astype(np.float32), trainable=False)) for v, m in variables_and_masks]

    class KeepPruned(k.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            for v, m in pairs:
                v.assign(k.ops.multiply(v, m))

    return KeepPruned()
