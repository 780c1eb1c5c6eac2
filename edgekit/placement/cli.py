"""``edgekit inspect ARTIFACT --target T``: where every op of any .tflite runs on a target (Edge TPU, GPU,
XNNPACK), the Edge TPU compiler's view when it is installed, and TFLite Micro figures for microcontrollers.
Registered on the app in :mod:`edgekit.cli`. Light imports here; heavy ones inside."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer


def _echo(text: str) -> None:
    typer.echo(text)


def _print_placement(p) -> None:
    _echo(p.summary_line)
    _echo(f"  source: {p.source} — {p.rules}")
    for part in p.partitions:
        _echo(f"  partition ops #{part.first}-#{part.last} ({part.ops}): {part.placement}")
    for o in p.ops:
        _echo(f"  #{o.index:<4} {o.op:<24} v{o.version:<2} {o.placement:<11} {o.reason}")
    for n in p.notes:
        _echo(f"  note: {n}")


def inspect(
    artifact: Annotated[Path, typer.Argument(help="Any .tflite file (made by edgekit or not).")],
    target: Annotated[str, typer.Option("--target", "-t", help="Target profile name or path (coral-edgetpu, android-gpu, rpi, cortex-m7, ...).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON (placement / mcu / edgetpu_compiler).")] = False,
    edgetpu_compiler: Annotated[Optional[Path], typer.Option(help="Path to edgetpu_compiler (default: found on PATH). Edge TPU targets only.")] = None,
    compiler_timeout: Annotated[float, typer.Option(help="Seconds before the Edge TPU compiler is stopped.")] = 180.0,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Folder for *_edgetpu.tflite and model_data.cc/.h.")] = None,
    emit: Annotated[Optional[str], typer.Option(help="'c-array': write model_data.cc/.h (microcontroller firmware).")] = None,
) -> None:
    """Show where every op of a .tflite runs on TARGET, with the reason, partitions and accelerated fraction."""
    from edgekit.errors import ConfigError, ModelLoadError
    from edgekit.targets import load_target

    if not artifact.is_file():
        raise ModelLoadError(f"{artifact} does not exist or is not a file")
    data = artifact.read_bytes()
    if artifact.suffix.lower() != ".tflite" or data[4:8] != b"TFL3":
        raise ModelLoadError(f"{artifact} is not a .tflite model (edgekit inspect reads TensorFlow Lite flatbuffers); "
                             "convert it first with `edgekit convert`")
    if emit not in (None, "c-array"):
        raise ConfigError(f"--emit {emit!r} is unknown; the only choice is c-array")
    profile = load_target(target)
    from edgekit.runtimes.isolation import check_loads

    check_loads(artifact, runtime="ai_edge_litert")  # any .tflite: a native crash must not take edgekit down
    out: dict = {"artifact": str(artifact), "target": profile.name}
    from edgekit.placement import analyze

    placement = analyze(data, profile)
    out["placement"] = placement.model_dump(mode="json") if placement else None
    if profile.delegate == "edgetpu":
        out["edgetpu_compiler"] = _compiler(artifact, placement, edgetpu_compiler, compiler_timeout, output)
    if profile.runtime == "tflm":
        from edgekit.placement.mcu import check

        mcu, _ = check(data, profile)
        out["mcu"] = mcu.model_dump(mode="json")
    if emit == "c-array":
        from edgekit.hashing import atomic_write_bytes
        from edgekit.placement.carray import emit_c_array

        cc, h = emit_c_array(data)
        dest = output or artifact.parent
        atomic_write_bytes(dest / "model_data.cc", cc.encode())
        atomic_write_bytes(dest / "model_data.h", h.encode())
        out["c_array"] = [str(dest / "model_data.cc"), str(dest / "model_data.h")]
    if as_json:
        _echo(json.dumps(out, indent=2))
        return
    _report(out, placement)


def _compiler(artifact: Path, placement, exe: Optional[Path], timeout: float, output: Optional[Path]) -> dict:
    from edgekit.placement.edgetpu_compiler import compile_model, find_compiler

    if exe is None and find_compiler() is None:
        return {"ran": False, "note": "edgetpu_compiler not on PATH: the placement is a prediction from Coral's "
                                      "documented rules; nothing was compiled for the Edge TPU"}
    res = compile_model(artifact, output or artifact.parent, placement, compiler=exe, timeout_s=timeout)
    return {"ran": True, **res.model_dump(mode="json")}


def _report(out: dict, placement) -> None:
    if placement is not None:
        _print_placement(placement)
    else:
        _echo(f"{out['target']}: no accelerator to place ops on (CPU-only or microcontroller target)")
    comp = out.get("edgetpu_compiler")
    if comp and not comp["ran"]:
        _echo(f"  {comp['note']}")
    elif comp:
        from edgekit.placement.models import Placement

        _echo(f"compiled for the Edge TPU by {comp['compiler']}: {comp['compiled_path']}")
        _print_placement(Placement(**comp["placement"]))
        for d in comp["disagreements"]:
            _echo(f"  disagrees with the prediction: {d}")
    if "mcu" in out:
        m = out["mcu"]
        _echo(f"{out['target']}: TFLite Micro arena {m['arena_bytes']:,} B of {m['ram_budget_bytes']:,} B RAM "
              f"(verified; {m['arena_less_bytes']:,} B {'fails' if m['arena_less_fails'] else 'also works'}), "
              f"flash {m['flash_bytes']:,} B of {m['flash_budget_bytes']:,} B, tflite-micro {m['tflm_version']}")
    for p in out.get("c_array", []):
        _echo(f"wrote {p}")
