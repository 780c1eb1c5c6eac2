"""``edgekit convert``, ``targets``, ``example`` and ``schema``. Thin: parse, call :mod:`edgekit.api`, print.
Exit codes: 0 success, 1 an artifact missed its fidelity budget (it is written, marked failed), 2 bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from edgekit.cli import common as o


def convert(
    model: Annotated[Path, typer.Argument(help="A .keras / .h5 file, a SavedModel folder, an .onnx file or a float .tflite.")],
    target: Annotated[str, typer.Option("--target", "-t", help="Target profile name (see `edgekit targets`) or a profile .toml/.yaml path.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder for artifacts and manifest.json.")] = Path("out"),
    precision: o.Precision = None, format: o.Formats = None, calibration: o.Calibration = None,
    calibration_samples: o.CalibrationSamples = 200, eval_data: o.EvalData = None, normalize: o.Normalize = "0..1",
    mean: o.Mean = None, std: o.Std = None, image_size: o.ImageSize = None, seed: o.Seed = 0,
    unsafe_deserialization: o.Unsafe = False, input_shape: o.InputShape = None, input_value: o.InputValue = None,
    state: o.State = None, state_init: o.StateInit = None, signature: o.Signature = None,
    calibration_method: o.CalibrationMethod = None, opset: o.Opset = None, per_channel: o.PerChannel = None,
    symmetric_activations: o.SymmetricActivations = None, reduce_range: o.ReduceRange = None,
    prune: o.Prune = None, prune_include: o.PruneInclude = None, prune_exclude: o.PruneExclude = None,
    qat: o.Qat = False, train_data: o.TrainData = None, epochs: o.Epochs = 2, batch_size: o.BatchSize = 32,
    loss: o.Loss = None, learning_rate: o.LearningRate = None, min_cosine: o.MinCosine = None,
    max_accuracy_drop: o.MaxAccuracyDrop = 1.0, min_top1_agreement: o.MinTop1Agreement = None,
    device_check: o.DeviceCheck = None, emit: o.Emit = None, layer_report: o.LayerReport = False,
    mixed_precision: o.MixedPrecision = "off", edgetpu_compiler: o.EdgeTpuCompiler = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace another model's or target's conversion in the output folder.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON instead of the summary.")] = False,
) -> None:
    """Convert MODEL for a target: quantize, emit, validate against the source, write artifacts + manifest.json."""
    from edgekit import api
    from edgekit.cli.summary import print_summary

    opts = o.convert_options(
        precision=precision, format=format, calibration=calibration, calibration_samples=calibration_samples,
        eval_data=eval_data, normalize=normalize, mean=mean, std=std, image_size=image_size, seed=seed,
        unsafe_deserialization=unsafe_deserialization, input_shape=input_shape, input_value=input_value,
        state=state, state_init=state_init, signature=signature,
        calibration_method=calibration_method, opset=opset, per_channel=per_channel,
        symmetric_activations=symmetric_activations, reduce_range=reduce_range, prune=prune,
        prune_include=prune_include, prune_exclude=prune_exclude, qat=qat, train_data=train_data, epochs=epochs,
        batch_size=batch_size, loss=loss, learning_rate=learning_rate, min_cosine=min_cosine,
        max_accuracy_drop=max_accuracy_drop, min_top1_agreement=min_top1_agreement, device_check=device_check,
        emit=emit, layer_report=layer_report, mixed_precision=mixed_precision, edgetpu_compiler=edgetpu_compiler,
    )
    err = o.console(stderr=True)
    with err.status("converting…") as status:
        result = api.convert(model, target, opts, output, overwrite=overwrite,
                             progress=lambda stage, done, total: status.update(f"{stage}…"))
    if as_json:
        for w in result.warnings:
            err.print(f"[bold yellow]warning:[/] {w}")
        sys.stdout.write(json.dumps(result.manifest.to_json(), indent=2) + "\n")
    else:
        print_summary(result.manifest, result.warnings, output)
    if not result.passed:
        raise typer.Exit(1)


def targets(
    as_json: Annotated[bool, typer.Option("--json", help="Print the profiles as JSON.")] = False,
) -> None:
    """List the shipped target profiles."""
    from edgekit.targets import all_targets

    profiles = all_targets()
    if as_json:
        sys.stdout.write(json.dumps([p.model_dump(mode="json") for p in profiles], indent=2) + "\n")
        return
    from rich.table import Table

    tbl = Table(title="edgekit target profiles (pass a name, or a path to your own .toml)")
    for col in ("name", "runtime", "precision", "IO", "device runtimes", "description"):
        tbl.add_column(col)
    for p in profiles:
        device = ", ".join(f"{r.name} {r.version} (py{r.python}, {p.arch})" for r in p.device_runtimes) or "-"
        tbl.add_row(p.name, f"{p.runtime}/{p.delegate}", p.precision.value, p.io_dtype, device, p.description)
    o.console().print(tbl)


def example(
    workdir: Annotated[Path, typer.Option("--workdir", "-w", help="Where the example model, data and artifacts go.")] = Path("example-out"),
    target: Annotated[str, typer.Option("--target", "-t", help="Target profile.")] = "rpi",
    epochs: Annotated[int, typer.Option(help="Training epochs for the example CNN.")] = 12,
    seed: Annotated[int, typer.Option(help="Seed for training and sampling.")] = 0,
) -> None:
    """Run the main job on the built-in example: train a small CNN on real digits, convert it, validate it."""
    from edgekit import api
    from edgekit.cli.summary import print_summary
    from edgekit.example import make_example
    from edgekit.options import ConvertOptions

    from edgekit.targets import load_target

    profile = load_target(target)  # a bad target fails before any training
    err = o.console(stderr=True)
    with err.status("training the example CNN on scikit-learn digits…"):
        ex = make_example(workdir, seed=seed, epochs=epochs)
    err.print(f"example model {ex.model} (Keras test accuracy {ex.keras_accuracy:.2%})")
    out = workdir / "out"
    opts = ConvertOptions(calibration=str(ex.train), eval_data=str(ex.test), seed=seed)
    with err.status("converting…") as status:
        result = api.convert(ex.model, profile, opts, out, overwrite=True,
                             progress=lambda stage, done, total: status.update(f"{stage}…"))
    print_summary(result.manifest, result.warnings, out)
    if not result.passed:
        raise typer.Exit(1)


def schema(
    name: Annotated[str, typer.Argument(help="Which schema: manifest.")] = "manifest",
) -> None:
    """Print a JSON Schema of edgekit's output (manifest.json)."""
    from edgekit.errors import ConfigError
    from edgekit.manifest import manifest_schema

    if name != "manifest":
        raise ConfigError(f"unknown schema {name!r}; choose from manifest")
    sys.stdout.write(json.dumps(manifest_schema(), indent=2) + "\n")
