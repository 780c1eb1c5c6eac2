"""Every artifact proves itself: run it on held-out inputs and compare with the source model.

Fidelity per output (max/mean absolute error, cosine similarity per sample), top-1 agreement for
classifiers, and task accuracy of source and artifact when labels exist."""

from __future__ import annotations

import numpy as np

from edgekit.manifest import Accuracy, Fidelity, OutputFidelity, RuntimeRecord
from edgekit.models.base import SourceModel


def predict_source(model: SourceModel, x: np.ndarray, batch: int = 64) -> list[np.ndarray]:
    outs: list[list[np.ndarray]] = []
    for i in range(0, len(x), batch):
        outs.append(model.predict([x[i : i + batch]]))
    return [np.concatenate([o[k] for o in outs]) for k in range(len(outs[0]))]


def predict_runner(runner, x: np.ndarray) -> list[np.ndarray]:
    """Run every sample through an artifact's runner (batched at its static batch size, last batch padded:
    :func:`edgekit.runtimes.harness.predict`, the device harness's own loop)."""
    return runner.infer([x])


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    both_zero = (na == 0) & (nb == 0)
    cos = (a * b).sum(axis=1) / np.maximum(na * nb, 1e-30)
    return np.where(both_zero, 1.0, cos)


def fidelity(reference: list[np.ndarray], candidate: list[np.ndarray], names: list[str] | None = None) -> Fidelity:
    """Compare two sets of outputs (same order, same samples)."""
    per = []
    for k, (r, c) in enumerate(zip(reference, candidate)):
        r = r.reshape(len(r), -1)
        c = c.reshape(len(c), -1)
        if r.shape != c.shape:
            raise ValueError(f"output {k}: shapes differ {r.shape} vs {c.shape}")
        err = np.abs(r.astype(np.float64) - c.astype(np.float64))
        cos = _cosine(r, c)
        per.append(OutputFidelity(
            name=names[k] if names else f"output_{k}", max_abs_error=float(err.max()),
            mean_abs_error=float(err.mean()), cosine_mean=float(cos.mean()), cosine_min=float(cos.min()),
        ))
    top1 = None
    if len(reference) == 1 and reference[0].ndim == 2 and reference[0].shape[1] > 1:
        top1 = float((reference[0].argmax(1) == candidate[0].argmax(1)).mean())
    return Fidelity(max_abs_error=max(p.max_abs_error for p in per), cosine=min(p.cosine_mean for p in per),
                    outputs=per, top1_agreement=top1)


def accuracy(outputs: list[np.ndarray], y: np.ndarray) -> float | None:
    """Top-1 accuracy of a classifier's first output (logits or probabilities) against integer labels."""
    out = outputs[0]
    if out.ndim != 2:
        return None
    if out.shape[1] == 1:  # binary classifier with a single sigmoid/logit unit
        pred = (out[:, 0] > (0.0 if out.min() < 0 else 0.5)).astype(np.int64)
    else:
        pred = out.argmax(1)
    return float((pred == y.astype(np.int64)).mean())


def validate(source_out: list[np.ndarray], artifact_out: list[np.ndarray], y: np.ndarray | None,
             runtime: RuntimeRecord | None = None) -> Fidelity:
    """Fidelity of an artifact's outputs to its source's, and both accuracies when labels ``y`` exist."""
    res = fidelity(source_out, artifact_out)
    acc = None
    if y is not None:
        src, art = accuracy(source_out, y), accuracy(artifact_out, y)
        if src is not None and art is not None:
            acc = Accuracy(source=src, artifact=art, drop=src - art)
    return res.model_copy(update={"accuracy": acc, "runtime": runtime})
