"""The placement result: frozen pydantic models embedded as-is in the manifest (``model_dump(mode="json")``)."""

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


def partitions_of(ops: list[OpPlacement]) -> tuple[Partition, ...]:
    out: list[Partition] = []
    for o in ops:
        if out and out[-1].placement == o.placement:
            p = out[-1]
            out[-1] = Partition(placement=p.placement, first=p.first, last=o.index, ops=p.ops + 1)
        else:
            out.append(Partition(placement=o.placement, first=o.index, last=o.index, ops=1))
    return tuple(out)


def summarize(target: str, accelerator: str, ops: list[OpPlacement], extra: str = "") -> str:
    n = len(ops)
    acc = sum(o.placement == "accelerator" for o in ops)
    parts = partitions_of(ops)
    pct = f"{(acc / n if n else 0):.0%}"
    if n and acc == n:
        line = f"{target}: all {n} ops on the {accelerator} ({pct}), 1 partition"
    elif acc == 0:
        first = ops[0] if ops else None
        why = f" (op #{first.index} {first.op}: {first.reason})" if first else ""
        line = f"{target}: no op runs on the {accelerator}; all {n} on the CPU{why}"
    else:
        first_cpu = next(o for o in ops if o.placement == "cpu")
        line = (
            f"{target}: {acc} of {n} ops ({pct}) on the {accelerator}, {n - acc} on the CPU, "
            f"{len(parts)} partitions; first CPU op #{first_cpu.index} {first_cpu.op}: {first_cpu.reason}"
        )
    return line + (f"; {extra}" if extra else "")
