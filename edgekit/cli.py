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
) -> None:
    """Convert MODEL for a target: quantize, emit, validate against the source, write artifacts + manifest.json."""
    from edgekit import api

    opts = _image_options(normalize, mean, std, image_size)
    formats = [f.strip() for f in format.split(",") if f.strip()] if format else None
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


def main(argv: Optional[list[str]] = None) -> None:
    """Console entry point: EdgekitError -> one message on stderr, exit code 2 (usage errors also exit 2)."""
    try:
        app(args=argv, prog_name="edgekit")
    except EdgekitError as exc:
        _console(stderr=True).print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
