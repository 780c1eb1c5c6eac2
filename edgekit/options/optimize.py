"""What the user asked the optimizer for: pruning (a sparsity or N:M), QAT, and the fine-tuning set-up.

One frozen pydantic model. Cross-field mistakes (``--qat`` without ``--train-data`` ...) are errors that name
the flag and the fix; :meth:`OptimizeOptions.from_flags` turns them into a :class:`ConfigError`.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from edgekit.configfile import pydantic_errors

_NM_RE = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")
DEFAULT_EPOCHS = 2
DEFAULT_BATCH_SIZE = 32
DEFAULT_LR_PRUNE = 1e-3  # Adam, pruning fine-tune of a trained model
DEFAULT_LR_QAT = 5e-5  # Adam, QAT: small steps that stay at the trained optimum (benchmarks/bench_qat.py)


class OptimizeOptions(BaseModel):
    """Pruning / quantization-aware training applied to a Keras model before it is converted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prune: float | tuple[int, int] | None = None  # target sparsity in (0, 1), or (N, M): keep N of every M
    prune_include: tuple[str, ...] = ()  # layer-name globs; empty = every prunable layer
    prune_exclude: tuple[str, ...] = ()
    qat: bool = False
    train_data: Path | None = None
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = DEFAULT_BATCH_SIZE
    loss: str | None = None  # a Keras loss name; default: the model's compile config
    learning_rate: float | None = None  # default: DEFAULT_LR_QAT with --qat, else DEFAULT_LR_PRUNE

    @field_validator("prune", mode="before")
    @classmethod
    def _parse_prune(cls, v):
        if v is None or isinstance(v, tuple):
            return v
        if isinstance(v, (list,)):
            return tuple(v)
        text = str(v).strip()
        m = _NM_RE.match(text)
        if m:
            return int(m.group(1)), int(m.group(2))
        try:
            return float(text.rstrip("%")) / (100.0 if text.endswith("%") else 1.0)
        except ValueError:
            raise ValueError(
                f"--prune {text!r}: expected a sparsity such as 0.5 (50% of the weights set to zero) or an N:M "
                "pattern such as 2:4"
            ) from None

    @field_validator("prune")
    @classmethod
    def _check_prune(cls, v):
        if isinstance(v, float) and not 0.0 < v < 1.0:
            raise ValueError(f"--prune {v:g}: the sparsity must be between 0 and 1 (exclusive), e.g. --prune 0.5")
        if isinstance(v, tuple) and not (len(v) == 2 and 0 < v[0] < v[1]):
            raise ValueError(
                f"--prune {':'.join(map(str, v))}: N:M keeps N of every M weights and needs 0 < N < M, e.g. --prune 2:4"
            )
        return v

    @model_validator(mode="after")
    def _cross_fields(self) -> OptimizeOptions:
        wanted = [f for f, on in (("--prune", self.prune is not None), ("--qat", self.qat)) if on]
        if (self.prune_include or self.prune_exclude) and self.prune is None:
            raise ValueError(
                "--prune-include/--prune-exclude choose which layers to prune: add --prune (e.g. --prune 0.5)"
            )
        if wanted and self.train_data is None:
            verbs = ("fine-tunes", "needs") if len(wanted) == 1 else ("fine-tune", "need")
            raise ValueError(
                f"{' and '.join(wanted)} {verbs[0]} the model and {verbs[1]} --train-data FILE.npz (arrays x and "
                "labels y; or a folder of images with one sub-folder per class)"
            )
        if self.train_data is not None and not wanted:
            raise ValueError("--train-data is only used to fine-tune for --prune or --qat: add one of them, or drop it")
        if self.epochs < 1:
            raise ValueError(f"--epochs {self.epochs}: fine-tuning needs at least 1 epoch")
        if self.batch_size < 1:
            raise ValueError(f"--batch-size {self.batch_size}: must be at least 1")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise ValueError(f"--learning-rate {self.learning_rate:g}: must be > 0, e.g. 1e-4")
        return self

    @classmethod
    def from_flags(cls, **flags) -> OptimizeOptions:
        """Build from CLI/API keyword flags; a bad combination raises ConfigError naming the flag and the fix."""
        try:
            return cls(**flags)
        except ValidationError as exc:
            raise pydantic_errors(exc, "optimization options", with_fields=False) from None

    @property
    def active(self) -> bool:
        return self.prune is not None or self.qat

    @property
    def prune_label(self) -> str | None:
        if self.prune is None:
            return None
        return f"{self.prune[0]}:{self.prune[1]}" if isinstance(self.prune, tuple) else f"{self.prune:g}"

    def lr_for(self, phase: str) -> float:
        """The learning rate of a fine-tuning phase ("prune" or "qat")."""
        if self.learning_rate is not None:
            return self.learning_rate
        return DEFAULT_LR_QAT if phase == "qat" else DEFAULT_LR_PRUNE

    def describe(self) -> dict:
        """The options as they go into the manifest."""
        return {
            "prune": self.prune_label,
            "prune_include": list(self.prune_include),
            "prune_exclude": list(self.prune_exclude),
            "qat": self.qat,
            "train_data": None if self.train_data is None else str(self.train_data),
            "epochs_per_phase": self.epochs,
            "batch_size": self.batch_size,
            "learning_rate": {
                p: self.lr_for(p) for p, on in (("prune", self.prune is not None), ("qat", self.qat)) if on
            },
        }
