"""The build config (``edgekit.yaml`` / ``.toml``): models × targets (× variants) and the thresholds the
report enforces. Validated with pydantic; every error names the field. Relative paths resolve against the
config file's folder, so ``edgekit build path/to/edgekit.yaml`` works from anywhere.

    targets: [rpi, android-gpu]            # shipped profile names or profile files
    defaults: {calibration_samples: 200}   # options for every cell
    models:
      digits_cnn:
        path: models/digits_cnn.keras
        calibration: data/calibration.npz  # or 'random' (labelled as such)
        eval_data: data/test.npz
        labels: data/labels.txt            # class names, one per line (or an inline list)
        # input_shape: 1,3,32,32           # ONNX models with dynamic dimensions
        # unsafe_deserialization: true     # .keras files with Lambda layers (only models you trust)
        calibration_samples: 100           # per-model override
    variants:                              # optional third axis
      int16: {precision: int16x8, targets: [rpi]}
    thresholds: {max_accuracy_drop: 0.02, min_cosine: 0.99}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, ValidationInfo, field_validator

from edgekit.configfile import SUFFIXES, pydantic_errors, read_mapping
from edgekit.errors import ConfigError
from edgekit.options import RANDOM, ConvertOptions, FidelityBudget, OnnxEmitOptions
from edgekit.options.image import ImageOptions
from edgekit.registry import EMITTERS
from edgekit.targets import Precision, TargetProfile, load_target

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$")]
DEFAULT_VARIANT = "default"
CELL_SEP = "--"


class Thresholds(BaseModel):
    """What the report enforces per artifact. Unset (null) = not checked. Fractions: 0.02 = 2 points/2 %."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_accuracy_drop: float | None = Field(None, ge=0, le=1, description="source accuracy - artifact accuracy")
    max_baseline_accuracy_drop: float | None = Field(None, ge=0, le=1, description="baseline - artifact accuracy")
    max_size_growth: float | None = Field(None, ge=0, description="(bytes - baseline bytes) / baseline bytes")
    max_latency_growth: float | None = Field(None, ge=0, description="p50 growth vs baseline, same machine only")
    min_cosine: float | None = Field(None, ge=-1, le=1, description="mean cosine similarity to the source outputs")
    min_top1_agreement: float | None = Field(None, ge=0, le=1, description="share of samples with the source's top-1")
    min_accelerated_fraction: float | None = Field(None, ge=0, le=1, description="share of ops on the target's accelerator")

    def merged(self, override: Thresholds | None) -> Thresholds:
        if override is None:
            return self
        return self.model_copy(update={k: getattr(override, k) for k in override.model_fields_set})

    def active(self) -> dict[str, float]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


def _resolve(value, info: ValidationInfo):
    """Relative paths resolve against the config file's folder (passed as validation context)."""
    if value is None or value == RANDOM:
        return value
    base = (info.context or {}).get("base")
    p = Path(value).expanduser()
    if base is not None and not p.is_absolute():
        p = Path(base) / p
    p = p.resolve()
    if not p.exists():
        raise ValueError(f"{value} does not exist (resolved to {p})")
    return str(p)


class CellOptions(BaseModel):
    """Conversion options a model or a variant may set (a partial :class:`~edgekit.options.ConvertOptions`);
    unset ones come from ``defaults``, then the target profile."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    precision: Precision | None = None
    formats: tuple[str, ...] | None = Field(None, min_length=1)
    calibration_samples: int | None = Field(None, ge=1)
    image: ImageOptions | None = None
    onnx: OnnxEmitOptions | None = None
    optimize: dict | None = Field(None, description="prune / qat / train_data / epochs ... as for edgekit convert")
    budget: FidelityBudget | None = None
    mixed_precision: Literal["off", "auto"] | None = None
    layer_report: bool | None = None

    @field_validator("formats")
    @classmethod
    def _known_formats(cls, value):
        for f in value or ():
            EMITTERS.check(f)
        return value

    def partial(self) -> dict:
        """The fields this layer sets, as a ConvertOptions update."""
        return self.model_dump(mode="json", include=set(CellOptions.model_fields), exclude_unset=True, exclude_none=True)


class VariantSpec(CellOptions):
    targets: tuple[str, ...] | None = Field(None, min_length=1, description="build this variant only for these")
    thresholds: Thresholds | None = None


class ModelSpec(CellOptions):
    path: str
    calibration: str | None = None
    eval_data: str | None = None
    labels: str | tuple[str, ...] | None = None
    unsafe_deserialization: bool = False
    input_shape: str | None = Field(None, description="ONNX models with dynamic dimensions: 1,3,32,32 or NAME:1,3,32,32")
    input_value: dict[str, float] | None = Field(None, description="inputs frozen to constants, e.g. {sr: 16000}")
    state: tuple[str, ...] | None = Field(None, description="streaming state pairs OUT:IN, e.g. [new_state:state]")
    state_init: str | None = Field(None, description=".npz with each state input's initial value")
    signature: str | None = Field(None, description="SavedModel / .tflite signature to convert")
    targets: tuple[str, ...] | None = Field(None, min_length=1, description="build this model only for these")
    variants: tuple[str, ...] | None = Field(None, min_length=1, description="build only these variants")
    thresholds: Thresholds | None = None

    @field_validator("path", "calibration", "eval_data", "state_init")
    @classmethod
    def _resolve_paths(cls, value, info: ValidationInfo):
        return _resolve(value, info)

    @field_validator("labels")
    @classmethod
    def _labels(cls, value, info: ValidationInfo):
        if isinstance(value, str):
            path = Path(_resolve(value, info))
            try:
                names = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
            except OSError as exc:  # a folder, unreadable (a bad encoding is a ValueError already)
                raise ValueError(f"{value}: cannot read the class names ({exc.strerror or exc})") from None
            if not names:
                raise ValueError(f"{value}: no class names (expected one per line)")
            return tuple(names)
        return value


class BuildConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = 1
    seed: int = 0
    targets: tuple[str, ...] = Field(min_length=1)
    defaults: CellOptions = CellOptions()
    models: dict[Name, ModelSpec] = Field(min_length=1)
    variants: dict[Name, VariantSpec] = Field(default_factory=dict)
    thresholds: Thresholds = Thresholds()
    path: str = ""  # the config file (filled in by the loader)
    sha256: str = ""  # of the config file's bytes: shards of one build must share it


@dataclass(frozen=True)
class Cell:
    """One (model, target, variant) of the matrix, with every option resolved into one ConvertOptions."""

    id: str
    model: str
    target: str
    variant: str
    spec: ModelSpec
    profile: TargetProfile
    options: ConvertOptions
    thresholds: Thresholds


def cell_id(model: str, target: str, variant: str = DEFAULT_VARIANT) -> str:
    return CELL_SEP.join((model, target) if variant == DEFAULT_VARIANT else (model, target, variant))


def _errors(exc: ValidationError, origin: str) -> ConfigError:
    return pydantic_errors(exc, f"build config {origin}")


def _parse(path: Path) -> dict:
    if path.suffix in SUFFIXES and not path.is_file():
        raise ConfigError(f"build config {path} does not exist; pass an edgekit.yaml or .toml file")
    return read_mapping(path, "build config")


def load_config(path: str | Path) -> tuple[BuildConfig, dict[str, TargetProfile]]:
    """Parse and validate a build config; returns it with its target profiles by name."""
    from edgekit.hashing import sha256_file

    path = Path(path).resolve()
    data = _parse(path)
    try:
        cfg = BuildConfig.model_validate(
            {**data, "path": str(path), "sha256": sha256_file(path)}, context={"base": path.parent}
        )
    except ValidationError as exc:
        raise _errors(exc, str(path)) from None
    profiles: dict[str, TargetProfile] = {}
    for i, t in enumerate(cfg.targets):
        ref = str(path.parent / t) if Path(t).suffix in (".toml", ".yaml", ".yml") else t
        try:
            prof = load_target(ref)
        except ConfigError as exc:
            raise ConfigError(f"build config {path}: targets.{i}: {exc}") from None
        if prof.name in profiles:
            raise ConfigError(f"build config {path}: targets.{i}: target {prof.name!r} is listed twice")
        profiles[prof.name] = prof
    _check_refs(cfg, profiles, path)
    return cfg, profiles


def _check_refs(cfg: BuildConfig, profiles: dict[str, TargetProfile], path: Path) -> None:
    def check(names, known, field, what):
        for n in names or ():
            if n not in known:
                raise ConfigError(
                    f"build config {path}: {field}: unknown {what} {n!r}; known: {', '.join(sorted(known)) or 'none'}"
                )

    for m, spec in cfg.models.items():
        check(spec.targets, profiles, f"models.{m}.targets", "target")
        check(spec.variants, cfg.variants or {DEFAULT_VARIANT: None}, f"models.{m}.variants", "variant")
    for v, spec in cfg.variants.items():
        check(spec.targets, profiles, f"variants.{v}.targets", "target")


def _pick(field: str, layers: dict[str, CellOptions]):
    """(value, field path) from the most specific layer that set ``field`` (defaults < model < variant)."""
    value, where = None, None
    for name, layer in layers.items():
        if getattr(layer, field) is not None:
            value, where = getattr(layer, field), f"{name}.{field}"
    return value, where


def _options(cfg: BuildConfig, spec: ModelSpec, layers: dict[str, CellOptions], where: str) -> ConvertOptions:
    """defaults < model < variant, applied as partial updates on the model's own paths and the seed."""
    from edgekit.options import ConvertOptions, deep_merge

    fields = {"seed": cfg.seed, "calibration": spec.calibration, "eval_data": spec.eval_data,
              "unsafe_deserialization": spec.unsafe_deserialization, "input_shape": spec.input_shape}
    fields.update({k: getattr(spec, k) for k in ("input_value", "state", "state_init", "signature")
                   if getattr(spec, k) is not None})
    for layer in layers.values():
        fields = deep_merge(fields, layer.partial())
    try:
        return ConvertOptions.make(**fields)
    except ConfigError as exc:
        raise ConfigError(f"build config {cfg.path}: {where}: {exc}") from None


def expand(cfg: BuildConfig, profiles: dict[str, TargetProfile]) -> list[Cell]:
    """Every cell of the matrix, sorted by id. Raises ConfigError for a precision a target refuses."""
    variants = cfg.variants or {DEFAULT_VARIANT: VariantSpec()}
    cells: dict[str, Cell] = {}
    for m, spec in cfg.models.items():
        for t, prof in profiles.items():
            if spec.targets and t not in spec.targets:
                continue
            for v, vspec in variants.items():
                if (spec.variants and v not in spec.variants) or (vspec.targets and t not in vspec.targets):
                    continue
                cid = cell_id(m, t, v)
                if cid in cells:
                    raise ConfigError(f"build config {cfg.path}: two cells are both named {cid!r}; rename a model or variant")
                layers = {"defaults": cfg.defaults, f"models.{m}": spec, f"variants.{v}": vspec}
                _check_precision(cfg, layers, prof, cid)
                cells[cid] = Cell(
                    id=cid, model=m, target=t, variant=v, spec=spec, profile=prof,
                    options=_options(cfg, spec, layers, f"cell {cid}"),
                    thresholds=cfg.thresholds.merged(spec.thresholds).merged(vspec.thresholds),
                )
    if not cells:
        raise ConfigError(f"build config {cfg.path}: the matrix is empty; check the models' and variants' `targets`")
    return [cells[k] for k in sorted(cells)]


def _check_precision(cfg: BuildConfig, layers: dict[str, CellOptions], prof: TargetProfile, cid: str) -> None:
    precision, where = _pick("precision", layers)
    if precision is not None and precision not in prof.allowed_precisions:
        raise ConfigError(
            f"build config {cfg.path}: {where}: {precision.value!r} is not allowed by target {prof.name!r} "
            f"(cell {cid}; it allows {', '.join(p.value for p in prof.allowed_precisions)}). "
            f"Restrict it with `targets: [...]` on the model or variant"
        )
