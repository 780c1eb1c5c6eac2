"""Prune and/or QAT a loaded Keras model before it is converted: the step between loading and emission.

``optimize`` fine-tunes a private copy of the model (pruning first, then QAT, each for ``epochs``) and
returns a re-wrapped SourceModel plus the manifest's "optimization" section; ``add_artifact`` adds what the
emitted artifact holds (kernel sparsity read back with LiteRT, raw and gzip bytes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edgekit.errors import ConfigError
from edgekit.models.base import SourceModel
from edgekit.options.optimize import OptimizeOptions
from edgekit.quantize.calibration import Dataset, ImageOptions

QAT_CALIBRATION_SAMPLES = 1024  # training inputs that set the initial activation ranges


def check_plan(opts: OptimizeOptions, model: SourceModel, profile, precision, formats: list[str]) -> None:
    """Fail before any training when the options cannot produce what the target asks for."""
    if model.keras_model is None:
        raise ConfigError(
            f"{model.path}: --prune/--qat fine-tune Keras models (.keras, .h5); a {model.format} model has no "
            "Keras graph to train. Convert the Keras original instead"
        )
    if opts.qat and precision.value != "int8":
        raise ConfigError(
            f"--qat trains for int8, but this conversion builds {precision.value} (target {profile.name!r}). "
            "Pass --precision int8 or drop --qat"
        )
    if opts.qat and any(f != "tflite" for f in formats):
        raise ConfigError(
            f"--qat emits TFLite (the converter reads the learned fake-quant ranges); drop the other formats "
            f"({', '.join(f for f in formats if f != 'tflite')}) with --format tflite"
        )


@dataclass
class Optimized:
    """The manifest's "optimization" section, and the pruned kernels to look for in each artifact."""

    section: dict
    kernels: list[dict] = field(default_factory=list)  # {"layer", "kernel", "kind", "zeros"}
    nm: tuple[int, int] | None = None
    warnings: list[str] = field(default_factory=list)

    def add_artifact(self, path: str, art) -> None:
        """Record an emitted artifact's size (raw, gzip) and, for TFLite, the pruned kernels as stored in it."""
        from edgekit.optimize import artifact

        if art.format == "tflite":
            rep = artifact.report(art.data, self.kernels, self.nm)
        else:
            rep = {"bytes": len(art.data), "gzip_bytes": artifact.gzip_size(art.data), "kernels": []}
        self.section["artifacts"].append({"path": path, **rep})

    def manifest(self) -> dict:
        return self.section


def _accuracy(km, ds: Dataset) -> float | None:
    if ds is None or ds.y is None:
        return None
    from edgekit.fidelity.metrics import accuracy

    y = np.concatenate([np.asarray(km(ds.x[i : i + 256], training=False)) for i in range(0, len(ds.x), 256)])
    return accuracy([y], ds.y)


def optimize(
    model: SourceModel,
    opts: OptimizeOptions,
    *,
    val: Dataset | None,
    seed: int = 0,
    image_options: ImageOptions | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> tuple[SourceModel, Optimized]:
    """Fine-tune a copy of ``model``: prune (if asked), then QAT (if asked); accuracy before and after."""
    from edgekit.models.keras import wrap
    from edgekit.optimize.graph import copy_model
    from edgekit.optimize.train import load_train_data, resolve_loss

    stage = on_stage or (lambda _: None)
    stage("loading training data")
    train = load_train_data(opts.train_data, model, image_options)
    loss, loss_desc = resolve_loss(model, opts.loss, train.x)
    work = copy_model(model.keras_model)
    section = _new_section(opts, seed, loss_desc, train, val, _accuracy(work, val))
    kept: list[dict] = []
    nm = opts.prune if isinstance(opts.prune, tuple) else None
    if opts.prune is not None:
        kept = _prune(work, train, opts, loss, seed, stage, section)
    if opts.qat:
        work = _qat(work, train, opts, loss, seed, stage, section, kept, val)
    section["accuracy"]["optimized"] = _accuracy(work, val)
    out = Optimized(section, kept, nm, _fine_tuned_on_eval_data(val, train))
    return wrap(work, path=model.path, sha256=model.sha256, fmt=model.format), out


def _new_section(opts: OptimizeOptions, seed: int, loss_desc, train: Dataset, val: Dataset | None, original) -> dict:
    """The manifest's "optimization" section before any fine-tuning (``original``: the model's accuracy)."""
    return {
        "options": opts.describe(),
        "seed": seed,
        "loss": loss_desc,
        "train_data": {"source": train.source, "samples": len(train), "sha256": train.sha256},
        "accuracy": {"data": None if val is None or val.y is None else val.source, "original": original},
        "phases": [],
        "notes": [],
        "artifacts": [],
    }


def _prune(work, train: Dataset, opts: OptimizeOptions, loss, seed: int, stage, section: dict) -> list[dict]:
    """Prune ``work`` in place while fine-tuning; fills ``section["pruning"]``. Returns the pruned kernels
    (layer, kernel, kind, zero mask) to look for in each artifact."""
    from edgekit.optimize import prune as P
    from edgekit.optimize.train import fine_tune

    nm = opts.prune if isinstance(opts.prune, tuple) else None
    sel = P.select(work, opts.prune_include, opts.prune_exclude, nm)
    steps = -(-len(train) // opts.batch_size) * opts.epochs
    pruner = P.Pruner(sel, opts.prune, steps)
    hist = fine_tune(work, train, loss=loss, epochs=opts.epochs, batch_size=opts.batch_size,
                     learning_rate=opts.lr_for("prune"), seed=seed, callbacks=[pruner.callback()],
                     on_stage=stage, label=f"pruning to {opts.prune_label}")
    layers = pruner.strip()
    kept = [{"layer": t.layer, "kernel": t.attr, "kind": t.kind, "zeros": np.asarray(t.variable) == 0}
            for t in sel.targets]
    section["pruning"] = {
        "mode": "n:m" if nm else "unstructured magnitude",
        "target": opts.prune_label,
        "schedule": None if nm else {"kind": "polynomial decay", "power": P.POWER, "begin_step": 0,
                                     "end_step": pruner.end_step, "update_every": pruner.every},
        "layers": layers,
        "skipped": sel.skipped,
        "overall_sparsity": float(sum(r["sparsity"] * r["weights"] for r in layers)
                                  / sum(r["weights"] for r in layers)),
    }
    section["phases"].append({"phase": "prune", **hist})
    section["notes"].append(_sparsity_note())
    return kept


def _fine_tuned_on_eval_data(val: Dataset | None, train: Dataset) -> list[str]:
    if val is not None and val.source == train.source:
        return [
            f"validation data comes from --train-data ({train.source}): the model was fine-tuned on those samples, "
            "so accuracy is optimistic; pass --eval-data with held-out samples"
        ]
    return []


def _sparsity_note() -> str:
    from edgekit.optimize.artifact import HONEST_NOTE

    return HONEST_NOTE


def _qat(work, train: Dataset, opts, loss, seed, stage, section, kept, val):
    from edgekit.optimize import fold, qat
    from edgekit.optimize.train import fine_tune

    stage("folding BatchNorm and inserting fake quantization")
    prepared, prep = fold.prepare(work)
    probe = (val.x if val is not None else train.x)[:256]
    ref = np.asarray(work(probe, training=False))
    got = np.asarray(prepared(probe, training=False))
    prep["max_abs_error_vs_unfolded"] = float(np.abs(ref - got).max())
    qmodel, qrep = qat.quantize_model(prepared)
    qat.calibrate(qmodel, train.x[:QAT_CALIBRATION_SAMPLES])
    callbacks = _keep_pruned_zero(qmodel, kept)
    section["qat"] = {
        "prepare": prep,
        "weights": "per-channel symmetric int8 (narrow range)",
        "activations": f"asymmetric int8, moving-average ranges (decay {qat.EMA_DECAY}), initialised on "
                       f"{min(len(train), QAT_CALIBRATION_SAMPLES)} training inputs",
        "quantized_kernels": [r["layer"] for r in qrep["weights_quantized"]],
        "activation_quantizers": qrep["activations_quantized"],
        "fixed_ranges": qrep["fixed_ranges"],
        "unsupported_layers": qrep["unsupported"],
        "converter": "fake-quant ranges used by the TFLite converter (no representative dataset)",
    }
    section["notes"].append(
        "QAT: the TFLite converter takes every activation range from the fake-quant nodes learned in fine-tuning; "
        "calibration samples, if given, are not used for ranges (only as a validation hold-out)"
    )
    if qrep["unsupported"]:
        names = ", ".join(f"{u['layer']} ({u['class']})" for u in qrep["unsupported"])
        section["notes"].append(f"no QAT rule for: {names}; quantized at their outputs only")
    hist = fine_tune(qmodel, train, loss=loss, epochs=opts.epochs, batch_size=opts.batch_size,
                     learning_rate=opts.lr_for("qat"), seed=seed, callbacks=callbacks, on_stage=stage,
                     label="quantization-aware training")
    section["qat"]["ranges"] = {k: [round(a, 6), round(b, 6)] for k, (a, b) in qat.ranges(qmodel).items()}
    section["phases"].append({"phase": "qat", **hist})
    return qmodel


def _keep_pruned_zero(qmodel, kept: list[dict]) -> list:
    """Callbacks that hold the pruned kernels (by layer name; a split separable conv's _dw/_pw halves
    too) at zero while QAT fine-tunes the quantized model."""
    from edgekit.optimize import qat
    from edgekit.optimize.prune import fixed_mask_callback

    pruned = {k["layer"] for k in kept}
    if not pruned:
        return []
    pairs = []
    for w in qat.quant_weight_layers(qmodel):
        base = w.inner.name.removesuffix("_dw").removesuffix("_pw")
        if w.inner.name in pruned or base in pruned:
            k = w.inner.kernel
            pairs.append((k, np.asarray(k) != 0))
    return [fixed_mask_callback(pairs)]
