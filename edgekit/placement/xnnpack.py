"""XNNPACK placement measured from the real LiteRT runtime: load the model with ai_edge_litert's Interpreter
(default delegates: XNNPACK), then read the node list after ``allocate_tensors``. Each ``DELEGATE`` node is
one XNNPACK partition; the original nodes it replaced are those between its input and output tensors."""

from __future__ import annotations

from edgekit.placement.models import OpPlacement, Placement, partitions_of, summarize


def _replaced(delegate: dict, producers: dict[int, int], node_inputs: dict[int, list[int]]) -> set[int]:
    """Walk back from the delegate's outputs through producing nodes until its inputs: the replaced nodes."""
    stop = {int(t) for t in delegate["inputs"]}
    todo = [int(t) for t in delegate["outputs"]]
    seen: set[int] = set()
    nodes: set[int] = set()
    while todo:
        t = todo.pop()
        if t in seen or t in stop or t not in producers:
            continue
        seen.add(t)
        n = producers[t]
        nodes.add(n)
        todo.extend(node_inputs[n])
    return nodes


def measure(data: bytes, target: str, threads: int = 1) -> Placement:
    """Which nodes XNNPACK takes in the installed ai_edge_litert (classic Interpreter, default delegates)."""
    import ai_edge_litert
    from ai_edge_litert.interpreter import Interpreter

    from edgekit._lazy import capture_native_stderr
    from edgekit.placement.graph import read_graph

    graph = read_graph(data)
    with capture_native_stderr():
        it = Interpreter(model_content=data, num_threads=threads)
        it.allocate_tensors()
    nodes = it._get_ops_details()  # the only Python view of the delegated node list
    n = len(graph.ops)
    originals = [d for d in nodes if d["index"] < n]
    delegates = [d for d in nodes if d["index"] >= n and d["op_name"] == "DELEGATE"]
    node_inputs = {d["index"]: [int(x) for x in d["inputs"] if x >= 0] for d in originals}
    producers = {int(t): d["index"] for d in originals for t in d["outputs"]}
    taken: set[int] = set()
    for d in delegates:
        taken |= _replaced(d, producers, node_inputs)
    version = getattr(ai_edge_litert, "__version__", "unknown")
    placed = [
        OpPlacement(index=o.index, op=o.op, version=o.version,
                    placement="accelerator" if o.index in taken else "cpu",
                    reason="taken by the XNNPACK delegate" if o.index in taken
                    else "not taken by XNNPACK: runs on LiteRT's built-in CPU kernel")
        for o in graph.ops
    ]
    parts = partitions_of(placed)
    acc = len(taken)
    return Placement(
        target=target, accelerator="XNNPACK", source="measured",
        rules=f"ai_edge_litert {version} Interpreter, default delegates ({len(delegates)} delegate node(s))",
        accelerated_fraction=round(acc / n, 4) if n else 0.0, accelerated_ops=acc, total_ops=n, partitions=parts,
        accelerator_partitions=len(delegates), ops=tuple(placed),
        summary_line=summarize(target, "XNNPACK", placed, f"measured with ai_edge_litert {version}"),
    )
