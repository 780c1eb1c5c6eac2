"""``edgekit sweep`` (registered in :data:`edgekit.registry.COMMANDS`). Thin: parse, call, print."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgekit.cli.bench import AcceptNew, Bar, Device, Identity, KnownHosts, RemotePython, Runs, Threads, Warmup, ssh_options
from edgekit.cli import common as o


def sweep_cmd(
    model: Annotated[Path, typer.Argument(help="A .keras / .h5 file, a SavedModel folder or an .onnx file.")],
    target: Annotated[str, typer.Option("--target", "-t", help="Target profile name or path.")] = "rpi",
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for sweep.json, sweep.md, pareto.png and the artifacts.")] = Path("sweep"),
    variants: Annotated[Optional[str], typer.Option(help="Comma-separated variant names (default: all the target allows).")] = None,
    calibration: o.Calibration = None, calibration_samples: o.CalibrationSamples = 200, eval_data: o.EvalData = None,
    normalize: o.Normalize = "0..1", mean: o.Mean = None, std: o.Std = None, image_size: o.ImageSize = None,
    input_shape: o.InputShape = None, input_value: o.InputValue = None, state: o.State = None,
    state_init: o.StateInit = None, signature: o.Signature = None, unsafe_deserialization: o.Unsafe = False,
    calibration_method: o.CalibrationMethod = None, opset: o.Opset = None,
    min_cosine: o.MinCosine = None, min_top1_agreement: o.MinTop1Agreement = None,
    max_accuracy_drop: Annotated[float, typer.Option(help="Recommend the fastest variant at most this many accuracy points below the source (also each variant's fidelity gate).")] = 1.0,
    threads: Threads = None,
    runs: Runs = 100,
    warmup: Warmup = 10,
    seed: o.Seed = 0,
    device: Device = None,
    identity: Identity = None,
    known_hosts: KnownHosts = None,
    accept_new_host_key: AcceptNew = False,
    remote_python: RemotePython = "python3",
) -> None:
    """Build every variant a target allows, validate and benchmark each, recommend one; table + Pareto plot."""
    import os

    from edgekit import api
    from edgekit.bench import BenchOptions
    from edgekit.targets import load_target
    from edgekit.workflows.sweep.report import markdown, where_text

    profile = load_target(target)
    opts = o.convert_options(
        calibration=calibration, calibration_samples=calibration_samples, eval_data=eval_data, normalize=normalize,
        mean=mean, std=std, image_size=image_size, seed=seed, unsafe_deserialization=unsafe_deserialization,
        input_shape=input_shape, input_value=input_value, state=state, state_init=state_init, signature=signature,
        calibration_method=calibration_method, opset=opset, min_cosine=min_cosine,
        max_accuracy_drop=max_accuracy_drop, min_top1_agreement=min_top1_agreement,
    )
    if threads is None:
        threads = profile.default_threads if device else min(profile.default_threads, os.cpu_count() or 1)
    bench = BenchOptions(threads=threads, runs=runs, warmup=warmup, seed=seed)
    names = [v.strip() for v in variants.split(",") if v.strip()] if variants else None
    with Bar() as bar:
        res = api.sweep(model, target=profile, output_dir=output, options=opts, variants=names,
                        max_accuracy_drop=max_accuracy_drop, bench_options=bench, device=device,
                        ssh=ssh_options(identity, known_hosts, accept_new_host_key, remote_python), progress=bar)
    sys.stdout.write(markdown(res.data))
    con = o.console()
    con.print(f"[bold yellow]latency {where_text(res.data)}[/]")
    con.print("wrote " + ", ".join(str(p) for p in res.paths.values()))
    if res.interrupted:
        con.print(f"[bold red]INTERRUPTED[/]: partial sweep ({len(res.data['rows'])} of {len(res.data['planned'])} variants)")
        raise typer.Exit(130)
