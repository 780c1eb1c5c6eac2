"""The fidelity gate: is an artifact close enough to its source to be called good?

One implementation: ``edgekit convert`` (exit 1 and ``"passed": false`` in the manifest), the sweep, the build
and ``edgekit report``'s threshold checks all use these checks. A check whose data is missing (no labels, not
a classifier) is a "skip" with the reason, never a silent pass.
"""

from __future__ import annotations

from collections.abc import Callable

from edgekit.manifest import Accuracy, Check, Fidelity, Gate

EPS = 1e-12  # float noise: a value exactly at its limit passes


def points(v: float) -> str:
    return f"{v * 100:.2f} points"


def skip(name: str, message: str) -> Check:
    return Check(name=name, status="skip", message=message)


def check_max(name: str, value: float, limit: float, what: str, fmt: Callable[[float], str]) -> Check:
    ok = value <= limit + EPS
    word = "within" if ok else "over"
    return Check(name=name, status="pass" if ok else "fail", value=value, limit=limit,
                 message=f"{what} {fmt(value)} ({word} the limit {fmt(limit)})")


def check_min(name: str, value: float, limit: float, what: str) -> Check:
    ok = value >= limit - EPS
    word = "at or above" if ok else "below"
    return Check(name=name, status="pass" if ok else "fail", value=value, limit=limit,
                 message=f"{what} {value:.6f} ({word} the minimum {limit:g})")


def fidelity_checks(*, cosine: float, top1_agreement: float | None, accuracy: Accuracy | dict | None,
                    min_cosine: float | None, max_accuracy_drop: float | None,
                    min_top1_agreement: float | None) -> list[Check]:
    """The fidelity checks that have a limit. ``max_accuracy_drop`` is a fraction (0.01 = 1 point)."""
    checks = []
    if max_accuracy_drop is not None:
        if accuracy is None:
            checks.append(skip("accuracy_drop", "no accuracy: the validation data has no labels"))
        else:
            drop = accuracy["drop"] if isinstance(accuracy, dict) else accuracy.drop
            checks.append(check_max("accuracy_drop", drop, max_accuracy_drop, "accuracy drop vs the source model:", points))
    if min_cosine is not None:
        checks.append(check_min("cosine", cosine, min_cosine, "mean cosine similarity to the source outputs"))
    if min_top1_agreement is not None:
        if top1_agreement is None:
            checks.append(skip("top1_agreement", "not a classifier output: no top-1 agreement"))
        else:
            checks.append(check_min("top1_agreement", top1_agreement, min_top1_agreement, "top-1 agreement with the source"))
    return checks


def gate(fid: Fidelity, *, min_cosine: float | None, max_accuracy_drop_points: float | None,
         min_top1_agreement: float | None, extra: list[Check] = ()) -> Gate:
    """Hold one artifact's fidelity (and any ``extra`` checks, e.g. a device-runtime run) to its budget."""
    checks = fidelity_checks(
        cosine=fid.cosine, top1_agreement=fid.top1_agreement, accuracy=fid.accuracy, min_cosine=min_cosine,
        max_accuracy_drop=None if max_accuracy_drop_points is None else max_accuracy_drop_points / 100.0,
        min_top1_agreement=min_top1_agreement,
    ) + list(extra)
    return Gate(passed=not any(c.status == "fail" for c in checks), checks=checks)
