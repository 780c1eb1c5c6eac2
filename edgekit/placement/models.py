"""Helpers over the placement result (the models live in :mod:`edgekit.manifest.placement`)."""

from __future__ import annotations

from edgekit.manifest.placement import OpPlacement, Partition, Placement, Where  # noqa: F401  (re-exported)

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
