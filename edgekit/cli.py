"""The ``edgekit`` command line: thin. Parses, calls :mod:`edgekit.api`, prints; maps EdgekitError to exit 2.

Nothing heavy is imported at module level: ``edgekit --help`` never loads TensorFlow.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgekit.errors import EdgekitError

app = typer.Typer(
    name="edgekit",
    help="Compile trained networks (Keras, SavedModel, ONNX) into validated, quantized artifacts for edge targets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _floats(text: Optional[str], what: str) -> Optional[tuple[float, ...]]:
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"{what}: expected comma-separated numbers, got {text!r}") from None


def _image_options(normalize, mean, std, image_size):
    from pydantic import ValidationError

    from edgekit.errors import ConfigError
    from edgekit.quantize.calibration import ImageOptions

    size = _floats(image_size, "--image-size")
    try:
        return ImageOptions(
            normalize=normalize,
            mean=_floats(mean, "--mean"),
            std=_floats(std, "--std"),
            size=None if size is None else tuple(int(v) for v in size),
        )
    except ValidationError as exc:
        msgs = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise ConfigError(f"image options: {msgs}") from None


_OPT = "Optimize (prune / QAT)"


def _optimize_options(prune, include, exclude, qat, train_data, epochs, batch_size, loss, learning_rate):
    """OptimizeOptions from the convert flags, or None when no optimization flag is given."""
    if prune is None and not qat and train_data is None and not include and not exclude:
        return None
    from edgekit.optimize.options import OptimizeOptions

    def globs(values):
        return tuple(g.strip() for v in values or () for g in v.split(",") if g.strip())

    return OptimizeOptions.from_flags(
        prune=prune, prune_include=globs(include), prune_exclude=globs(exclude), qat=qat, train_data=train_data,
        epochs=epochs, batch_size=batch_size, loss=loss, learning_rate=learning_rate,
    )


def print_summary(manifest: dict, warnings: list[str], out_dir: Path) -> None:
    from rich.table import Table

    con = _console()
    t = manifest["target"]
    tbl = Table(title=f"{Path(manifest['source']['path']).name} → {t['name']} ({t['runtime']}/{t['delegate']})")
    tbl.add_column("")
    arts = manifest["artifacts"]
    for a in arts:
        tbl.add_column(a["path"], justify="right", overflow="fold")

    def row(label, fn):
        tbl.add_row(label, *(fn(a, a["validation"]) for a in arts))

    row("precision / IO", lambda a, v: f"{a['precision']} / {a['io_dtype']}")
    row("bytes", lambda a, v: f"{a['bytes']:,}")
    row("max |error|", lambda a, v: f"{v['max_abs_error']:.4g}")
    row("cosine (mean)", lambda a, v: f"{v['cosine']:.6f}")
    row("top-1 agreement", lambda a, v: "-" if v["top1_agreement"] is None else f"{v['top1_agreement']:.2%}")
    row("accuracy source", lambda a, v: f"{v['accuracy']['source']:.2%}" if v.get("accuracy") else "-")
    row("accuracy artifact", lambda a, v: f"{v['accuracy']['artifact']:.2%}" if v.get("accuracy") else "-")
    con.print(tbl)
    vd = manifest["validation_data"]
    cal = manifest["calibration"]
    con.print(
        f"validated on {vd['samples']} samples ({vd['kind']}) with "
        + ", ".join(f"{a['validation']['runtime']['name']} {a['validation']['runtime']['version']}" for a in manifest["artifacts"])
    )
    if cal:
        con.print(f"calibrated on {cal['samples']} samples of {cal['source']} (sha256 {cal['sha256'][:12]}…)")
    if manifest.get("cross_format_agreement"):
        c = manifest["cross_format_agreement"]
        con.print(f"{' vs '.join(c['between'])}: max |err| {c['max_abs_error']:.4g}, top-1 agree {c['top1_agreement']}")
    if manifest.get("optimization"):
        from edgekit.optimize.summary import lines

        for line in lines(manifest["optimization"]):
            con.print(line)
    for w in warnings:
        con.print(f"[bold yellow]warning:[/] {w}")
    con.print(f"wrote {out_dir / 'manifest.json'}")


@app.command()
def convert(
    model: Annotated[Path, typer.Argument(help="A .keras / .h5 file, a SavedModel folder or an .onnx file.")],
    target: Annotated[str, typer.Option("--target", "-t", help="Target profile name (see `edgekit targets`) or a profile .toml/.yaml path.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder for artifacts and manifest.json.")] = Path("out"),
    precision: Annotated[Optional[str], typer.Option(help="fp32 | fp16 | dynamic | int8 | int16x8 (default: the profile's).")] = None,
    format: Annotated[Optional[str], typer.Option("--format", help="Comma-separated artifact formats, e.g. tflite,onnx (default: the profile's).")] = None,
    calibration: Annotated[Optional[str], typer.Option(help="Calibration data: .npz (x[, y]), .npy, a folder of images, or 'random' (labelled as such).")] = None,
    calibration_samples: Annotated[int, typer.Option(help="How many calibration samples to draw (seeded).")] = 200,
    eval_data: Annotated[Optional[Path], typer.Option(help="Held-out .npz/.npy/images for validation (labels give accuracy).")] = None,
    normalize: Annotated[str, typer.Option(help="Image folders: 0..1 | -1..1 | 0..255 | mean-std.")] = "0..1",
    mean: Annotated[Optional[str], typer.Option(help="Image folders with --normalize mean-std: per-channel mean, e.g. 0.485,0.456,0.406.")] = None,
    std: Annotated[Optional[str], typer.Option(help="Image folders with --normalize mean-std: per-channel std.")] = None,
    image_size: Annotated[Optional[str], typer.Option(help="Image folders: H,W (default: the model's input size).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for sampling calibration and validation data.")] = 0,
    unsafe_deserialization: Annotated[bool, typer.Option("--unsafe-deserialization", help="Allow .keras files that contain code (Lambda layers). Only for models you trust.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON instead of the summary.")] = False,
    calibration_method: Annotated[Optional[str], typer.Option(help="ONNX int8: minmax | percentile | entropy (default: the profile's).", rich_help_panel="ONNX")] = None,
    opset: Annotated[Optional[int], typer.Option(help="ONNX opset to emit (default: the profile's onnx.opset, or an ONNX model's own).", rich_help_panel="ONNX")] = None,
    input_shape: Annotated[Optional[str], typer.Option(help="ONNX models with dynamic dimensions: 1,3,32,32 or NAME:1,3,32,32.", rich_help_panel="ONNX")] = None,
    per_channel: Annotated[Optional[bool], typer.Option("--per-channel/--no-per-channel", help="ONNX: per-channel int8 weights (default: the profile's).", rich_help_panel="ONNX")] = None,
    symmetric_activations: Annotated[Optional[bool], typer.Option("--symmetric-activations/--asymmetric-activations", help="ONNX int8: symmetric int8 or asymmetric uint8 activations (default: the profile's).", rich_help_panel="ONNX")] = None,
    reduce_range: Annotated[Optional[bool], typer.Option("--reduce-range/--no-reduce-range", help="ONNX: 7-bit weights for x86 CPUs without VNNI (default: the profile's).", rich_help_panel="ONNX")] = None,
    prune: Annotated[Optional[str], typer.Option(help="Magnitude-prune Conv/Dense/DepthwiseConv kernels (Keras models): a sparsity such as 0.5, or N:M such as 2:4. Needs --train-data.", rich_help_panel=_OPT)] = None,
    prune_include: Annotated[Optional[list[str]], typer.Option(help="Only prune layers whose name matches these globs (repeat or comma-separate), e.g. 'conv*'.", rich_help_panel=_OPT)] = None,
    prune_exclude: Annotated[Optional[list[str]], typer.Option(help="Never prune layers whose name matches these globs, e.g. 'probs'.", rich_help_panel=_OPT)] = None,
    qat: Annotated[bool, typer.Option("--qat", help="Quantization-aware training for int8 (Keras models): fold BatchNorm, fake-quantize, fine-tune. Needs --train-data.", rich_help_panel=_OPT)] = False,
    train_data: Annotated[Optional[Path], typer.Option(help="Fine-tuning data for --prune/--qat: .npz with x and labels y, or an image folder with one sub-folder per class.", rich_help_panel=_OPT)] = None,
    epochs: Annotated[int, typer.Option(help="Fine-tuning epochs, for each of pruning and QAT.", rich_help_panel=_OPT)] = 2,
    batch_size: Annotated[int, typer.Option(help="Fine-tuning batch size.", rich_help_panel=_OPT)] = 32,
    loss: Annotated[Optional[str], typer.Option(help="Keras loss for fine-tuning (default: the model's compile config), e.g. sparse_categorical_crossentropy.", rich_help_panel=_OPT)] = None,
    learning_rate: Annotated[Optional[float], typer.Option(help="Adam learning rate for fine-tuning (default: 1e-3 pruning, 5e-5 QAT).", rich_help_panel=_OPT)] = None,
) -> None:
    """Convert MODEL for a target: quantize, emit, validate against the source, write artifacts + manifest.json."""
    from edgekit import api

    opts = _image_options(normalize, mean, std, image_size)
    formats = [f.strip() for f in format.split(",") if f.strip()] if format else None
    onnx_opts = dict(opset=opset, calibration_method=calibration_method, per_channel=per_channel,
                     activation_symmetric=symmetric_activations, reduce_range=reduce_range)
    optimize = _optimize_options(prune, prune_include, prune_exclude, qat, train_data, epochs, batch_size, loss,
                                 learning_rate)
    err = _console(stderr=True)
    with err.status("converting…") as status:
        result = api.convert(
            model,
            target=target,
            output_dir=output,
            precision=precision,
            formats=formats,
            calibration=calibration,
            calibration_samples=calibration_samples,
            eval_data=eval_data,
            image_options=opts,
            seed=seed,
            unsafe=unsafe_deserialization,
            on_stage=lambda s: status.update(f"{s}…"),
            emit_options={k: v for k, v in onnx_opts.items() if v is not None},
            load_options={"input_shape": input_shape} if input_shape else None,
            optimize=optimize,
        )
    if as_json:
        for w in result.warnings:
            err.print(f"[bold yellow]warning:[/] {w}")
        sys.stdout.write(json.dumps(result.manifest, indent=2) + "\n")
    else:
        print_summary(result.manifest, result.warnings, output)


@app.command()
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
    for col in ("name", "runtime", "precision", "IO", "description"):
        tbl.add_column(col)
    for p in profiles:
        tbl.add_row(p.name, f"{p.runtime}/{p.delegate}", p.precision.value, p.io_dtype, p.description)
    _console().print(tbl)


@app.command()
def example(
    workdir: Annotated[Path, typer.Option("--workdir", "-w", help="Where the example model, data and artifacts go.")] = Path("example-out"),
    target: Annotated[str, typer.Option("--target", "-t", help="Target profile.")] = "rpi",
    epochs: Annotated[int, typer.Option(help="Training epochs for the example CNN.")] = 12,
    seed: Annotated[int, typer.Option(help="Seed for training and sampling.")] = 0,
) -> None:
    """Run the main job on the built-in example: train a small CNN on real digits, convert it, validate it."""
    from edgekit import api
    from edgekit.example import make_example

    err = _console(stderr=True)
    with err.status("training the example CNN on scikit-learn digits…"):
        ex = make_example(workdir, seed=seed, epochs=epochs)
    err.print(f"example model {ex.model} (Keras test accuracy {ex.keras_accuracy:.2%})")
    out = workdir / "out"
    with err.status("converting…") as status:
        result = api.convert(
            ex.model,
            target=target,
            output_dir=out,
            calibration=ex.train,
            eval_data=ex.test,
            seed=seed,
            on_stage=lambda s: status.update(f"{s}…"),
        )
    print_summary(result.manifest, result.warnings, out)


# bench, harness, sweep: defined in edgekit/bench/commands.py (light imports only)
from edgekit.bench.commands import register as _register_bench  # noqa: E402

_register_bench(app)

# build, merge, report: defined in edgekit/build/cli.py and edgekit/report/cli.py (light imports only)
from edgekit.build.cli import build as _build, merge as _merge  # noqa: E402
from edgekit.report.cli import report as _report  # noqa: E402

from edgekit.placement.cli import inspect as _inspect  # noqa: E402

for _cmd in (_build, _merge, _report, _inspect):
    app.command()(_cmd)


def main(argv: Optional[list[str]] = None) -> None:
    """Console entry point: EdgekitError -> one message on stderr, exit code 2 (usage errors also exit 2)."""
    try:
        app(args=argv, prog_name="edgekit")
    except EdgekitError as exc:
        _console(stderr=True).print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
