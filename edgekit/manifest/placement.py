"""The manifest's placement sections: where every op of an artifact runs (:class:`Placement`) and, for
microcontroller targets, what it needs there (:class:`Mcu`). Filled by :mod:`edgekit.placement`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Where = Literal["accelerator", "cpu"]


class OpPlacement(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int  # operator index in the main subgraph (execution order)
    op: str  # builtin name (CONV_2D) or custom op name
    version: int
    placement: Where
    reason: str


class Partition(BaseModel):
    """A run of consecutive ops (execution order) with the same placement."""

    model_config = ConfigDict(frozen=True)

    placement: Where
    first: int
    last: int
    ops: int


class Placement(BaseModel):
    model_config = ConfigDict(frozen=True)

    target: str
    accelerator: str  # "Edge TPU", "GPU", "XNNPACK (CPU)"
    source: Literal["predicted", "measured", "compiler"]  # rules, a real runtime, or the real compiler's log
    rules: str  # rule set / runtime / compiler the placement comes from
    accelerated_fraction: float
    accelerated_ops: int
    total_ops: int
    partitions: tuple[Partition, ...]
    accelerator_partitions: int
    ops: tuple[OpPlacement, ...]
    parameter_bytes: int | None = None  # constant bytes of the accelerated ops (Edge TPU cache check)
    on_chip_cache_bytes: int | None = None
    off_chip_bytes: int | None = None  # parameters that stream from host memory
    notes: tuple[str, ...] = ()
    summary_line: str


class Mcu(BaseModel):
    model_config = ConfigDict(frozen=True)

    arena_bytes: int  # verified: the model runs in TFLM with exactly this arena
    arena_reported_bytes: int | None  # what TFLM's RecordingMicroAllocator printed
    arena_less_bytes: int  # a clearly smaller arena (-10 %)
    arena_less_fails: bool  # TFLM refused to run with it
    flash_bytes: int  # the model's bytes (what the firmware stores)
    ram_budget_bytes: int
    flash_budget_bytes: int
    runs_in_tflm: bool
    tflm_version: str


class EdgeTpuCompile(BaseModel):
    """The real Edge TPU compiler's run on an artifact: its output file, log, placement and where it disagrees
    with edgekit's prediction. Only a file this compiler wrote is ever called compiled for the Edge TPU."""

    model_config = ConfigDict(frozen=True)

    compiler: str
    file: str  # <artifact>_edgetpu.tflite, beside the artifact
    log_file: str
    placement: Placement
    disagreements: tuple[str, ...]
    on_chip_bytes: int | None = None
    off_chip_bytes: int | None = None
