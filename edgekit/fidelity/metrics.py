"""Every artifact proves itself: run it on held-out inputs and compare with the source model.

Fidelity per output (max/mean absolute error, cosine similarity per sample), top-1 agreement for
classifiers, and task accuracy of source and artifact when labels exist."""

from __future__ import annotations

import numpy as np

from edgekit.manifest import Accuracy, Fidelity, OutputFidelity, RuntimeRecord
from edgekit.models.base import SourceModel
from edgekit.models.feed import Feed, as_list, run_stream


def _batched(predict, xs: list[np.ndarray], batch: int) -> list[np.ndarray]:
    outs: list[list[np.ndarray]] = []
    for i in range(0, len(xs[0]), batch):
        outs.append(predict([x[i : i + batch] for x in xs]))
    return [np.concatenate([o[k] for o in outs]) for k in range(len(outs[0]))]


def predict_source(model: SourceModel, x, batch: int = 64) -> list[np.ndarray]:
    """The source model's outputs on ``x``: one input's array, a list/:class:`Feed` of one array per input,
    or a streaming Feed (sequences run frame by frame with state carried: per-frame outputs ``(N*T, ...)``)."""
    if isinstance(x, Feed) and x.stream is not None:
        return run_stream(lambda xs: _batched(model.predict, xs, batch), x)[0]
    return _batched(model.predict, as_list(x), batch)


def predict_runner(runner, x) -> list[np.ndarray]:
    """Run every sample through an artifact's runner (batched at its static batch size, last batch padded:
    :func:`edgekit.runtimes.harness.predict`, the device harness's own loop). Inputs are matched to the
    artifact's by name; a streaming Feed runs frame by frame carrying the artifact's own state."""
    from edgekit.runtimes.harness import match_inputs

    if isinstance(x, Feed) and x.stream is not None:
        order = match_inputs(runner.inputs, x.stream.inputs)
        return run_stream(lambda xs: runner.infer([xs[i] for i in order]), x)[0]
    xs = as_list(x)
    if isinstance(x, Feed):
        xs = [xs[i] for i in match_inputs(runner.inputs, x.names)]
    return runner.infer(xs)


def is_class_distribution(out: np.ndarray) -> bool:
    """Class probabilities: (N, C>1) rows of non-negative values summing to 1, or (N, 1) values in [0, 1]
    (a sigmoid). Other outputs (embeddings, states, regressions) get fidelity only."""
    if out.ndim != 2 or len(out) == 0:
        return False
    if out.shape[1] == 1:
        return bool(out.min() >= 0 and out.max() <= 1)
    return bool(out.min() >= -1e-6 and np.allclose(out.sum(1), 1, atol=1e-3))


def classifier_outputs(reference: list[np.ndarray]) -> list[int]:
    """The outputs that classifier metrics apply to: a single-output model's (N, C>1) output (logits too,
    as before), else every output that is a class distribution."""
    if len(reference) == 1 and reference[0].ndim == 2 and reference[0].shape[1] > 1:
        return [0]
    return [k for k, r in enumerate(reference) if is_class_distribution(r)]


def _agreement(r: np.ndarray, c: np.ndarray) -> float:
    if r.shape[1] == 1:  # a sigmoid: the decision at 0.5
        return float(((r[:, 0] > 0.5) == (c[:, 0] > 0.5)).mean())
    return float((r.argmax(1) == c.argmax(1)).mean())


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    both_zero = (na == 0) & (nb == 0)
    cos = (a * b).sum(axis=1) / np.maximum(na * nb, 1e-30)
    return np.where(both_zero, 1.0, cos)


def fidelity(reference: list[np.ndarray], candidate: list[np.ndarray], names: list[str] | None = None) -> Fidelity:
    """Compare two sets of outputs (same order, same samples), each output on its own; top-1 agreement on the
    outputs that are class distributions (the first of them is the summary's)."""
    classes = classifier_outputs([np.asarray(r).reshape(len(r), -1) if np.asarray(r).ndim > 2 else np.asarray(r)
                                  for r in reference])
    per = []
    for k, (r, c) in enumerate(zip(reference, candidate)):
        r = r.reshape(len(r), -1)
        c = c.reshape(len(c), -1)
        if r.shape != c.shape:
            raise ValueError(f"output {k}: shapes differ {r.shape} vs {c.shape}")
        err = np.abs(r.astype(np.float64) - c.astype(np.float64))
        # one value per sample (a sigmoid, a score): a per-sample cosine only compares signs, so the cosine is
        # taken over all samples (a streaming model's per-frame values: its whole trajectories)
        cos = _cosine(r.reshape(1, -1), c.reshape(1, -1)) if r.shape[1] == 1 else _cosine(r, c)
        per.append(OutputFidelity(
            name=names[k] if names else f"output_{k}", max_abs_error=float(err.max()),
            mean_abs_error=float(err.mean()), cosine_mean=float(cos.mean()), cosine_min=float(cos.min()),
            top1_agreement=_agreement(r, c) if k in classes else None,
        ))
    top1 = per[classes[0]].top1_agreement if classes else None
    return Fidelity(max_abs_error=max(p.max_abs_error for p in per), cosine=min(p.cosine_mean for p in per),
                    outputs=per, top1_agreement=top1)


def accuracy(outputs: list[np.ndarray], y: np.ndarray, k: int = 0) -> float | None:
    """Top-1 accuracy of a classifier's output ``k`` (logits or probabilities) against integer labels (a
    streaming model's per-frame labels are flattened like its per-frame outputs)."""
    out = outputs[k]
    y = np.asarray(y)
    if out.ndim != 2 or y.size != len(out):
        return None
    y = y.reshape(-1)
    if out.shape[1] == 1:  # binary classifier with a single sigmoid/logit unit
        pred = (out[:, 0] > (0.0 if out.min() < 0 else 0.5)).astype(np.int64)
    else:
        pred = out.argmax(1)
    return float((pred == y.astype(np.int64)).mean())


def validate(source_out: list[np.ndarray], artifact_out: list[np.ndarray], y: np.ndarray | None,
             runtime: RuntimeRecord | None = None, names: list[str] | None = None) -> Fidelity:
    """Fidelity of an artifact's outputs to its source's, and both accuracies when labels ``y`` exist.
    ``names``: the source's output names, for the per-output records (default ``output_N``)."""
    res = fidelity(source_out, artifact_out, names)
    acc = None
    classes = classifier_outputs(source_out) or ([0] if len(source_out) == 1 else [])
    if y is not None and classes:
        src, art = accuracy(source_out, y, classes[0]), accuracy(artifact_out, y, classes[0])
        if src is not None and art is not None:
            acc = Accuracy(source=src, artifact=art, drop=src - art)
    return res.model_copy(update={"accuracy": acc, "runtime": runtime})
