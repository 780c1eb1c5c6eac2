"""What the commands share: the console, and the option groups that fill one ConvertOptions (``convert``
and ``sweep`` list the same typer ``Annotated`` aliases; :func:`convert_options` is the one mapping)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

_DATA, _ONNX, _OPT, _BUDGET = "Data", "ONNX", "Optimize (prune / QAT)", "Fidelity budget"


def console(stderr: bool = False, width: int | None = None):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, emoji=False, width=width, soft_wrap=stderr)


Precision = Annotated[Optional[str], typer.Option(help="fp32 | fp16 | dynamic | int8 | int16x8 (default: the profile's).")]
Formats = Annotated[Optional[str], typer.Option("--format", help="Comma-separated artifact formats, e.g. tflite,onnx (default: the profile's).")]
Calibration = Annotated[Optional[str], typer.Option(help="Calibration data: .npz (x[, y]), .npy, a folder of images, or 'random' (labelled as such).", rich_help_panel=_DATA)]
CalibrationSamples = Annotated[int, typer.Option(help="How many calibration samples to draw (seeded).", rich_help_panel=_DATA)]
EvalData = Annotated[Optional[Path], typer.Option(help="Held-out .npz/.npy/images for validation (labels give accuracy).", rich_help_panel=_DATA)]
Normalize = Annotated[str, typer.Option(help="Image folders: 0..1 | -1..1 | 0..255 | mean-std.", rich_help_panel=_DATA)]
Mean = Annotated[Optional[str], typer.Option(help="Image folders with --normalize mean-std: per-channel mean, e.g. 0.485,0.456,0.406.", rich_help_panel=_DATA)]
Std = Annotated[Optional[str], typer.Option(help="Image folders with --normalize mean-std: per-channel std.", rich_help_panel=_DATA)]
ImageSize = Annotated[Optional[str], typer.Option(help="Image folders: H,W (default: the model's input size).", rich_help_panel=_DATA)]
Seed = Annotated[int, typer.Option(help="Seed for sampling calibration and validation data.")]
Unsafe = Annotated[bool, typer.Option("--unsafe-deserialization", help="Allow .keras files that contain code (Lambda layers). Only for models you trust.")]
InputShape = Annotated[Optional[list[str]], typer.Option(help="Models with dynamic dimensions: 1,3,32,32, or NAME:1,3,32,32 (repeat for each input).", rich_help_panel=_DATA)]
InputValue = Annotated[Optional[list[str]], typer.Option(help="Freeze an input to a constant, folded into the graph: NAME=VALUE, e.g. sr=16000 (repeatable).", rich_help_panel=_DATA)]
State = Annotated[Optional[list[str]], typer.Option(help="Stateful streaming model: OUT:IN feeds output OUT back into input IN on the next frame (repeatable). Data inputs are then sequences (N, T, *frame).", rich_help_panel=_DATA)]
StateInit = Annotated[Optional[Path], typer.Option(help="With --state: .npz with the initial value of each state input, named after it (default: zeros).", rich_help_panel=_DATA)]
Signature = Annotated[Optional[str], typer.Option(help="SavedModel or multi-signature .tflite source: the signature to convert.", rich_help_panel=_DATA)]
CalibrationMethod = Annotated[Optional[str], typer.Option(help="ONNX int8: minmax | percentile | entropy (default: the profile's).", rich_help_panel=_ONNX)]
Opset = Annotated[Optional[int], typer.Option(help="ONNX opset to emit (default: the profile's onnx.opset, or an ONNX model's own).", rich_help_panel=_ONNX)]
PerChannel = Annotated[Optional[bool], typer.Option("--per-channel/--no-per-channel", help="ONNX: per-channel int8 weights (default: the profile's).", rich_help_panel=_ONNX)]
SymmetricActivations = Annotated[Optional[bool], typer.Option("--symmetric-activations/--asymmetric-activations", help="ONNX int8: symmetric int8 or asymmetric uint8 activations (default: the profile's).", rich_help_panel=_ONNX)]
ReduceRange = Annotated[Optional[bool], typer.Option("--reduce-range/--no-reduce-range", help="ONNX: 7-bit weights for x86 CPUs without VNNI (default: the profile's).", rich_help_panel=_ONNX)]
Prune = Annotated[Optional[str], typer.Option(help="Magnitude-prune Conv/Dense/DepthwiseConv kernels (Keras models): a sparsity such as 0.5, or N:M such as 2:4. Needs --train-data.", rich_help_panel=_OPT)]
PruneInclude = Annotated[Optional[list[str]], typer.Option(help="Only prune layers whose name matches these globs (repeat or comma-separate), e.g. 'conv*'.", rich_help_panel=_OPT)]
PruneExclude = Annotated[Optional[list[str]], typer.Option(help="Never prune layers whose name matches these globs, e.g. 'probs'.", rich_help_panel=_OPT)]
Qat = Annotated[bool, typer.Option("--qat", help="Quantization-aware training for int8 (Keras models): fold BatchNorm, fake-quantize, fine-tune. Needs --train-data.", rich_help_panel=_OPT)]
TrainData = Annotated[Optional[Path], typer.Option(help="Fine-tuning data for --prune/--qat: .npz with x and labels y, or an image folder with one sub-folder per class.", rich_help_panel=_OPT)]
Epochs = Annotated[int, typer.Option(help="Fine-tuning epochs, for each of pruning and QAT.", rich_help_panel=_OPT)]
BatchSize = Annotated[int, typer.Option(help="Fine-tuning batch size.", rich_help_panel=_OPT)]
Loss = Annotated[Optional[str], typer.Option(help="Keras loss for fine-tuning (default: the model's compile config), e.g. sparse_categorical_crossentropy.", rich_help_panel=_OPT)]
LearningRate = Annotated[Optional[float], typer.Option(help="Adam learning rate for fine-tuning (default: 1e-3 pruning, 5e-5 QAT).", rich_help_panel=_OPT)]
MinCosine = Annotated[Optional[float], typer.Option(help="Fail (exit 1) an artifact whose mean cosine to the source is lower (default: the profile's min_cosine, 0.99).", rich_help_panel=_BUDGET)]
LayerReport = Annotated[bool, typer.Option("--layer-report", help="Write each int8 artifact's per-layer quantization error (json, csv, png, Model Explorer overlay).", rich_help_panel=_BUDGET)]
MixedPrecision = Annotated[str, typer.Option(help="auto: when full int8 misses the budget, keep the fewest most sensitive layers in 16-bit or float (as the target allows) until it meets it | off.", rich_help_panel=_BUDGET)]
DeviceCheck = Annotated[str, typer.Option(help="Run .tflite artifacts on the target device's own runtimes under emulation (aarch64 profiles such as rpi): auto (when `edgekit device-env setup` was run) | on (set up on first use) | off. Default: $EDGEKIT_DEVICE_CHECK or auto.", rich_help_panel=_BUDGET)]
EdgeTpuCompiler = Annotated[Optional[str], typer.Option(help="coral-edgetpu: run this edgetpu_compiler on the artifact (default: the one on PATH, if any).")]
Emit = Annotated[Optional[str], typer.Option("--emit", help="Extra outputs: c-array (model_data.cc/.h for firmware).")]
MaxAccuracyDrop = Annotated[float, typer.Option(help="Fail an artifact whose accuracy is more than this many points below the source's (needs labels).", rich_help_panel=_BUDGET)]
MinTop1Agreement = Annotated[Optional[float], typer.Option(help="Fail a classifier artifact agreeing with the source's top-1 on fewer samples than this fraction.", rich_help_panel=_BUDGET)]


def _floats(text: Optional[str], what: str) -> Optional[tuple[float, ...]]:
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"{what}: expected comma-separated numbers, got {text!r}") from None


def _image(normalize, mean, std, image_size) -> dict | None:
    size = _floats(image_size, "--image-size")
    fields = {"normalize": normalize, "mean": _floats(mean, "--mean"), "std": _floats(std, "--std"),
              "size": None if size is None else tuple(int(v) for v in size)}
    return fields if any(v is not None for k, v in fields.items() if k != "normalize") or normalize != "0..1" else None


def _globs(values) -> tuple[str, ...]:
    return tuple(g.strip() for v in values or () for g in v.split(",") if g.strip())


def _optimize(prune, include, exclude, qat, train_data, epochs, batch_size, loss, learning_rate) -> dict | None:
    if prune is None and not qat and train_data is None and not include and not exclude:
        return None
    from edgekit.options.optimize import OptimizeOptions

    return OptimizeOptions.from_flags(
        prune=prune, prune_include=_globs(include), prune_exclude=_globs(exclude), qat=qat, train_data=train_data,
        epochs=epochs, batch_size=batch_size, loss=loss, learning_rate=learning_rate,
    ).model_dump()


def convert_options(*, precision=None, format=None, calibration=None, calibration_samples=200, eval_data=None,
                    normalize="0..1", mean=None, std=None, image_size=None, seed=0, unsafe_deserialization=False,
                    input_shape=None, input_value=None, state=None, state_init=None, signature=None,
                    calibration_method=None, opset=None, per_channel=None,
                    symmetric_activations=None, reduce_range=None, prune=None, prune_include=None,
                    prune_exclude=None, qat=False, train_data=None, epochs=2, batch_size=32, loss=None,
                    learning_rate=None, min_cosine=None, max_accuracy_drop=1.0, min_top1_agreement=None,
                    device_check=None, emit=None, layer_report=False, mixed_precision="off", edgetpu_compiler=None):
    """The one mapping from the shared CLI flags to a ConvertOptions (ConfigError names a bad flag)."""
    from edgekit.options import ConvertOptions

    return ConvertOptions.make(
        precision=precision,
        formats=[f.strip() for f in format.split(",") if f.strip()] if format else None,
        calibration=calibration, calibration_samples=calibration_samples, eval_data=eval_data,
        image=_image(normalize, mean, std, image_size), seed=seed, unsafe_deserialization=unsafe_deserialization,
        input_shape=input_shape, input_value=list(input_value or ()), state=list(state or ()),
        state_init=state_init, signature=signature,
        onnx={"opset": opset, "calibration_method": calibration_method, "per_channel": per_channel,
              "activation_symmetric": symmetric_activations, "reduce_range": reduce_range},
        optimize=_optimize(prune, prune_include, prune_exclude, qat, train_data, epochs, batch_size, loss, learning_rate),
        budget={"min_cosine": min_cosine, "max_accuracy_drop": max_accuracy_drop,
                "min_top1_agreement": min_top1_agreement},
        **({} if device_check is None else {"device_check": device_check}),
        emit_c_array=_emit(emit), layer_report=layer_report, mixed_precision=mixed_precision,
        edgetpu_compiler=edgetpu_compiler,
    )


def _emit(text: Optional[str]) -> bool:
    kinds = {k.strip() for k in (text or "").split(",") if k.strip()}
    if kinds - {"c-array"}:
        from edgekit.errors import ConfigError

        raise ConfigError(f"--emit {text!r}: choose from c-array")
    return "c-array" in kinds
