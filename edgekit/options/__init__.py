"""Everything a conversion can be told, as one frozen pydantic model: :class:`ConvertOptions`.

The CLI (``convert``, ``sweep``), the build config and the sweep's variants all fill it; a variant is a name
plus a *partial* update (:meth:`ConvertOptions.updated`). Its ``model_dump(mode="json")`` is what the build
cache key covers, so a new option is covered the moment it is added here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edgekit.configfile import pydantic_errors
from edgekit.options.optimize import OptimizeOptions
from edgekit.options.image import ImageOptions
from edgekit.registry import EMITTERS
from edgekit.targets import Precision

DEFAULT_CALIBRATION_SAMPLES = 200
RANDOM = "random"


class OnnxEmitOptions(BaseModel):
    """ONNX export/quantization overrides; unset ones come from the target profile's ``[onnx]`` table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    opset: int | None = None
    calibration_method: Literal["minmax", "percentile", "entropy"] | None = None
    per_channel: bool | None = None
    activation_symmetric: bool | None = None
    reduce_range: bool | None = None

    def overrides(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class FidelityBudget(BaseModel):
    """What an artifact must meet to be called good. Unset ``min_cosine`` = the profile's ``min_cosine``;
    ``max_accuracy_drop`` is in percentage points and applies when the validation data has labels."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_cosine: float | None = Field(None, ge=-1, le=1)
    max_accuracy_drop: float | None = Field(1.0, ge=0, le=100)
    min_top1_agreement: float | None = Field(None, ge=0, le=1)


class ConvertOptions(BaseModel):
    """One conversion's options. Paths are kept as given (strings), so the dump is stable JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    precision: Precision | None = None  # None: the profile's default
    formats: tuple[str, ...] | None = Field(None, min_length=1)  # None: the profile's
    calibration: str | None = None  # .npz / .npy / image folder, or "random"
    calibration_samples: int = Field(DEFAULT_CALIBRATION_SAMPLES, ge=1)
    eval_data: str | None = None
    image: ImageOptions | None = None
    seed: int = 0
    unsafe_deserialization: bool = False
    signature: str | None = None  # .tflite sources / SavedModels with several signatures: which one
    # models with dynamic dimensions: ("1,3,32,32",) or one "NAME:1,3,32,32" per input (a single string is
    # accepted, ";"-separated items split)
    input_shape: tuple[str, ...] | None = None
    input_value: dict[str, float] = {}  # inputs frozen to constants (then folded): {"sr": 16000}
    state: tuple[tuple[str, str], ...] = ()  # streaming: (output, input) pairs, output fed back next step
    state_init: str | None = None  # .npz with the initial value of each state input (default: zeros)
    onnx: OnnxEmitOptions = OnnxEmitOptions()
    optimize: OptimizeOptions | None = None
    budget: FidelityBudget = FidelityBudget()
    device_check: Literal["auto", "on", "off"] = Field(default_factory=lambda: _env_device_check())
    edgetpu_compiler: str | None = None  # coral-edgetpu: the compiler to run (default: edgetpu_compiler on PATH)
    emit_c_array: bool = False  # also write model_data.cc/.h (a C array of the model) for firmware
    layer_report: bool = False  # write each quantized artifact's per-layer error (json, csv, png, overlay)
    mixed_precision: Literal["off", "auto"] = "off"  # auto: keep the fewest sensitive layers in higher precision

    @field_validator("formats")
    @classmethod
    def _known_formats(cls, value):
        if value is None:
            return None
        for f in value:
            EMITTERS.check(f)
        return tuple(dict.fromkeys(value))

    @field_validator("input_shape", mode="before")
    @classmethod
    def _shapes(cls, value):
        if isinstance(value, str):
            value = [p.strip() for p in value.split(";")]
        return None if value is None else tuple(p for p in value if str(p).strip()) or None

    @field_validator("input_value", mode="before")
    @classmethod
    def _values(cls, value):
        if isinstance(value, (list, tuple, str)):
            from edgekit.options.io import parse_values

            return parse_values([value] if isinstance(value, str) else value)
        return value or {}

    @field_validator("state", mode="before")
    @classmethod
    def _pairs(cls, value):
        from edgekit.options.io import parse_state

        return parse_state(value)

    @field_validator("calibration", "eval_data", "state_init", mode="before")
    @classmethod
    def _path_text(cls, value):
        return None if value is None else str(value)

    @model_validator(mode="after")
    def _cross(self) -> ConvertOptions:
        if self.eval_data == RANDOM:
            raise ValueError("eval_data: 'random' is not evaluation data; pass a .npz/.npy file or an image folder")
        if self.optimize is not None and not self.optimize.active:
            raise ValueError("optimize: give prune and/or qat, or leave optimize out")
        return self

    @classmethod
    def make(cls, **fields: Any) -> ConvertOptions:
        """Build from keyword fields; a bad value raises ConfigError naming the field and the fix."""
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            raise pydantic_errors(exc, "options", flags=True) from None

    def updated(self, partial: dict[str, Any] | None) -> ConvertOptions:
        """These options with ``partial`` (a nested dict of fields) applied on top, validated again."""
        if not partial:
            return self
        merged = deep_merge(self.model_dump(exclude_unset=False), partial)
        return type(self).make(**merged)

    @property
    def uses_random_calibration(self) -> bool:
        return self.calibration == RANDOM

    def emit_options(self, fmt: str) -> dict[str, Any]:
        """Keyword options for the emitter of ``fmt``."""
        return self.onnx.overrides() if fmt == "onnx" else {}


def _env_device_check() -> str:
    """``--device-check``'s default: $EDGEKIT_DEVICE_CHECK (auto | on | off), else auto."""
    import os

    value = os.environ.get("EDGEKIT_DEVICE_CHECK", "auto")
    return value if value in ("auto", "on", "off") else "auto"


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``update`` applied; nested dicts merge, everything else is replaced."""
    out = dict(base)
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out
