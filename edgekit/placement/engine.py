"""Predict where every op of a .tflite runs for a rule set (Edge TPU, GPU delegate), with the reason, and
apply the delegate's partition policy."""

from __future__ import annotations

from edgekit.placement.checks import CHECKS
from edgekit.placement.graph import Graph, OpInfo, TensorInfo
from edgekit.placement.models import OpPlacement, Placement, partitions_of, summarize
from edgekit.placement.rules import OpRule, RuleSet

ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
MIB = 1 << 20


def _weight_dequantize(op: OpInfo) -> bool:
    """DEQUANTIZE of a constant fp16 tensor: the fp16-weights pattern the GPU delegate folds."""
    return op.op == "DEQUANTIZE" and bool(op.inputs) and op.inputs[0] is not None and op.inputs[0].is_const


def _tensor_reason(t: TensorInfo, rules: RuleSet, extra: tuple[str, ...], weights: set[int]) -> str | None:
    const = t.is_const or t.index in weights
    allowed = rules.const_types if const else rules.tensor_types + extra
    if allowed is not None and t.dtype not in allowed:
        kind = "constant" if const else "tensor"
        return f"{kind} {t.name!r} is {t.dtype} (the {rules.accelerator} takes {'/'.join(allowed)})"
    if rules.max_rank is not None and len(t.shape) > rules.max_rank:
        return f"tensor {t.name!r} has rank {len(t.shape)} (> {rules.max_rank})"
    if rules.max_dims_gt1 is not None and not const and t.dims_gt1 > rules.max_dims_gt1:
        return f"tensor {t.name!r} {list(t.shape)} has {t.dims_gt1} dimensions > 1 (max {rules.max_dims_gt1})"
    if rules.static_shapes and not t.is_static:
        return f"tensor {t.name!r} has a dynamic shape {list(t.shape_signature)}"
    return None


def _op_reason(op: OpInfo, rule: OpRule, weights: set[int]) -> str | None:
    limit = f" ({rule.note})" if rule.note else ""
    if rule.max_version is not None and op.version > rule.max_version:
        return f"op version {op.version} > supported {rule.max_version}"
    act = op.options.get("fused_activation_function")
    if rule.fused_activations is not None and act is not None and ACTIVATIONS.get(act) not in rule.fused_activations:
        return f"fused activation {ACTIVATIONS.get(act, act)} not supported{limit}"
    if rule.input_ranks is not None and op.inputs and op.inputs[0] and len(op.inputs[0].shape) not in rule.input_ranks:
        return f"input rank {len(op.inputs[0].shape)} not in {list(rule.input_ranks)}{limit}"
    if rule.max_input_elements is not None and op.inputs and op.inputs[0]:
        n = 1
        for d in op.inputs[0].shape:
            n *= max(d, 1)
        if n > rule.max_input_elements:
            return f"input has {n} elements (> {rule.max_input_elements}){limit}"
    for key, want in rule.require_options.items():
        if key in op.options and op.options[key] != want:
            return f"option {key} = {op.options[key]} (needs {want}){limit}"
    for i in rule.const_inputs:
        if i >= len(op.inputs) or op.inputs[i] is None or not op.inputs[i].is_const:
            return f"input {i} must be a compile-time constant{limit}"
    if rule.runtime_inputs is not None:
        n_rt = sum(1 for t in op.inputs if t is not None and not t.is_const and t.index not in weights)
        if n_rt not in rule.runtime_inputs:
            return f"{n_rt} runtime inputs (supported: {list(rule.runtime_inputs)})"
    for idx, want in rule.const_input_values.items():
        i = int(idx)
        t = op.inputs[i] if i < len(op.inputs) else None
        if t is None or t.values is None or any(int(v) != want for v in t.values.ravel()):
            return f"input {i} must be constant and all {want}{limit}"
    for name in rule.checks:
        why = CHECKS[name](op)
        if why:
            return f"{why}{limit}"
    return None


def op_verdict(op: OpInfo, rules: RuleSet, weights: set[int]) -> str | None:
    """None when the op can run on the accelerator, else the reason it cannot."""
    if op.custom:
        return None if op.op in rules.custom_ops else f"custom op {op.op!r} is not supported by the {rules.accelerator}"
    rule = rules.ops.get(op.op)
    if rule is None:
        return f"{op.op} is not supported by the {rules.accelerator}"
    for t in list(op.inputs) + list(op.outputs):
        if t is None:
            continue
        why = _tensor_reason(t, rules, rule.extra_types, weights)
        if why:
            return why
    return _op_reason(op, rule, weights)


def _input_quantize(ops: list[OpInfo]) -> set[int]:
    """Leading QUANTIZE ops of float model inputs: they run on the CPU without cutting the graph."""
    out: set[int] = set()
    produced = {t.index for o in ops for t in o.outputs}
    for o in ops:
        t = o.inputs[0] if o.inputs else None
        if o.op == "QUANTIZE" and t is not None and t.dtype == "float32" and t.index not in produced:
            out.add(o.index)
    return out


def _largest(flags: list[bool], n: int) -> set[int]:
    """Positions of the ``n`` largest runs of True (ties: the earlier run)."""
    runs, start = [], None
    for i, f in enumerate(flags + [False]):
        if f and start is None:
            start = i
        elif not f and start is not None:
            runs.append((start, i))
            start = None
    runs.sort(key=lambda r: (-(r[1] - r[0]), r[0]))
    return {i for a, b in runs[:n] for i in range(a, b)}


def predict(graph: Graph, rules: RuleSet, target: str) -> Placement:
    ops = list(graph.ops)
    weights: set[int] = set()
    folded: set[int] = set()
    if rules.fp16_weight_dequantize_folded:
        folded = {o.index for o in ops if _weight_dequantize(o)}
        weights = {o.outputs[0].index for o in ops if o.index in folded}
    verdicts = {o.index: op_verdict(o, rules, weights) for o in ops if o.index not in folded}
    order = [o.index for o in ops if o.index not in folded]
    reasons: dict[int, tuple[str, str]] = {}
    if rules.partition_policy == "first_unmappable_cut":
        boundary = _input_quantize(ops)
        cut = next((i for i in order if verdicts[i] is not None and i not in boundary), None)
        for i in order:
            if i in boundary:
                reasons[i] = ("cpu", "quantizes the float model input on the CPU (model boundary)")
            elif cut is None or i < cut:
                reasons[i] = ("accelerator", "mapped")
            elif i == cut:
                reasons[i] = ("cpu", verdicts[i])
            else:
                own = f"; also: {verdicts[i]}" if verdicts[i] else ""
                reasons[i] = ("cpu", f"after the first unmappable op #{cut}: the compiler maps one segment only{own}")
    else:
        keep = _largest([verdicts[i] is None for i in order], rules.max_delegated_partitions)
        for pos, i in enumerate(order):
            if verdicts[i] is not None:
                reasons[i] = ("cpu", verdicts[i])
            elif pos in keep:
                reasons[i] = ("accelerator", "supported")
            else:
                reasons[i] = ("cpu", f"supported, but only the {rules.max_delegated_partitions} largest partition(s) "
                                     "are delegated (max_delegated_partitions)")
    for i in folded:  # fp16 weights' DEQUANTIZE goes where its consumers go
        out = ops[i].outputs[0].index
        users = [o.index for o in ops if any(t is not None and t.index == out for t in o.inputs)]
        where = "accelerator" if any(reasons.get(u, ("cpu",))[0] == "accelerator" for u in users) else "cpu"
        reasons[i] = (where, "fp16 weight dequantize, folded into the delegate" if where == "accelerator"
                      else "fp16 weight dequantize for CPU ops")
    placed = [OpPlacement(index=o.index, op=o.op, version=o.version, placement=reasons[o.index][0],
                          reason=reasons[o.index][1]) for o in ops]
    return _finish(placed, ops, rules, target)


def _finish(placed: list[OpPlacement], ops: list[OpInfo], rules: RuleSet, target: str) -> Placement:
    acc = [p for p in placed if p.placement == "accelerator"]
    notes: list[str] = []
    param = off = None
    if rules.param_cache_bytes:
        seen: set[int] = set()
        param = 0
        for p in acc:
            for t in ops[p.index].inputs:
                if t is not None and t.is_const and t.index not in seen:
                    seen.add(t.index)
                    param += t.nbytes
        off = max(0, param - rules.param_cache_bytes)
        if off:
            notes.append(f"parameters {param / MIB:.2f} MiB exceed the ~{rules.param_cache_bytes / MIB:.0f} MiB "
                         f"on-chip cache: about {off / MIB:.2f} MiB stream from host memory on every inference")
    extra = notes[0] if notes else ""
    parts = partitions_of(placed)
    return Placement(
        target=target, accelerator=rules.accelerator, source="predicted", rules=f"{rules.name} ({rules.source})",
        accelerated_fraction=round(len(acc) / len(placed), 4) if placed else 0.0,
        accelerated_ops=len(acc), total_ops=len(placed), partitions=parts,
        accelerator_partitions=sum(p.placement == "accelerator" for p in parts), ops=tuple(placed),
        parameter_bytes=param, on_chip_cache_bytes=rules.param_cache_bytes, off_chip_bytes=off,
        notes=tuple(notes), summary_line=summarize(target, rules.accelerator, placed, extra),
    )
