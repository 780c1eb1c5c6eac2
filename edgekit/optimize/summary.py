"""Plain-text lines summarising the manifest's "optimization" section (printed by the CLI)."""

from __future__ import annotations


def _pct(v) -> str:
    return "-" if v is None else f"{v:.2%}"


def lines(section: dict) -> list[str]:
    out = []
    acc = section.get("accuracy") or {}
    if acc.get("original") is not None:
        out.append(
            f"Keras accuracy on {acc.get('data')}: original {_pct(acc['original'])} → optimized "
            f"{_pct(acc.get('optimized'))}"
        )
    pr = section.get("pruning")
    if pr:
        per = ", ".join(f"{r['layer']} {r['sparsity']:.0%}" for r in pr["layers"])
        out.append(f"pruned ({pr['mode']}, {pr['target']}): {per}; overall {pr['overall_sparsity']:.1%}")
        if pr.get("skipped"):
            out.append("not pruned: " + "; ".join(f"{s['layer']} ({s['reason']})" for s in pr["skipped"]))
    q = section.get("qat")
    if q:
        folded = len(q["prepare"]["batchnorm_folded"])
        as_dw = len(q["prepare"].get("batchnorm_as_depthwise", []))
        out.append(
            f"QAT: {len(q['quantized_kernels'])} kernels per-channel int8, {q['activation_quantizers']} activation "
            f"quantizers (learned ranges), {folded} BatchNorm folded, {as_dw} standalone BatchNorm as 1x1 depthwise"
        )
        if q.get("unsupported_layers"):
            out.append("QAT left to the converter: " + ", ".join(u["layer"] for u in q["unsupported_layers"]))
    for a in section.get("artifacts", []):
        sp = [k["sparsity"] for k in a.get("kernels", []) if k.get("sparsity") is not None]
        tail = f"; pruned kernels in the artifact: {min(sp):.1%}–{max(sp):.1%} zeros" if sp else ""
        out.append(f"{a['path']}: {a['bytes']:,} bytes, {a['gzip_bytes']:,} gzip-compressed{tail}")
    out.extend(section.get("notes", []))
    return out
