"""Fine-tuning shared by pruning and QAT: training data, the loss, a seeded ``fit`` with a progress bar."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgekit._lazy import keras as _keras
from edgekit.errors import CalibrationError, ConfigError
from edgekit.models.base import SourceModel
from edgekit.quantize.calibration import Dataset, ImageOptions, load_data

_PROB_ACTIVATIONS = {"softmax", "sigmoid"}


def load_train_data(path: Path, model: SourceModel, image_options: ImageOptions | None = None) -> Dataset:
    ds = load_data(path, model.input, image_options)
    if ds.y is None:
        raise CalibrationError(
            f"--train-data {path}: has no labels; fine-tuning needs them: an .npz with arrays x and y, or a folder "
            "of images with one sub-folder per class"
        )
    if len(ds.y) != len(ds.x):
        raise CalibrationError(f"--train-data {path}: x has {len(ds.x)} samples but y has {len(ds.y)}")
    return ds


def _loss_name(loss) -> str:
    if isinstance(loss, str):
        return loss
    return getattr(loss, "name", None) or type(loss).__name__


def resolve_loss(model: SourceModel, loss_flag: str | None, x_sample: np.ndarray):
    """The loss to fine-tune with: ``--loss`` or the model's compile config. Returns (loss, description)."""
    keras = _keras()
    km = model.keras_model
    if loss_flag:
        try:
            loss = keras.losses.get(loss_flag)
        except (ValueError, TypeError):
            raise ConfigError(
                f"--loss {loss_flag!r} is not a Keras loss; use e.g. sparse_categorical_crossentropy (integer "
                "labels), categorical_crossentropy (one-hot labels), binary_crossentropy or mean_squared_error"
            ) from None
        name = _loss_name(loss)
        if "crossentropy" in name and not _outputs_probabilities(model, x_sample):
            loss = type(loss)(from_logits=True) if isinstance(loss, keras.losses.Loss) else loss
            return loss, f"--loss {loss_flag} (from_logits=True: the model outputs logits)"
        return loss, f"--loss {loss_flag}"
    compiled = getattr(km, "loss", None)
    if compiled is None:
        raise ConfigError(
            f"{model.path}: cannot infer how to fine-tune this model: it was saved without a training "
            "configuration (no compiled loss). Pass --loss, e.g. --loss sparse_categorical_crossentropy"
        )
    if isinstance(compiled, (dict, list, tuple)):
        raise ConfigError(
            f"{model.path}: the model was compiled with several losses; edgekit fine-tunes single-output models "
            "with one loss: pass --loss"
        )
    return compiled, f"model compile config ({_loss_name(compiled)})"


def _outputs_probabilities(model: SourceModel, x_sample: np.ndarray) -> bool:
    """Whether the single output looks like probabilities (softmax/sigmoid) rather than logits."""
    last = model.keras_model.layers[-1]
    act = getattr(getattr(last, "activation", None), "__name__", "")
    if act in _PROB_ACTIVATIONS or type(last).__name__.lower() in _PROB_ACTIVATIONS:
        return True
    y = model.predict([x_sample[:32]])[0]
    return bool(y.min() >= 0.0 and y.max() <= 1.0)


def prepare_labels(loss, y: np.ndarray, outputs: int) -> np.ndarray:
    """Integer labels for a categorical (one-hot) loss become one-hot; anything else is passed through."""
    name = _loss_name(loss).lower()
    if "categorical" in name and "sparse" not in name and y.ndim == 1:
        return np.eye(outputs, dtype=np.float32)[y.astype(np.int64)]
    return y


def progress_callback(on_stage: Callable[[str], None], label: str, epochs: int, steps: int):
    """A Keras callback that draws a text progress bar through ``on_stage`` (the CLI's status line)."""
    keras = _keras()

    class StageProgress(keras.callbacks.Callback):
        epoch = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            done = (batch + 1) / steps
            width = 24
            full = int(done * width)
            bar = "━" * full + ("╸" if full < width else "") + "─" * max(0, width - full - 1)
            loss = (logs or {}).get("loss")
            tail = f" loss {float(loss):.4f}" if loss is not None else ""
            on_stage(f"{label}: epoch {self.epoch + 1}/{epochs} {bar} {batch + 1}/{steps}{tail}")

    return StageProgress()


def fine_tune(
    km,
    data: Dataset,
    *,
    loss,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    callbacks: list | None = None,
    on_stage: Callable[[str], None] | None = None,
    label: str = "fine-tuning",
) -> dict:
    """Seeded ``fit`` with Adam; returns the per-epoch history (loss, accuracy when the task is classification)."""
    from edgekit._lazy import seed_everything

    keras = _keras()
    seed_everything(seed)
    n_out = int(km.outputs[0].shape[-1] or 1)
    y = prepare_labels(loss, data.y, n_out)
    classify = data.y is not None and data.y.ndim == 1 and n_out > 1
    metrics = ["accuracy"] if classify else []
    km.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=metrics, jit_compile=False)
    steps = -(-len(data.x) // batch_size)
    cbs = list(callbacks or [])
    if on_stage is not None:
        cbs.append(progress_callback(on_stage, label, epochs, steps))
    try:
        hist = km.fit(data.x, y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0, callbacks=cbs)
    except ValueError as exc:  # shape / label mismatches surface here
        raise ConfigError(
            f"fine-tuning failed: {' '.join(str(exc).split())[:400]}. Check that --train-data labels match the "
            "model's output and the loss (--loss)"
        ) from None
    h = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    if not np.isfinite(h.get("loss", [0.0])).all():
        raise ConfigError(f"{label}: the loss became NaN/Inf; lower --learning-rate (now {learning_rate:g})")
    return {"epochs": epochs, "steps_per_epoch": steps, "learning_rate": learning_rate, "history": h}
