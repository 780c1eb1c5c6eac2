"""What a target adds to an artifact's validation: the device's own runtimes under emulation (may rewrite a
known-bad pattern), TFLite Micro for microcontrollers, and where every op runs (placement)."""

from __future__ import annotations

import numpy as np

from edgekit.engine.state import Run
from edgekit.manifest import Check
from edgekit.manifest.device import DeviceCheck
from edgekit.manifest.placement import EdgeTpuCompile, Mcu, Placement


def device_check(run: Run, art) -> DeviceCheck | None:
    """Run a .tflite on each runtime the profile's device has (emulated); rewrite ``art.data`` when a known
    quirk is fixed. ``auto`` runs only when the emulated environments are already set up."""
    p, mode = run.profile, run.options.device_check
    if art.format != "tflite" or not p.device_runtimes or mode == "off":
        return None
    from edgekit.device import env as device_env

    if mode == "auto" and not all(device_env.find(rt, p.arch) for rt in p.device_runtimes):
        run.warnings.append(
            f"not checked on {p.name}'s own runtimes ({', '.join(f'{r.name} {r.version}' for r in p.device_runtimes)}): "
            "their emulated environments are not set up. Run `edgekit device-env setup --target "
            f"{p.name}` once (or pass --device-check on)"
        )
        return None
    from edgekit.device.check import validate

    run.stage(f"running on {p.name}'s device runtimes (emulated)")
    budget = run.options.budget
    check, fixed = validate(art.data, p, [run.validation.x], fix=True,
                            min_cosine=budget.min_cosine if budget.min_cosine is not None else p.min_cosine or 0.99)
    if fixed is not None:
        art.data = fixed
        run.warnings.append(f"rewritten so that {p.name}'s runtimes run it: "
                            + "; ".join(f"{f.quirk} at operator {f.operator} ({f.op})" for f in check.quirks if f.fixed))
    return check


def mcu_run(run: Run, art, ins, outs) -> tuple[Mcu, list[np.ndarray]] | None:
    """Microcontroller targets: arena, flash and outputs from the real TFLite Micro interpreter. ``ins``/``outs``:
    the artifact's IO tensors (TFLM takes and gives raw int8: quantized and dequantized with their parameters)."""
    if run.profile.runtime != "tflm" or art.format != "tflite":
        return None
    from edgekit.placement.mcu import check

    xs = list(run.validation.inputs.values())  # one array per input, in the model's order
    raw = [np.stack([t.to_input(x[i : i + 1])[0] for i in range(len(x))]) for t, x in zip(ins, xs)]
    x = xs[0]
    run.stage("running in TFLite Micro")
    mcu, got = check(art.data, run.profile, raw)
    return mcu, [t.to_float(o).reshape(len(x), *t.shape[1:]) for t, o in zip(outs, got)]


def placement(run: Run, art) -> Placement | None:
    if art.format != "tflite":
        return None
    from edgekit.placement import analyze

    return analyze(art.data, run.profile)


def edgetpu(run: Run, art, name: str, predicted: Placement | None) -> tuple[EdgeTpuCompile | None, dict[str, bytes]]:
    """Edge TPU targets: run the real edgetpu_compiler when it is installed (or --edgetpu-compiler names it)."""
    if run.profile.delegate != "edgetpu" or art.format != "tflite" or predicted is None:
        return None, {}
    from edgekit.placement.edgetpu_compiler import compile_bytes, find_compiler

    if run.options.edgetpu_compiler is None and find_compiler() is None:
        run.warnings.append(f"{name}: edgetpu_compiler is not installed: the Edge TPU placement is a prediction "
                            "from Coral's documented rules; nothing was compiled for the Edge TPU")
        return None, {}
    run.stage("running edgetpu_compiler")
    stem = name.rsplit(".", 1)[0]
    res, compiled, log = compile_bytes(art.data, stem, predicted, compiler=run.options.edgetpu_compiler)
    run.warnings.extend(f"{name}: edgetpu_compiler disagrees with the prediction: {d}" for d in res.disagreements)
    rec = EdgeTpuCompile(compiler=res.compiler, file=res.compiled_path, log_file=f"{stem}_edgetpu.log",
                         placement=res.placement, disagreements=res.disagreements,
                         on_chip_bytes=res.log.on_chip_bytes, off_chip_bytes=res.log.off_chip_bytes)
    return rec, {rec.file: compiled, rec.log_file: log.encode()}


def extra_checks(device: DeviceCheck | None, mcu: Mcu | None) -> list[Check]:
    """Gate checks beyond fidelity: the device runtimes ran it and agree; it fits the microcontroller."""
    checks = []
    if device is not None:
        msg = "; ".join(device.failures) or "ran on " + ", ".join(f"{r.runtime} {r.version}" for r in device.results)
        checks.append(Check(name="device_runtimes", status="pass" if device.passed else "fail", message=msg))
    if mcu is not None:
        ok = mcu.runs_in_tflm and mcu.arena_bytes <= mcu.ram_budget_bytes and mcu.flash_bytes <= mcu.flash_budget_bytes
        checks.append(Check(name="mcu", status="pass" if ok else "fail", value=float(mcu.arena_bytes),
                            limit=float(mcu.ram_budget_bytes),
                            message=f"TFLite Micro arena {mcu.arena_bytes:,} B of {mcu.ram_budget_bytes:,} B RAM, "
                                    f"flash {mcu.flash_bytes:,} B of {mcu.flash_budget_bytes:,} B"))
    return checks
