"""Placement rule sets: data files (``targets/rules/*.toml``) validated into frozen pydantic models.

A rule set says which ops an accelerator takes (with op-version limits, fused activations, option values,
tensor types and ranks), which named checks apply to an op (``CHECKS`` in :mod:`edgekit.placement.checks`),
and how the delegate partitions the graph (``first_unmappable_cut`` for the Edge TPU compiler,
``largest_partition`` for LiteRT's GPU delegate).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edgekit.configfile import parse_mapping, pydantic_errors
from edgekit.errors import ConfigError

CheckName = Literal[
    "no_batch_axis_reduce",
    "no_batch_pad",
    "squeeze_leading_ones",
    "concat_const_zero_pad",
    "depthwise_multiplier",
    "fc_keep_num_dims",
    "runtime_input_not_const",
    "equal_dilation",
    "fc_output_1d",
    "one_dim_input",
]
Activation = Literal["NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGN_BIT"]


class OpRule(BaseModel):
    """What one op needs to run on the accelerator. Every field is optional: absent = no limit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_version: int | None = Field(None, ge=1)
    fused_activations: tuple[Activation, ...] | None = None
    input_ranks: tuple[int, ...] | None = None  # allowed ranks of input 0
    max_input_elements: int | None = Field(None, ge=1)
    require_options: dict[str, float | int | bool] = {}
    const_inputs: tuple[int, ...] = ()  # input indexes that must be compile-time constants
    runtime_inputs: tuple[int, ...] | None = None  # allowed counts of non-constant inputs
    const_input_values: dict[str, int] = {}  # "input index" -> every value must equal this (e.g. strides 1)
    extra_types: tuple[str, ...] = ()  # tensor types this op may use beyond the rule set's
    checks: tuple[CheckName, ...] = ()
    note: str = ""  # the vendor's documented limitation, quoted in reasons


class RuleSet(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    accelerator: str
    source: str  # where the rules come from (vendor documentation / source file)
    partition_policy: Literal["first_unmappable_cut", "largest_partition"]
    max_delegated_partitions: int = Field(1, ge=1)
    tensor_types: tuple[str, ...]  # allowed types of runtime (non-constant) tensors
    const_types: tuple[str, ...] | None = None  # allowed types of constant tensors; None = any
    max_rank: int | None = Field(None, ge=1)
    max_dims_gt1: int | None = Field(None, ge=1)  # Edge TPU: at most 3 dimensions larger than 1
    static_shapes: bool = False
    fp16_weight_dequantize_folded: bool = False  # GPU: fp16 weights' DEQUANTIZE is folded into the delegate
    param_cache_bytes: int | None = Field(None, ge=1)  # Edge TPU on-chip parameter cache
    custom_ops: tuple[str, ...] = ()  # custom op names the accelerator takes
    ops: dict[str, OpRule]

    @field_validator("ops")
    @classmethod
    def _upper(cls, v: dict[str, OpRule]) -> dict[str, OpRule]:
        bad = [k for k in v if k != k.upper()]
        if bad:
            raise ValueError(f"op names are TFLite builtin names in upper case (CONV_2D), got {bad}")
        return v


def _rules_dir():
    return resources.files("edgekit._profiles").joinpath("rules")


def rule_names() -> list[str]:
    d = _rules_dir()
    return sorted(p.name[:-5] for p in d.iterdir() if p.name.endswith(".toml")) if d.is_dir() else []


def load_rules(name_or_path: str | Path) -> RuleSet:
    """A shipped rule set by name (``edgetpu``, ``gpu``) or a user file by path. Errors name the field."""
    text = str(name_or_path)
    if text.endswith(".toml") or Path(text).exists():
        path = Path(text)
        if not path.is_file():
            raise ConfigError(f"placement rule set {text} does not exist")
        raw, origin = path.read_text(), text
    else:
        res = _rules_dir().joinpath(f"{text}.toml")
        if not res.is_file():
            raise ConfigError(
                f"unknown placement rule set {text!r}. Known rule sets: {', '.join(rule_names())}; "
                "or pass a path to your own rules .toml"
            )
        raw, origin = res.read_text(), f"builtin:{text}"
    data = parse_mapping(raw, origin, ".toml", "placement rule set")  # duplicate keys refused, as everywhere
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        raise pydantic_errors(exc, f"placement rule set {origin}") from None
