"""The manifest every conversion writes beside its artifacts, as typed models, and its JSON Schema.

No timestamps: the same inputs give the same bytes. Readers (CLI summary, build, report, sweep) use these
models' attributes, never string keys. ``edgekit schema manifest`` prints the schema; a copy ships in the
package (``edgekit/schemas/manifest.schema.json``) and a test keeps the two equal.
"""

from __future__ import annotations

import json
import platform
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

import edgekit
from edgekit.manifest.device import DeviceCheck
from edgekit.manifest.fidelity import LayerReportFiles, MixedResult
from edgekit.manifest.placement import EdgeTpuCompile, Mcu, Placement

SCHEMA_VERSION = 2  # 2: "passed", per-artifact "gate", "placement", "mcu", "device"; "options"; "source.loader"
_TOOLS = ("numpy", "tensorflow", "keras", "ai-edge-litert", "onnx", "onnxruntime", "tf2onnx", "onnxsim")


def tool_versions(names=_TOOLS) -> dict[str, str | None]:
    out: dict[str, str | None] = {"edgekit": edgekit.__version__, "python": platform.python_version()}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = None
    return out


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Tensor(_Model):
    name: str
    shape: list[int | None]
    dtype: str = "float32"


class Source(_Model):
    path: str
    sha256: str
    format: str
    loader: str | None = None  # e.g. "keras", "tf.saved_model.load", "tf.compat.v1 (legacy SavedModel)"
    inputs: list[Tensor]
    outputs: list[Tensor]


class Target(_Model):
    name: str
    description: str
    device: str
    runtime: str
    delegate: str
    profile: str


class PrecisionRecord(_Model):
    profile_default: str
    requested: str | None
    used: str
    fallback: str | None


class Calibration(_Model):
    source: str
    kind: str
    random: bool
    samples: int
    available: int
    seed: int
    sha256: str


class ValidationData(_Model):
    kind: str
    source: str
    samples: int
    labels: bool
    sha256: str


class OutputFidelity(_Model):
    name: str
    max_abs_error: float
    mean_abs_error: float
    cosine_mean: float
    cosine_min: float
    top1_agreement: float | None = None  # outputs that are class distributions (decision at 0.5 for a sigmoid)


class Accuracy(_Model):
    source: float
    artifact: float
    drop: float


class RuntimeRecord(_Model):
    name: str
    version: str


class Fidelity(_Model):
    """How closely one set of outputs follows another (an artifact vs its source, or two artifacts)."""

    max_abs_error: float
    cosine: float  # the lowest per-output mean cosine
    outputs: list[OutputFidelity]
    top1_agreement: float | None = None  # classifiers only
    accuracy: Accuracy | None = None  # when the validation data has labels
    runtime: RuntimeRecord | None = None  # what ran the artifact


class Check(_Model):
    """One gate or report check: pass / fail / skip, the value and the limit it was held to."""

    name: str
    status: Literal["pass", "fail", "skip"]
    value: float | None = None
    limit: float | None = None
    message: str


class Gate(_Model):
    passed: bool
    checks: list[Check]

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]


class ArtifactRecord(_Model):
    path: str  # file name, relative to the manifest's folder
    format: str
    precision: str
    io_dtype: str  # read back from the artifact itself
    sha256: str
    bytes: int
    validation: Fidelity
    gate: Gate
    float_ops: list[str] | None = None  # ops left computing in float after integer quantization
    opset: int | None = None  # ONNX
    exporter: str | None = None
    onnxsim: dict[str, Any] | None = None
    source_preparation: list[str] | None = None
    quantization: dict[str, Any] | None = None
    quantization_check: dict[str, Any] | None = None  # ONNX: loaded and ran after quantization; nodes excluded
    quantizer: dict[str, Any] | None = None  # .tflite sources: ai-edge-quantizer's recipe and calibration
    placement: Placement | None = None  # where every op runs on the target's accelerator
    edgetpu: EdgeTpuCompile | None = None  # the real edgetpu_compiler's run, when it is installed
    mcu: Mcu | None = None  # microcontroller targets: arena and flash, measured in TFLite Micro
    device: DeviceCheck | None = None  # run on the device's own runtime(s), under emulation
    c_array: list[str] | None = None  # --emit c-array: the firmware source files written beside it
    layer_report: LayerReportFiles | None = None  # --layer-report: per-layer quantization error
    mixed_precision: MixedResult | None = None  # --mixed-precision auto: what was kept, and why


class ValidationSummary(_Model):
    """The first artifact's headline numbers (kept for tools that read ``validation.*``)."""

    max_abs_error: float
    cosine: float
    top1_agreement: float | None
    accuracy: Accuracy | None


class CrossFormat(_Model):
    between: list[str]
    max_abs_error: float
    cosine: float
    outputs: list[OutputFidelity]
    top1_agreement: float | None = None


class Optimization(BaseModel):
    """Pruning / QAT: options, loss, training data, per-epoch history, accuracy before/after, per-layer
    sparsity, BN folds, learned ranges, and per artifact its raw/gzip bytes and read-back sparsity."""

    model_config = ConfigDict(frozen=True, extra="allow")

    options: dict[str, Any]
    seed: int
    loss: Any
    train_data: dict[str, Any]
    accuracy: dict[str, Any]
    phases: list[dict[str, Any]]
    notes: list[str]
    artifacts: list[dict[str, Any]]


class Manifest(_Model):
    schema_version: int = SCHEMA_VERSION
    edgekit_version: str
    passed: bool = Field(description="every artifact met its fidelity budget")
    source: Source
    target: Target
    precision: PrecisionRecord
    options: dict[str, Any] = Field(description="the ConvertOptions used (model_dump, JSON mode)")
    unsafe_deserialization: bool = False
    calibration: Calibration | None
    validation_data: ValidationData
    artifacts: list[ArtifactRecord]
    validation: ValidationSummary
    cross_format_agreement: CrossFormat | None = None
    optimization: Optimization | None = None
    warnings: list[str]
    tool_versions: dict[str, str | None]

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def read(cls, path: str | Path) -> Manifest:
        return cls.model_validate_json(Path(path).read_text())


def manifest_schema() -> dict[str, Any]:
    schema = Manifest.model_json_schema()
    schema["$id"] = f"https://edgekit.dev/schemas/manifest-{SCHEMA_VERSION}.json"
    schema["title"] = "edgekit manifest.json"
    return schema


def shipped_schema() -> dict[str, Any]:
    """The JSON Schema committed in the package (``edgekit/schemas/manifest.schema.json``)."""
    return json.loads(resources.files("edgekit.schemas").joinpath("manifest.schema.json").read_text())
