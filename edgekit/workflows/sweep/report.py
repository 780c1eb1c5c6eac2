"""What a sweep writes: sweep.json (the data), sweep.md (a Markdown table) and pareto.png (accuracy vs p50
latency, the Pareto front, the recommended variant marked). Every file says where latency was measured."""

from __future__ import annotations

import io
from pathlib import Path

from edgekit.bench.where import machine_label
from edgekit.hashing import atomic_write_bytes, atomic_write_json

FILES = {"json": "sweep.json", "markdown": "sweep.md", "plot": "pareto.png"}


def where_text(data: dict) -> str:
    from edgekit.bench import where_line

    return where_line({"where": data["where"]}) if data.get("where") else "no variant was benchmarked"


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def markdown(data: dict) -> str:
    src = data["source"]
    metric = data["metric"]
    lines = [f"# edgekit sweep: {Path(src['path']).name} → {data['target']['name']}", ""]
    if data["interrupted"]:
        lines += [f"**INTERRUPTED**: partial results, {len(data['rows'])} of {len(data['planned'])} variants.", ""]
    lines += [f"Latency {where_text(data)}. {data['threads']} thread(s), {data['runs']} timed runs per variant.", ""]
    best = data["recommended"]
    lines.append(
        f"Source model {metric}: {_pct(src['accuracy'])}. Recommended: "
        + (f"**{best}** ({data['recommendation_rule']})." if best else f"none ({data['recommendation_rule']}: no variant qualifies).")
    )
    lines += ["", f"| variant | format | precision | bytes | {metric} | Δ vs source (points) | p50 ms | p90 ms | p99 ms | Pareto | |",
              "|---|---|---|--:|--:|--:|--:|--:|--:|:-:|---|"]
    for r in data["rows"]:
        lat = r.get("latency_ms") or {}
        acc = r.get("accuracy")
        delta = "-" if acc is None or src["accuracy"] is None else f"{100 * (acc - src['accuracy']):+.2f}"
        note = _note(r, best)
        lines.append(
            f"| {r['variant']} | {r['format']} | {r['precision']} | {r.get('bytes', 0):,} | {_pct(acc)} | {delta} | "
            + " | ".join(f"{lat[k]:.4f}" if k in lat else "-" for k in ("p50", "p90", "p99"))
            + f" | {'✓' if r.get('pareto') else ''} | {note.replace('|', '/')} |"
        )
    if data["skipped"]:
        lines += ["", "Not built: " + "; ".join(f"{s['variant']} ({s['reason']})" for s in data["skipped"]) + "."]
    return "\n".join(lines) + "\n"


def _note(r: dict, best: str | None) -> str:
    notes = ["**recommended**"] if r["variant"] == best else []
    if r.get("error"):
        notes.append(r["error"])
    if r.get("interrupted"):
        notes.append("interrupted")
    if r.get("status") == "failed-gate":
        failed = [c["name"] for c in (r.get("gate") or {}).get("checks", []) if c["status"] == "fail"]
        notes.append(f"missed its fidelity budget ({', '.join(failed)})")
    if r.get("splits_accelerator"):
        notes.append(f"splits the accelerator graph ({r['accelerated_fraction']:.0%} of ops on it)")
    dev = r.get("device_runtimes")
    if dev and not dev["passed"]:
        notes.append("fails on the device runtimes: " + "; ".join(dev["failures"]))
    return "; ".join(notes)


def plot_png(data: dict) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    src_acc = data["source"]["accuracy"]
    pts = [r for r in data["rows"] if r.get("accuracy") is not None and r.get("latency_ms")]
    fig = Figure(figsize=(7.5, 5), dpi=110)
    ax = fig.subplots()
    for i, r in enumerate(sorted(pts, key=lambda r: (r["latency_ms"]["p50"], r["accuracy"]))):
        x, y = r["latency_ms"]["p50"], 100 * r["accuracy"]
        ax.scatter([x], [y], s=40, color="tab:blue" if r.get("pareto") else "tab:gray", zorder=3)
        ax.annotate(r["variant"], (x, y), textcoords="offset points", xytext=(6, 4 - 11 * (i % 3)), fontsize=8)
    front = sorted((r["latency_ms"]["p50"], 100 * r["accuracy"]) for r in pts if r.get("pareto"))
    if front:
        ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="tab:blue", alpha=0.6, label="Pareto front")
    best = next((r for r in pts if r["variant"] == data["recommended"]), None)
    if best:
        ax.scatter([best["latency_ms"]["p50"]], [100 * best["accuracy"]], s=260, marker="*", color="tab:orange",
                   edgecolors="black", zorder=4, label=f"recommended: {best['variant']}")
    if src_acc is not None:
        ax.axhline(100 * src_acc, color="black", linestyle=":", linewidth=1, label=f"source {data['metric']}")
        floor = 100 * src_acc - data["max_accuracy_drop_points"]
        ax.axhline(floor, color="tab:red", linestyle="--", linewidth=1, label=f"-{data['max_accuracy_drop_points']:g} points")
    if not pts:
        ax.text(0.5, 0.5, "no variant was measured", ha="center", va="center", transform=ax.transAxes)
    lats = [r["latency_ms"]["p50"] for r in pts]
    if lats and min(lats) > 0 and max(lats) / min(lats) > 10:
        ax.set_xscale("log")
    ax.set_xlabel("p50 latency (ms)")
    ax.set_ylabel(f"{data['metric']} (%)")
    title = f"{Path(data['source']['path']).name} → {data['target']['name']}: {data['metric']} vs latency"
    ax.set_title(title + (" (INTERRUPTED, partial)" if data["interrupted"] else ""), fontsize=10)
    w = data.get("where") or {}
    where = "not measured" if not w else (
        f"measured on {machine_label(w)}, via {w.get('via', 'local')}"
        + (" - host latency, NOT the target's" if w.get("via", "local") == "local" else "")
    )
    fig.text(0.01, 0.01, where, fontsize=7, color="dimgray")
    ax.grid(alpha=0.3)
    if pts:
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def write_outputs(data: dict, out: Path) -> dict[str, Path]:
    paths = {k: out / v for k, v in FILES.items()}
    atomic_write_json(paths["json"], data)
    atomic_write_bytes(paths["markdown"], markdown(data).encode())
    atomic_write_bytes(paths["plot"], plot_png(data))
    return paths
