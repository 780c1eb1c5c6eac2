"""ONNX quantization that always yields a model onnxruntime loads and runs.

1. Canonical names: every internal tensor becomes ``t<i>`` and every node ``n<i>`` (graph inputs and outputs
   keep theirs). ORT's quantizer derives new tensor names by suffixing (``_quantized``, ``_scale``,
   ``_QuantizeLinear_Output`` ...); tf2onnx's ``;``-joined, digit-suffixed names can collide with them and
   ORT then writes a model it refuses. ``name_map`` maps the canonical names back for reports.
2. Load check: a quantized model counts only once an onnxruntime session loads it and its outputs on the
   check samples are finite.
3. If it does not pass, bisect the quantizable nodes for the ones that break it, leave those in float
   (``nodes_to_exclude``), retry; each is recorded in ``excluded_nodes`` with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict

from edgekit.errors import ConversionError
from edgekit.targets import OnnxOptions, Precision

CHECK_SAMPLES = 8  # calibration samples the load check runs
MAX_ATTEMPTS = 48  # quantizations the bisection may spend


class ExcludedNode(BaseModel):
    model_config = ConfigDict(frozen=True)

    node: str  # the node's name in the graph given to the quantizer (before canonical renaming)
    canonical: str  # its name in the artifact
    op_type: str
    reason: str  # what the check saw while this node was quantized


class OnnxQuantCheck(BaseModel):
    """How the ONNX artifact was made loadable; embeddable in the manifest as-is."""

    model_config = ConfigDict(frozen=True)

    name_map: dict[str, str]  # canonical tensor/node name in the artifact -> original name
    excluded_nodes: tuple[ExcludedNode, ...] = ()
    attempts: int  # quantizations run (1 when the first one passed)
    first_failure: str | None = None  # why the first attempt did not pass, if it did not
    load_check: str  # what was checked
    # "original": the artifact's names were mapped back (t3_scale -> conv/W_scale) and it passed the check
    # again; "canonical": mapping back would collide or fail, the artifact keeps t<i>/n<i> (see name_map)
    artifact_names: str = "original"


def canonicalize(model) -> tuple[object, dict[str, str]]:
    """A copy of ``model`` with internal tensors named ``t<i>`` and nodes ``n<i>``; ``(model, canonical->original)``."""
    import copy

    m = copy.deepcopy(model)
    g = m.graph
    keep = {v.name for v in g.input} | {v.name for v in g.output}
    tensors: dict[str, str] = {}
    nodes_seen = [0]
    back: dict[str, str] = {}

    def t(name: str) -> str:
        if not name or name in keep:
            return name
        if name not in tensors:
            new = f"t{len(tensors)}"
            while new in keep:  # a graph input/output already named like t<i>
                new += "_"
            tensors[name] = new
            back[new] = name
        return tensors[name]

    def walk(graph) -> None:
        for init in graph.initializer:
            init.name = t(init.name)
        for vi in list(graph.input) + list(graph.output) + list(graph.value_info):
            vi.name = t(vi.name)
        for node in graph.node:
            new = f"n{nodes_seen[0]}"
            nodes_seen[0] += 1
            back[new] = node.name
            node.name = new
            node.input[:] = [t(i) for i in node.input]
            node.output[:] = [t(o) for o in node.output]
            for attr in node.attribute:
                for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                    walk(sub)

    walk(g)
    return m, back


_CANON = re.compile(r"^([tn]\d+)(_*)(?![0-9])(.*)$", re.S)


def restore_names(model, back: dict[str, str]):
    """A copy of the quantized ``model`` with canonical names (and the quantizer's names derived from them)
    mapped back; None when two produced tensors would then share a name."""
    import copy

    m = copy.deepcopy(model)

    def r(name: str) -> str:
        hit = _CANON.match(name)
        if not hit:
            return name
        base, under, rest = hit.groups()
        for k in range(len(under), -1, -1):  # t3_ (a canonical name moved off a graph input's) before t3
            if base + "_" * k in back:
                return back[base + "_" * k] + under[k:] + rest
        return name

    def walk(graph) -> None:
        for x in list(graph.initializer) + list(graph.input) + list(graph.output) + list(graph.value_info):
            x.name = r(x.name)
        for node in graph.node:
            node.name = r(node.name)
            node.input[:] = [r(i) for i in node.input]
            node.output[:] = [r(o) for o in node.output]
            for attr in node.attribute:
                for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                    walk(sub)

    walk(m.graph)
    g = m.graph
    produced = [i.name for i in g.initializer] + [i.name for i in g.input] + [o for n in g.node for o in n.output if o]
    nodes = [n.name for n in g.node]
    if len(set(produced)) != len(produced) or len(set(nodes)) != len(nodes):
        return None
    return m


def _feeds(model, calibration, n: int) -> list[dict[str, np.ndarray]]:
    """Up to ``n`` inputs for the check: calibration samples (repeated to the model's static batch); an
    input without calibration data gets a seeded standard-normal sample."""
    import onnx

    from edgekit.models.onnx import graph_inputs

    ins = graph_inputs(model)
    given = {vi.name: (calibration.get(vi.name) if isinstance(calibration, Mapping) else
                       calibration if k == 0 else None) for k, vi in enumerate(ins)}
    lengths = [len(a) for a in given.values() if a is not None]
    feeds = []
    for i in range(min([n, *lengths]) if lengths else 1):
        feed = {}
        for vi in ins:
            dt = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type))
            dims = [d.dim_value if d.dim_value > 0 else 1 for d in vi.type.tensor_type.shape.dim]
            a = given[vi.name]
            if a is None:
                feed[vi.name] = np.random.default_rng(i).standard_normal(dims).astype(dt)
            else:
                one = np.asarray(a[i : i + 1], dtype=dt)
                feed[vi.name] = np.repeat(one, dims[0] if dims else 1, axis=0).reshape(dims)
        feeds.append(feed)
    return feeds


def load_check(model, feeds: list[dict[str, np.ndarray]]) -> str | None:
    """None when onnxruntime loads ``model`` and its outputs on ``feeds`` are finite, else why not."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - ORT raises Fail/InvalidGraph/RuntimeException
        return "onnxruntime cannot load it: " + " ".join(str(exc).split())[:300]
    for feed in feeds:
        try:
            outs = sess.run(None, feed)
        except Exception as exc:  # noqa: BLE001
            return "onnxruntime cannot run it: " + " ".join(str(exc).split())[:300]
        bad = [o.name for o, v in zip(sess.get_outputs(), outs) if np.issubdtype(np.asarray(v).dtype, np.floating)
               and not np.isfinite(v).all()]
        if bad:
            return f"outputs {', '.join(bad)} are not finite (NaN/Inf)"
    return None


def _candidates(model, precision: Precision, opts: OnnxOptions) -> list[tuple[str, str]]:
    """(node name, op type) of the nodes the quantizer would quantize, in graph order."""
    from onnxruntime.quantization.registry import IntegerOpsRegistry, QDQRegistry, QLinearOpsRegistry

    if precision == Precision.DYNAMIC:
        ops = set(IntegerOpsRegistry)
    else:
        ops = set(QDQRegistry) if opts.quant_format == "qdq" else set(QLinearOpsRegistry)
    return [(n.name, n.op_type) for n in model.graph.node if n.op_type in ops]


def quantize_checked(model, precision: Precision, opts: OnnxOptions, calibration, *, origin: str = "model"):
    """Quantize the fp32 ``model`` so that onnxruntime loads and runs the result: ``(ModelProto, OnnxQuantCheck)``.

    ``calibration``: float32 ``(N, *sample_shape)`` for the first input (or ``{input_name: array}``).
    Raises ConversionError when no set of excluded nodes gives a loadable model."""
    from edgekit.quantize import onnx as q

    if precision in (Precision.FP32, Precision.FP16):
        out = q.quantize(model, precision, opts, calibration, origin=origin)
        return out, OnnxQuantCheck(name_map={}, attempts=1, load_check="not quantized: no check needed")
    pre = precision.needs_calibration
    src = q.pre_process(model) if pre else model
    canon, back = canonicalize(src)
    feeds = _feeds(canon, calibration, CHECK_SAMPLES)
    tried: dict[frozenset, tuple[object, str | None]] = {}

    def attempt(excluded: list[str]):
        key = frozenset(excluded)
        if key not in tried:
            if len(tried) >= MAX_ATTEMPTS:
                raise ConversionError(
                    f"{origin}: onnxruntime's quantizer keeps writing models that do not load or run after "
                    f"{MAX_ATTEMPTS} attempts ({len(excluded)} node(s) left in float). Use --precision fp32 or fp16"
                )
            out = q.quantize(canon, precision, opts, calibration, origin=origin, exclude=sorted(excluded),
                             pre_processed=pre)
            tried[key] = (out, load_check(out, feeds))
        return tried[key]

    out, why = attempt([])
    first = why
    excluded: list[tuple[str, str, str]] = []  # (canonical node, op type, reason)
    cands = _candidates(canon, precision, opts)
    while why is not None:
        done = [c for c, _, _ in excluded]
        rest = [c for c in cands if c[0] not in done]
        if not rest or attempt(done + [c for c, _ in rest])[1] is not None:
            raise ConversionError(
                f"{origin}: onnxruntime's quantizer writes a model that does not pass its load check ({first}), "
                "even with every quantizable node left in float. Use --precision fp32 or fp16"
            )
        lo, hi, reason = 0, len(rest), why  # excluding rest[:hi] passes, rest[:lo] fails
        while hi - lo > 1:
            mid = (lo + hi) // 2
            r = attempt(done + [c for c, _ in rest[:mid]])[1]
            if r is None:
                hi = mid
            else:
                lo, reason = mid, r
        excluded.append((rest[hi - 1][0], rest[hi - 1][1], reason))
        out, why = attempt([c for c, _, _ in excluded])
    return _finish(out, back, feeds, excluded, len(tried), first)


def _finish(out, back: dict, feeds, excluded, attempts: int, first):
    """Original tensor names back when they stay unique and the model still passes; the check record."""
    check = f"onnxruntime {_ort_version()}: loads; finite outputs on {len(feeds)} sample(s)"
    restored = restore_names(out, back)
    names = "canonical"
    if restored is not None and load_check(restored, feeds) is None:
        out, names = restored, "original"
    return out, OnnxQuantCheck(
        artifact_names=names, name_map=back,
        excluded_nodes=tuple(ExcludedNode(node=back.get(c, c), canonical=c, op_type=o, reason=r) for c, o, r in excluded),
        attempts=attempts, first_failure=first, load_check=check,
    )


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__
