"""The device-runtime check of one .tflite for one profile: what the engine calls after emitting it.

    check, fixed = validate(data, profile, inputs, host_outputs)

``check`` (a frozen model, ``model_dump(mode="json")`` goes into the manifest) says per device runtime
whether the artifact ran, crashed (signal) or failed, and how its outputs agree with the host's; ``fixed``
is the rewritten artifact when a known quirk was fixed (write it instead of ``data``), else None.
``check.passed`` false -> the artifact fails (exit 1) for ``check.failures``.
"""

from __future__ import annotations

import hashlib
from typing import Callable

import numpy as np

from edgekit.device import env as device_env
from edgekit.device import quirks as device_quirks
from edgekit.device.probe import run_model
from edgekit.device.quirks import QuirkFinding
from edgekit.device.runner import DeviceRunResult, agreement, run_on_device
from edgekit.errors import ConfigError
from edgekit.manifest.device import NOTE, DeviceCheck  # noqa: F401  (NOTE re-exported)
from edgekit.targets import TargetProfile



def host_outputs(data: bytes, inputs: list[np.ndarray]) -> tuple[list[np.ndarray], list[tuple[float, int]]]:
    """Raw outputs of the host runtime (ai_edge_litert, in process) and each output's (scale, zero point)."""
    outs, info = run_model(data, inputs, "ai_edge_litert")
    return outs, [(o["scale"], o["zero_point"]) for o in info["outputs"]]


def _failure(res: DeviceRunResult, found: list[QuirkFinding], min_cos: float, min_top1: float) -> str | None:
    who = f"{res.runtime} {res.version} ({res.arch}, emulated)"
    if res.status == "crashed":
        known = [f for f in found if f.runtime == res.runtime and not f.fixed]
        where = "; ".join(f"{f.op} (operator {f.operator}, output {f.output!r}) matches known quirk {f.quirk} "
                          + ("(no fix exists)" if f.fix == "none" else f"(its {f.fix} rewrite was not applied)")
                          for f in known)
        return f"{who} crashed with {res.signal}" + (f": {where}" if where else " (no known pattern matched)")
    if res.status == "error":
        return f"{who} failed: {res.message}"
    a = res.agreement
    if a is not None and a.cosine < min_cos:
        return f"{who}: outputs disagree with the host's (cosine {a.cosine:.5f} < {min_cos})"
    if a is not None and a.top1_agreement is not None and a.top1_agreement < min_top1:
        return f"{who}: top-1 agrees with the host on {a.top1_agreement:.2%} of samples (< {min_top1:.0%})"
    return None


def _model_order(data: bytes, inputs: list) -> list[np.ndarray]:
    """``[Feed]`` (a multi-input or streaming dataset's ``x``) as one array per input of the artifact, in its
    order (matched by name); plain arrays as they are."""
    from edgekit.models.feed import Feed, flat_inputs

    if len(inputs) != 1 or not isinstance(inputs[0], Feed):
        return list(inputs)
    from edgekit.runtimes.harness import match_inputs
    from edgekit.runtimes.litert import LiteRTRunner

    names, arrays = flat_inputs(inputs[0])
    with LiteRTRunner(data) as r:
        return [arrays[i] for i in match_inputs(r.inputs, names)]


def validate(
    data: bytes,
    profile: TargetProfile,
    inputs: list[np.ndarray],
    host: list[np.ndarray] | None = None,
    *,
    fix: bool = True,
    min_cosine: float = 0.99,
    min_top1_agreement: float = 0.98,
    timeout: float = 600.0,
    progress: Callable[[str], None] | None = None,
) -> tuple[DeviceCheck | None, bytes | None]:
    """Check ``data`` on every device runtime of ``profile`` (None, None when it names none).

    ``inputs``: one array per model input, samples first (float data is quantized like the host does);
    ``host``: the host runtime's raw outputs on them (computed here when None). Known quirks are fixed
    when ``fix`` (the rewrite must leave the host outputs bit-identical) and the fixed artifact is checked.
    The emulated environment is set up on first use (cached; see ``edgekit device-env setup``)."""
    if not profile.device_runtimes:
        return None, None
    inputs = _model_order(data, inputs)
    if not inputs or any(len(x) == 0 for x in inputs):
        raise ConfigError("device validation needs at least one validation sample per model input")
    arch = profile.arch or ""
    found = device_quirks.detect(data, profile.device_runtimes, arch)
    checked, failures = data, []
    ref, quant = host_outputs(data, inputs)
    host = ref if host is None else host
    if fix and any(f.fix != "none" for f in found):
        checked, found = device_quirks.fix(data, found)
        after, _ = host_outputs(checked, inputs)
        if not all(np.array_equal(x, y) for x, y in zip(after, ref)):
            failures.append("the rewrite for known quirks changed the host runtime's outputs; artifact left as emitted")
            checked, found = data, [f.model_copy(update={"fixed": False}) for f in found]
    results = []
    for rt in profile.device_runtimes:
        env = device_env.ensure(rt, arch, progress)
        res = run_on_device(checked, inputs, env, cpu=profile.emulation_cpu, timeout=timeout)
        if res.status == "ran":
            res = res.model_copy(update={"agreement": agreement(res.outputs, host, res.output_quant or quant)})
        results.append(res)
        problem = _failure(res, found, min_cosine, min_top1_agreement)
        if problem:
            failures.append(problem)
    rewritten = checked is not data
    check = DeviceCheck(
        profile=profile.name, arch=arch, artifact_sha256=hashlib.sha256(checked).hexdigest(), rewritten=rewritten,
        quirks=tuple(found), results=tuple(results), min_cosine=min_cosine, min_top1_agreement=min_top1_agreement,
        passed=not failures, failures=tuple(failures),
    )
    return check, (checked if rewritten else None)
