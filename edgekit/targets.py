"""Target profiles: data files (``targets/*.toml``) validated into frozen pydantic models.

A profile says how an artifact for one kind of device must look: runtime, artifact format, default and
allowed precisions, IO dtype of integer models, whether full-integer is required, default threads. Users
pass a shipped profile by name (``--target rpi``) or their own file by path (``--target my.toml``).
"""

from __future__ import annotations

from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edgekit.configfile import parse_mapping, pydantic_errors, read_mapping
from edgekit.errors import ConfigError


class Precision(str, Enum):
    """Numeric recipe of an artifact."""

    FP32 = "fp32"  # no quantization
    FP16 = "fp16"  # float16 weights, float compute/IO
    DYNAMIC = "dynamic"  # int8 weights, float activations (weight-only / dynamic range)
    INT8 = "int8"  # full integer: int8 weights and activations (needs calibration data)
    INT16X8 = "int16x8"  # int8 weights, int16 activations (needs calibration data)

    @property
    def needs_calibration(self) -> bool:
        return self in (Precision.INT8, Precision.INT16X8)

    @property
    def full_integer(self) -> bool:
        return self in (Precision.INT8, Precision.INT16X8)


class OnnxOptions(BaseModel):
    """ONNX Runtime quantization defaults of a profile (used by the ONNX path)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    opset: int = Field(17, ge=13)
    per_channel: bool = True
    reduce_range: bool = False
    activation_symmetric: bool = False
    calibration_method: Literal["minmax", "percentile", "entropy"] = "minmax"
    quant_format: Literal["qdq", "qoperator"] = "qdq"


class DeviceRuntime(BaseModel):
    """A runtime the device itself runs (validated there under emulation: :mod:`edgekit.device`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Literal["tflite-runtime", "ai-edge-litert"]
    version: str = Field(pattern=r"^[0-9]+(\.[0-9]+)*(\.post[0-9]+)?$")
    python: str = Field("3.11", pattern=r"^3\.[0-9]+$")

    @property
    def label(self) -> str:
        return f"{self.name}=={self.version} (Python {self.python})"


class TargetProfile(BaseModel):
    """One deployment target. Frozen: a profile never changes after it is loaded."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str
    device: str = ""
    runtime: Literal["litert", "onnxruntime", "tflm"]
    delegate: Literal["xnnpack", "gpu", "edgetpu", "cpu"] = "xnnpack"
    formats: tuple[Literal["tflite", "onnx"], ...] = ("tflite",)
    precision: Precision
    allowed_precisions: tuple[Precision, ...]
    io_dtype: Literal["float32", "int8", "uint8"] = "float32"
    full_integer_required: bool = False
    weight_only_fallback: bool = True
    static_shapes: bool = True
    default_threads: int = Field(1, ge=1, le=64)
    memory_budget_mb: float | None = Field(None, gt=0)
    min_cosine: float | None = Field(0.99, ge=-1, le=1)  # the fidelity gate's default (--min-cosine overrides)
    onnx: OnnxOptions = OnnxOptions()
    arch: Literal["aarch64", "x86_64", "armv7l"] | None = None  # the device's CPU architecture
    device_runtimes: tuple[DeviceRuntime, ...] = ()  # what the device runs (checked under emulation)
    emulation_cpu: str | None = None  # qemu -cpu model for emulated validation, e.g. cortex-a72
    # placement and microcontroller budgets (edgekit.placement): a rule set under targets/rules/ or a path;
    # RAM = the TFLite Micro arena must fit, flash = the model bytes must fit
    placement_rules: str | None = None
    ram_budget_bytes: int | None = Field(None, gt=0)
    flash_budget_bytes: int | None = Field(None, gt=0)
    source: str = ""  # where the profile was loaded from (filled in by the loader)

    @model_validator(mode="after")
    def _cross_fields(self) -> TargetProfile:
        if self.precision not in self.allowed_precisions:
            raise ValueError(
                f"precision: {self.precision.value!r} is not in allowed_precisions "
                f"{[p.value for p in self.allowed_precisions]}; add it there or pick one of them"
            )
        if self.full_integer_required:
            bad = [p.value for p in self.allowed_precisions if not p.full_integer]
            if bad:
                raise ValueError(
                    f"allowed_precisions: {bad} are not full-integer but full_integer_required is true; "
                    "remove them or set full_integer_required = false"
                )
            if self.weight_only_fallback:
                raise ValueError(
                    "weight_only_fallback: must be false when full_integer_required is true "
                    "(a weight-only model is not full-integer)"
                )
        if self.io_dtype != "float32" and not any(p.full_integer for p in self.allowed_precisions):
            raise ValueError(
                f"io_dtype: {self.io_dtype!r} needs a full-integer precision (int8) in allowed_precisions"
            )
        if self.runtime == "litert" and "tflite" not in self.formats:
            raise ValueError("formats: a 'litert' profile must emit 'tflite'")
        if self.runtime == "tflm" and (self.ram_budget_bytes is None or self.flash_budget_bytes is None):
            raise ValueError("ram_budget_bytes: a 'tflm' (microcontroller) profile needs ram_budget_bytes and flash_budget_bytes")
        if self.runtime == "onnxruntime" and "onnx" not in self.formats:
            raise ValueError("formats: an 'onnxruntime' profile must emit 'onnx'")
        self._check_device_runtimes()
        return self

    def _check_device_runtimes(self) -> None:
        if not self.device_runtimes:
            return
        if self.arch is None or "tflite" not in self.formats:
            raise ValueError("device_runtimes: needs arch (e.g. arch = \"aarch64\") and a 'tflite' format")
        from edgekit.device_wheels import check

        for rt in self.device_runtimes:
            problem = check(rt.name, rt.version, rt.python, self.arch)
            if problem:
                raise ValueError(f"device_runtimes: {problem}; name one of those")

    def io_dtype_for(self, precision: Precision) -> str:
        """The IO dtype an artifact of ``precision`` gets: the profile's for int8, float otherwise."""
        return self.io_dtype if precision == Precision.INT8 else "float32"

    def check_precision(self, precision: Precision) -> None:
        if precision not in self.allowed_precisions:
            raise ConfigError(
                f"--precision {precision.value} is not allowed by target {self.name!r}; "
                f"it allows: {', '.join(p.value for p in self.allowed_precisions)}"
            )


def _builtin_dir():
    return resources.files("edgekit._profiles")


def builtin_names() -> list[str]:
    return sorted(p.name[:-5] for p in _builtin_dir().iterdir() if p.name.endswith(".toml"))


def _parse(text: str, origin: str, suffix: str) -> dict:
    return parse_mapping(text, origin, suffix, "target profile")


def _validate(data: dict, origin: str) -> TargetProfile:
    try:
        return TargetProfile.model_validate({**data, "source": origin})
    except ValidationError as exc:
        raise pydantic_errors(exc, f"target profile {origin}") from None


def load_target(name_or_path: str | Path) -> TargetProfile:
    """Load a shipped profile by name (``rpi``) or a user profile by path (``my.toml``/``.yaml``)."""
    text = str(name_or_path)
    path = Path(text)
    if path.suffix in (".toml", ".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"target profile file {text} does not exist")
        return _validate(read_mapping(path, "target profile"), str(path))
    res = _builtin_dir() / f"{text}.toml"
    if not res.is_file():
        names = builtin_names()
        raise ConfigError(
            f"unknown target {text!r}. Known targets: {', '.join(names)}. "
            "Run `edgekit targets` for descriptions, or pass a path to your own profile .toml"
        )
    return _validate(_parse(res.read_text(), f"builtin:{text}", ".toml"), f"builtin:{text}")


def all_targets() -> list[TargetProfile]:
    return [load_target(n) for n in builtin_names()]
